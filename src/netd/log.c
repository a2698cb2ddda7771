/* src/netd/log.c: the decision log (FILE, appended, capped) and the stats
 * file (rewritten atomically). One mutex for both: a decision's line and
 * its counter change together.
 *
 * The stats file is rewritten at most every NETD_STATS_FLUSH_MS: a rewrite
 * (open, write, close, rename) took about 1 ms on a test host, more than
 * the rest of a cached DNS answer, and it came twice per query. The stats
 * thread does every rewrite, without the mutex held: a change after a
 * quiet period at once, changes within the period together at its end. So
 * a reader sees every change at most NETD_STATS_FLUSH_MS late, and no
 * decision waits for the file.
 *
 * Line format, fields separated by one space (docs/network.md):
 *   TIME VERDICT KIND NAME DEST REASON...
 *   2026-12-04T12:00:00.123Z allowed tcp github.com 140.82.112.3:443 by rule github.com
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netd/netd.h"

/* Guest-triggered error lines per second before they are only counted. */
#define BAD_LINES_PER_SEC 20u

char *netd_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (len == 0)
		return out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > ' ' && c < 0x7f && c != '\\') {
			if (o + 1 >= len)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= len)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

const char *netd_reason_tail(const char *formatted)
{
	static const char *const verdicts[] = { "allowed: ", "allowed ", "denied: ", "denied " };

	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (strncmp(formatted, verdicts[i], strlen(verdicts[i])) == 0)
			return formatted + strlen(verdicts[i]);
	return formatted;
}

/* RFC 3339 §5.6 UTC with milliseconds: 2026-12-04T12:00:00.123Z */
static void timestamp(char buf[32])
{
	struct timespec ts;
	struct tm tm;
	size_t k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	k = strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, 32 - k, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int netd_log_open(struct netd *n)
{
	n->log_fd = open_log(n->log_path);
	return n->log_fd < 0 ? -errno : 0;
}

/* Append one line (log_lock held). Past the cap the file moves to FILE.1
 * (replacing the previous one) and a new FILE starts: at most twice the cap
 * on disk, whatever the guest does. A failed write is not fatal: the
 * decision stands, only its record is lost. */
static void put_line(struct netd *n, const char *line, size_t len)
{
	struct stat st;

	if (n->log_fd < 0)
		return;
	if (fstat(n->log_fd, &st) == 0 && (size_t)st.st_size + len > n->log_max && st.st_size > 0) {
		char old[4096];
		int fd;
		snprintf(old, sizeof(old), "%s.1", n->log_path);
		if (rename(n->log_path, old) == 0 && (fd = open_log(n->log_path)) >= 0) {
			close(n->log_fd);
			n->log_fd = fd;
		}
	}
	if (write(n->log_fd, line, len) < 0)
		return;
}

static void vput(struct netd *n, const char *fmt, va_list ap)
{
	char line[1024], ts[32];
	int k, m;

	timestamp(ts);
	k = snprintf(line, sizeof(line), "%s ", ts);
	m = vsnprintf(line + k, sizeof(line) - (size_t)k - 1, fmt, ap);
	if (m < 0)
		return;
	k += m;
	if ((size_t)k > sizeof(line) - 2)
		k = (int)sizeof(line) - 2;
	line[k++] = '\n';
	put_line(n, line, (size_t)k);
}

static void put(struct netd *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct netd *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vput(n, fmt, ap);
	va_end(ap);
}

/* log_lock held: the stats file's text as of now, into buf (1 KiB). */
static int stats_format_locked(struct netd *n, char *buf, size_t size)
{
	const struct netd_stats *s = &n->stats;

	return snprintf(buf, size,
			"allowed=%llu\ndenied=%llu\nbad_requests=%llu\ndns_queries=%llu\n"
			"connections=%llu\npublished=%llu\ndial_failures=%llu\nbusy=%llu\n"
			"reloads=%llu\nreload_errors=%llu\nlog_suppressed=%llu\nactive=%d\n"
			"resolves=%llu\nresolve_us=%llu\nresolve_hits=%llu\n"
			"dials=%llu\ndial_us=%llu\n",
			(unsigned long long)s->allowed, (unsigned long long)s->denied,
			(unsigned long long)s->bad_requests, (unsigned long long)s->dns_queries,
			(unsigned long long)s->connections, (unsigned long long)s->published,
			(unsigned long long)s->dial_failures, (unsigned long long)s->busy,
			(unsigned long long)s->reloads, (unsigned long long)s->reload_errors,
			(unsigned long long)s->log_suppressed, atomic_load(&n->active),
			(unsigned long long)s->resolves, (unsigned long long)s->resolve_us,
			(unsigned long long)s->resolve_hits, (unsigned long long)s->dials,
			(unsigned long long)s->dial_us);
}

/* The file's I/O: tmp + rename, so a reader (silo inspect) never sees a
 * half-written file. The caller keeps other writers off the tmp file. */
static int stats_store(const struct netd *n, const char *buf, int len)
{
	char tmp[4096];
	int fd, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", n->stats_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (netd_write_all(fd, buf, (size_t)len) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, n->stats_path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* log_lock held: the counters as written now. */
static int stats_take_locked(struct netd *n, char *buf, size_t size)
{
	n->stats_written_ms = netd_now_ms();
	n->stats_dirty = false;
	return stats_format_locked(n, buf, size);
}

/* Takes log_lock only to read the counters, not for the I/O: a rewrite
 * never holds up a decision. stats_io_lock keeps two writers apart, and
 * the newest counters are the last renamed. */
int netd_stats_write(struct netd *n)
{
	char buf[1024];
	int len, ret;

	pthread_mutex_lock(&n->stats_io_lock);
	pthread_mutex_lock(&n->log_lock);
	len = stats_take_locked(n, buf, sizeof(buf));
	pthread_mutex_unlock(&n->log_lock);
	ret = stats_store(n, buf, len);
	pthread_mutex_unlock(&n->stats_io_lock);
	return ret;
}

/* log_lock held: the counters changed. Once the stats thread runs nothing
 * is written on the caller's thread: the thread is woken, and writes at
 * once after a quiet period, else at the period's end. Before it runs
 * (start-up, one thread) the change is written here. */
static void stats_changed_locked(struct netd *n)
{
	char buf[1024];

	if (!n->stats_thread) {
		int len = stats_take_locked(n, buf, sizeof(buf));
		stats_store(n, buf, len);
		return;
	}
	if (n->stats_dirty)
		return; /* the stats thread writes it soon */
	n->stats_dirty = true;
	pthread_cond_signal(&n->stats_cond);
}

static void *stats_thread(void *arg)
{
	struct netd *n = arg;

	for (;;) {
		pthread_mutex_lock(&n->log_lock);
		while (!n->stats_dirty)
			pthread_cond_wait(&n->stats_cond, &n->log_lock);
		int64_t due = n->stats_written_ms + NETD_STATS_FLUSH_MS;
		struct timespec dl = { .tv_sec = due / 1000, .tv_nsec = due % 1000 * 1000000 };
		while (pthread_cond_timedwait(&n->stats_cond, &n->log_lock, &dl) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&n->log_lock);
		netd_stats_write(n);
	}
	return NULL;
}

int netd_stats_start(struct netd *n)
{
	pthread_condattr_t ca;
	pthread_attr_t at;
	pthread_t t;
	int r;

	/* the deadlines are CLOCK_MONOTONIC: a clock step must not stall it */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->stats_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* A small stack, as the connection threads' (NETD_STACK_SIZE): glibc's
	 * 8 MiB one can get a 2 MiB huge page on a host whose transparent huge
	 * pages are "always" (Debian's default), for a thread that uses a few
	 * KiB (vmm/thread.h says more). */
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, NETD_STACK_SIZE);
	r = pthread_create(&t, &at, stats_thread, n);
	pthread_attr_destroy(&at);
	if (r != 0)
		return -r;
	pthread_detach(t);
	pthread_mutex_lock(&n->log_lock);
	n->stats_thread = true;
	pthread_mutex_unlock(&n->log_lock);
	return 0;
}

void netd_stats_changed(struct netd *n)
{
	pthread_mutex_lock(&n->log_lock);
	stats_changed_locked(n);
	pthread_mutex_unlock(&n->log_lock);
}

void netd_count(struct netd *n, uint64_t *counter)
{
	pthread_mutex_lock(&n->log_lock);
	(*counter)++;
	stats_changed_locked(n);
	pthread_mutex_unlock(&n->log_lock);
}

void netd_tally(struct netd *n, uint64_t *counter, uint64_t *total_us, int64_t us)
{
	pthread_mutex_lock(&n->log_lock);
	(*counter)++;
	if (total_us && us > 0)
		*total_us += (uint64_t)us;
	pthread_mutex_unlock(&n->log_lock);
}

void netd_log_decision(struct netd *n, bool allowed, const char *kind, const char *name,
		       const char *dest, const char *reason)
{
	char ename[4 * NET_NAME_MAX + 8];

	netd_escape(name ? name : "-", ename, sizeof(ename));
	pthread_mutex_lock(&n->log_lock);
	if (allowed)
		n->stats.allowed++;
	else
		n->stats.denied++;
	put(n, "%s %s %s %s %s", allowed ? "allowed" : "denied", kind, ename[0] ? ename : "-",
	    dest ? dest : "-", reason);
	stats_changed_locked(n);
	pthread_mutex_unlock(&n->log_lock);
}

void netd_log_bad(struct netd *n, const char *kind, const char *dest, const char *why)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&n->log_lock);
	n->stats.denied++;
	n->stats.bad_requests++;
	if (ts.tv_sec != n->rl_sec) {
		if (n->rl_count > BAD_LINES_PER_SEC)
			put(n, "error netd - - %u bad-request lines suppressed (rate limit)",
			    n->rl_count - BAD_LINES_PER_SEC);
		n->rl_sec = ts.tv_sec;
		n->rl_count = 0;
	}
	if (n->rl_count++ < BAD_LINES_PER_SEC)
		put(n, "denied %s - %s bad request: %s", kind, dest ? dest : "-", why);
	else
		n->stats.log_suppressed++;
	stats_changed_locked(n);
	pthread_mutex_unlock(&n->log_lock);
}

void netd_log_event(struct netd *n, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&n->log_lock);
	va_start(ap, fmt);
	vput(n, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&n->log_lock);
}
