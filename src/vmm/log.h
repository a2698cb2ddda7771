/*
 * Logging for silo-vmm: levels that mean something, every line prefixed with
 * the calling function (OpenBSD vmd style), and a "warn once, count always"
 * helper for anything a guest can trigger.
 *
 *   LOG_ERR   the VM will stop
 *   LOG_WARN  the guest or a backend misbehaved; the VM goes on
 *   LOG_INFO  lifecycle (boot, pause, resume, stop)
 *   LOG_DEBUG per-exit detail; compiled out unless SILO_VMM_DEBUG is defined
 */
#ifndef SILO_VMM_LOG_H
#define SILO_VMM_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* The threshold is process-wide logging policy, not VM state. */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...)  log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __func__, __VA_ARGS__)
#ifdef SILO_VMM_DEBUG
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)
#else
#define log_debug(...) \
	do {           \
	} while (0)
#endif

/*
 * warn_once - bump *counter (a per-VM or per-device uint64_t) and log only the
 * first occurrence. Guest-triggered events go through here so a hostile guest
 * can neither flood the host log nor go unnoticed (the counter is kept).
 */
#define warn_once(counter, ...)                                              \
	do {                                                                 \
		if (__atomic_fetch_add((counter), 1, __ATOMIC_RELAXED) == 0) \
			log_msg(LOG_WARN, __func__, __VA_ARGS__);            \
	} while (0)

/*
 * err_ret - host-side setup failure: remember the context for main(), which
 * prints it as the one line of a failed start, and return ret (-errno).
 * The most recent context of the calling thread wins.
 */
int log_error_ret(int ret, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The last context recorded by err_ret on this thread ("" if none). */
const char *log_last_error(void);
#define err_ret(ret, ...) log_error_ret((ret), __func__, __VA_ARGS__)

/*
 * Where log lines go instead of stderr: a console file, so silo-vmm's lines
 * sit among the guest's in order and under the same size cap. write is
 * called with no logging lock held and must not log. NULL: stderr.
 */
struct log_sink {
	void (*write)(void *opaque, const char *line, size_t len);
	void *opaque;
};
void log_set_sink(const struct log_sink *sink);
/* A line without level or function (silo-vmm's exit line), to the sink or
 * stderr, at any level. */
void log_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
