/* control.c: one request on a running sandbox's silo-vmm control socket
 * (src/vmm/control.c: a line in, a line out) with a deadline, so a hung or
 * stopped VMM makes the caller fail or say nothing, never hang. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

int sb_vmm_request(const struct sandbox *sb, const char *req, char *buf, size_t n, int deadline_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	long long deadline = now_ms() + deadline_ms;
	size_t len = 0, rl = strlen(req);
	char line[128];
	int ret = -1;

	buf[0] = '\0';
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/control.sock", sb->rundir) >=
		    (int)sizeof(a.sun_path) ||
	    rl + 2 > sizeof(line))
		return -1;
	snprintf(line, sizeof(line), "%s\n", req);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    (errno != EAGAIN || !wait_fd(fd, POLLOUT, deadline)))
		goto out;
	if (send(fd, line, rl + 1, MSG_NOSIGNAL) != (ssize_t)(rl + 1))
		goto out;
	while (len + 1 < n && wait_fd(fd, POLLIN, deadline)) {
		ssize_t r = recv(fd, buf + len, n - 1 - len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			ret = !strcmp(buf, "ok") || !strncmp(buf, "ok ", 3) ? 0 : -1;
			break;
		}
	}
out:
	close(fd);
	return ret;
}
