/* health.c: is a running sandbox degraded? silo-vmm counts the guest
 * writes and flushes the host refused (full filesystem, quota, I/O error)
 * per disk and reports them in its control socket's `metrics` reply
 * (docs/silo-vmm.md); silo ls and inspect show them. One request with a
 * short deadline: a hung or stopped VMM makes ls say nothing, not hang. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HEALTH_DEADLINE_MS 300	 /* per sandbox: ls stays quick with many */
#define HEALTH_REPLY_MAX   16384 /* metrics are a few KiB (src/vmm/control.c) */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for ev until the deadline; false on timeout. */
static bool wait_fd(int fd, short ev, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

/* The `metrics` reply line, NUL-terminated, into buf; -1 when none came. */
static int metrics(const struct sandbox *sb, char *buf, size_t n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	long long deadline = now_ms() + HEALTH_DEADLINE_MS;
	size_t len = 0;
	int ret = -1;

	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/control.sock", sb->rundir) >=
	    (int)sizeof(a.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    (errno != EAGAIN || !wait_fd(fd, POLLOUT, deadline)))
		goto out;
	if (send(fd, "metrics\n", 8, MSG_NOSIGNAL) != 8)
		goto out;
	while (len + 1 < n && wait_fd(fd, POLLIN, deadline)) {
		ssize_t r = recv(fd, buf + len, n - 1 - len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		if (memchr(buf, '\n', len)) {
			ret = strncmp(buf, "ok ", 3) ? -1 : 0;
			break;
		}
	}
out:
	close(fd);
	return ret;
}

static unsigned long long num_after(const char *from, const char *key, const char *end)
{
	const char *p = strstr(from, key);
	return p && (!end || p < end) ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int sb_degraded(const struct sandbox *sb, char *why, size_t wn, char *detail, size_t dn)
{
	char *buf = malloc(HEALTH_REPLY_MAX);
	unsigned long long total = 0, first_errno = 0;
	char disk[24] = "", disks[128] = "";

	if (!buf)
		return 0;
	if (metrics(sb, buf, HEALTH_REPLY_MAX) < 0) {
		free(buf);
		return 0;
	}
	/* Each blk device's "dev" object is {"disk":"vdb",...,"host_errs":N
         * [,"first_error":{"errno":E,...}]} (blk_metrics in silo-vmm). */
	for (char *p = strstr(buf, "{\"disk\":\""); p; p = strstr(p + 1, "{\"disk\":\"")) {
		char *next = strstr(p + 1, "{\"disk\":\"");
		unsigned long long errs = num_after(p, "\"host_errs\":", next);
		size_t dl = strcspn(p + 9, "\"");
		if (!errs)
			continue;
		snprintf(disk, sizeof(disk), "%.*s", (int)(dl < 16 ? dl : 16), p + 9);
		size_t used = strlen(disks);
		snprintf(disks + used, sizeof(disks) - used, "%s%s", used ? ", " : "", disk);
		if (!first_errno)
			first_errno = num_after(p, "\"first_error\":{\"errno\":", next);
		total += errs;
	}
	free(buf);
	if (!total)
		return 0;
	int e = (int)first_errno;
	bool full = e == ENOSPC || e == EDQUOT;
	snprintf(why, wn, "%s", full ? "host disk full" : "host disk I/O errors");
	snprintf(detail, dn, "%s: %llu write%s failed on %s (%s)", why, total,
		 total == 1 ? "" : "s", disks, e ? strerror(e) : "unknown error");
	return 1;
}
