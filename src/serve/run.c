/* run.c: a command in a sandbox whose output a request streams: the
 * native exec (exec.c) and E2B's process.Process/Start (e2b_process.c).
 *
 * A worker thread runs aclient_exec (as `silo exec` does) with its stdout
 * and stderr into two pipes and its signals from a third; the request's
 * own thread reads the pipes (run_next) and frames what it reads as its
 * protocol wants. Keeping the agent call on a thread of its own lets the
 * reader notice a client that went away while the command is silent.
 */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg)
{
	struct run *r = arg;
	struct aclient_exec_opts o = { .argv = (const char *const *)r->argv,
				       .env = (const char *const *)r->env,
				       .cwd = r->cwd,
				       .user = r->user,
				       .tty = r->tty,
				       .rows = r->rows,
				       .cols = r->cols,
				       .timeout_ms = r->timeout_ms,
				       .in_fd = r->in_fd,
				       .out_fd = r->out[1],
				       .err_fd = r->err[1],
				       .sig_fd = r->sig[0],
				       .tty_fd = r->tty_fd };
	r->rc = aclient_exec(r->addr, &o, &r->x, &r->e);
	/* EOF for the reader */
	close(r->out[1]);
	close(r->err[1]);
	r->out[1] = r->err[1] = -1;
	return NULL;
}

void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->in_fd = r->tty_fd = -1;
	r->out[0] = r->out[1] = r->err[0] = r->err[1] = r->sig[0] = r->sig[1] = -1;
}

int run_env(struct run *r, const struct sandbox *sb, json_t *env)
{
	const char *k;
	json_t *v;
	size_t n = 0;
	char **base;

	if (env && !json_is_object(env))
		return sb_fail("invalid env: use an object of strings");
	if (!(r->env = calloc(RUN_ENV_MAX + 1, sizeof(char *))))
		return sb_fail("out of memory");
	/* the run's (secrets' placeholders) and the sandbox's own */
	if (sb_exec_env(sb, NULL, &base) < 0)
		return -1;
	for (char **e = base; *e && n < RUN_ENV_MAX; e++)
		if (!(r->env[n++] = strdup(*e))) {
			sb_env_free(base);
			return sb_fail("out of memory");
		}
	sb_env_free(base);
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v) || !k[0] || strchr(k, '=') || n >= RUN_ENV_MAX)
			return sb_fail("invalid env '%s': a name without '=' and a string", k);
		if (asprintf(&r->env[n++], "%s=%s", k, json_string_value(v)) < 0)
			return sb_fail("out of memory");
	}
	return 0;
}

int run_start(struct run *r)
{
	if (pipe2(r->out, O_CLOEXEC) < 0 || pipe2(r->err, O_CLOEXEC) < 0 ||
	    pipe2(r->sig, O_CLOEXEC | O_NONBLOCK) < 0)
		return sb_fail("cannot run: %s", strerror(errno));
	if (pthread_create(&r->th, NULL, worker, r))
		return sb_fail("cannot run: no thread");
	r->started = true;
	return 0;
}

int run_next(struct run *r, int sock, int timeout_ms, void *buf, size_t cap, size_t *len,
	     int *which)
{
	for (;;) {
		if (r->out_eof && r->err_eof) {
			run_finish(r);
			return RUN_ENDED;
		}
		struct pollfd p[3] = { { r->out_eof ? -1 : r->out[0], POLLIN, 0 },
				       { r->err_eof ? -1 : r->err[0], POLLIN, 0 },
				       { sock, POLLRDHUP, 0 } };
		int n = poll(p, 3, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return RUN_GONE;
		if (n == 0)
			return RUN_IDLE;
		if (p[2].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return RUN_GONE;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			ssize_t got = read(p[i].fd, buf, cap);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				*(i ? &r->err_eof : &r->out_eof) = true;
				continue;
			}
			*len = (size_t)got;
			*which = i + 1;
			return RUN_DATA;
		}
	}
}

int run_signal(struct run *r, int sig)
{
	unsigned char b = (unsigned char)sig;
	return r->sig[1] >= 0 && write(r->sig[1], &b, 1) == 1 ? 0 : -1;
}

void run_drain(struct run *r)
{
	char buf[16384];
	size_t len;
	int which;
	while (run_next(r, -1, -1, buf, sizeof(buf), &len, &which) == RUN_DATA)
		;
}

void run_kill(struct run *r)
{
	if (!r->started || r->joined)
		return;
	run_signal(r, SIGKILL);
	/* and the worker's writes fail from now on, if it is writing */
	close(r->out[0]);
	close(r->err[0]);
	r->out[0] = r->err[0] = -1;
	r->out_eof = r->err_eof = true;
	run_finish(r);
}

void run_finish(struct run *r)
{
	if (r->started && !r->joined) {
		pthread_join(r->th, NULL);
		r->joined = true;
	}
}

void run_free(struct run *r)
{
	run_kill(r);
	for (char **a = r->argv; a && *a; a++)
		free(*a);
	free(r->argv);
	for (char **e = r->env; e && *e; e++)
		free(*e);
	free(r->env);
	free(r->cwd);
	free(r->user);
	int fds[] = { r->in_fd,	 r->out[0], r->out[1], r->err[0],
		      r->err[1], r->sig[0], r->sig[1], r->tty_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	run_init(r);
}
