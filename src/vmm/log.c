/* Logging backend: one line per call on stderr, written with a single write(). */
#include "vmm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_WARN;
static const struct log_sink *log_sink;
static __thread char last_error[512];

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&log_threshold, lvl, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return __atomic_load_n(&log_threshold, __ATOMIC_RELAXED);
}

static void emit(const char *line, size_t n)
{
	const struct log_sink *sink = __atomic_load_n(&log_sink, __ATOMIC_ACQUIRE);

	if (sink) {
		sink->write(sink->opaque, line, n);
		return;
	}
	/* One write() so lines from different threads do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[512];
	va_list ap;
	int n, m;

	if (lvl > log_get_level())
		return;
	n = snprintf(line, sizeof(line), "silo-vmm: %s: %s: ", names[lvl], func);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	emit(line, (size_t)n);
}

void log_set_sink(const struct log_sink *sink)
{
	__atomic_store_n(&log_sink, sink, __ATOMIC_RELEASE);
}

void log_raw(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	emit(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int log_error_ret(int ret, const char *func, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(last_error, sizeof(last_error), "%s: ", func);
	if (n < 0 || (size_t)n >= sizeof(last_error))
		return ret;
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof(last_error) - (size_t)n, fmt, ap);
	va_end(ap);
	log_msg(LOG_DEBUG, func, "%s", last_error + n);
	return ret;
}

const char *log_last_error(void)
{
	return last_error;
}
