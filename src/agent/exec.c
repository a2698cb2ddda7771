/* exec.c: one EXEC session: spawn the command, then pump frames both ways.
 *
 * The stream and the child's pipes are all non-blocking and driven by one
 * poll loop, so a client that is slow to read stdout can never stop us from
 * seeing its SIGNAL or RESIZE frames, and a child that does not read stdin
 * never blocks stdout. Memory stays bounded by backpressure: we stop reading
 * the child while too much output is queued for the client, and stop
 * reading the stream while too much stdin is queued for the child.
 */
#include "agent/agent.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* same number on every architecture since 5.3 */
#endif

#define QUEUE_LIMIT    (1u << 20) /* backpressure threshold, each direction */
#define DRAIN_GRACE_MS 50	  /* output still arriving after exit (see below) */
#define MAX_GROUPS     256

struct cred {
	bool set; /* false: keep the agent's own identity */
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
	char name[64];
	char home[256];
};

struct sess {
	int conn;
	struct proto_reader *r;
	struct proto_wq out; /* frames to the client */
	bool tty;
	pid_t pid;
	int pidfd;	    /* -1: fall back to polling waitpid */
	int in_fd;	    /* pipe to stdin, or pty master; -1 when closed */
	int out_fd, err_fd; /* pipes from stdout/stderr (pty: out_fd = master) */
	struct pbuf inq;    /* stdin bytes not yet taken by the child */
	size_t inq_off;
	bool stdin_eof; /* client sent STDIN_EOF */
	bool exited, timed_out;
	int status;
	int64_t deadline_ms; /* 0 = no timeout */
	int64_t last_out_ms;
};

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* getpwnam(3)/getgrnam(3) returned NULL: these errno values mean "no such
 * entry"; anything else (EIO, EISDIR, EMFILE...) is a failure to read the
 * database, reported as such rather than as an unknown name. */
static bool lookup_not_found(int e)
{
	return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

static int lookup_failed(const char *what, const char *name, int e, char *err, size_t errlen)
{
	if (lookup_not_found(e)) {
		snprintf(err, errlen, "unknown %s %s", what, name);
		return -ENOENT;
	}
	snprintf(err, errlen, "cannot look up %s %s: %s", what, name, strerror(e));
	return -e;
}

/* "name", "uid", "uid:gid", "name:group": resolved against /etc/passwd and
 * /etc/group of the (guest) root. A numeric uid without a passwd entry is
 * fine (like docker exec -u 1234); a name that does not exist is an error. */
static int resolve_user(const char *spec, struct cred *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	struct passwd *pw = NULL;
	if (!*spec) {
		pw = getpwuid(getuid());
		snprintf(c->home, sizeof(c->home), "%s", pw ? pw->pw_dir : "/");
		snprintf(c->name, sizeof(c->name), "%s", pw ? pw->pw_name : "");
		return 0;
	}
	char u[128], *g;
	snprintf(u, sizeof(u), "%s", spec);
	if ((g = strchr(u, ':')))
		*g++ = 0;
	c->set = true;
	if (all_digits(u)) {
		c->uid = (uid_t)strtoul(u, NULL, 10);
		pw = getpwuid(c->uid);
	} else {
		errno = 0;
		if (!(pw = getpwnam(u)))
			return lookup_failed("user", u, errno, err, errlen);
		c->uid = pw->pw_uid;
	}
	c->gid = pw ? pw->pw_gid : 0;
	if (g && all_digits(g)) {
		c->gid = (gid_t)strtoul(g, NULL, 10);
	} else if (g) {
		errno = 0;
		struct group *gr = getgrnam(g);
		if (!gr)
			return lookup_failed("group", g, errno, err, errlen);
		c->gid = gr->gr_gid;
	}
	c->ngroups = 1;
	c->groups[0] = c->gid;
	if (pw && !g) {
		int n = MAX_GROUPS;
		if (getgrouplist(pw->pw_name, c->gid, c->groups, &n) >= 0)
			c->ngroups = n;
	}
	snprintf(c->home, sizeof(c->home), "%s", pw ? pw->pw_dir : "/");
	snprintf(c->name, sizeof(c->name), "%s", pw ? pw->pw_name : "");
	return 0;
}

/* Environment: a sane default like docker exec, then the request's entries
 * override by key. Returned array and strings live until exit (the
 * session process is short-lived and forked per connection). */
static char **build_env(const struct proto_exec *e, const struct cred *c, bool tty)
{
	size_t n = 0, cap = e->envc + 5;
	char **env = calloc(cap + 1, sizeof(char *));
	if (!env)
		return NULL;
	char *defs[4] = { "PATH=" AGENT_PATH };
	if (asprintf(&defs[1], "HOME=%s", c->home) < 0)
		defs[1] = NULL;
	if (c->name[0] && asprintf(&defs[2], "USER=%s", c->name) < 0)
		defs[2] = NULL;
	defs[3] = tty ? "TERM=xterm" : NULL;
	for (int i = 0; i < 4; i++)
		if (defs[i])
			env[n++] = defs[i];
	for (uint32_t i = 0; i < e->envc; i++) {
		size_t klen = (size_t)(strchr(e->env[i], '=') - e->env[i]) + 1;
		size_t j;
		for (j = 0; j < n; j++)
			if (!strncmp(env[j], e->env[i], klen))
				break;
		env[j] = (char *)e->env[i];
		if (j == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

/* execvp() with the command's PATH rather than ours (execvp reads the
 * caller's environ, which a vfork child must not change: it is the parent's).
 * Like execvp: a name with a slash runs as is; otherwise each PATH entry in
 * turn, going on past ENOENT, ENOTDIR and EACCES, and reporting EACCES if any
 * entry had it. Only returns on failure, with errno set. */
static void exec_path(const char *file, char *const argv[], char *const env[])
{
	if (strchr(file, '/')) {
		execve(file, argv, env);
		return;
	}
	const char *path = AGENT_PATH;
	for (char *const *e = env; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	size_t flen = strlen(file);
	bool eacces = false;
	char buf[4096];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		if (dlen + 1 + flen < sizeof(buf)) {
			/* an empty entry means the current directory */
			memcpy(buf, p, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
			execve(dlen ? buf : file, argv, env);
			if (errno == EACCES)
				eacces = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (!*end)
			break;
		p = end;
	}
	errno = eacces ? EACCES : ENOENT;
}

/* In the vfork child: it shares the parent's memory until execve, so only
 * async-signal-safe calls, nothing that writes the parent's globals, and
 * credentials by raw system calls (libc's setuid would try to apply them to
 * every thread of the process). On failure report the failing step and errno
 * through errp, then _exit. Never inlined: its locals must live in a frame
 * below start_child()'s, not in start_child()'s own, which the parent resumes with. */
/* child()'s steps, in order: what it reports failing (step_name()). */
enum { CHILD_SETSID, CHILD_TTY, CHILD_DUP2, CHILD_USER, CHILD_CHDIR, CHILD_EXEC };

static __attribute__((noinline, noreturn)) void child(const struct proto_exec *e,
						      const struct cred *c, char **env, int in,
						      int out, int err, int errp, bool tty)
{
	int code, step = CHILD_SETSID;
	/* Handlers first, still with every signal blocked (start_child() blocked
         * them): a parent's handler must never run on the shared memory.
         * Ignored signals would also stay ignored across exec (SIGPIPE). */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Own session and process group: SIGNAL frames and timeouts kill the
         * whole group, and a pty becomes this session's controlling tty. */
	if (setsid() < 0)
		goto fail;
	step = CHILD_TTY;
	if (tty && ioctl(in, TIOCSCTTY, 0) < 0)
		goto fail;
	step = CHILD_DUP2;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	umask(022);
	step = CHILD_USER;
	if (c->set && (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0 ||
		       syscall(SYS_setgid, c->gid) < 0 || syscall(SYS_setuid, c->uid) < 0))
		goto fail;
	step = CHILD_CHDIR;
	if (chdir(e->cwd[0] ? e->cwd : (c->set ? c->home : "/")) < 0) {
		if (e->cwd[0])
			goto fail;
		if (chdir("/") < 0)
			goto fail;
	}
	step = CHILD_EXEC;
	exec_path(e->argv[0], (char *const *)e->argv, env);
fail:
	code = errno;
	int msg[2] = { step, code };
	if (write(errp, msg, sizeof(msg)) < 0) {
		/* nothing left to report to */
	}
	_exit(127);
}

static const char *step_name(int step)
{
	static const char *n[] = {
		"setsid", "controlling tty", "dup2", "set user", "chdir", "exec"
	};
	return step >= CHILD_SETSID && step <= CHILD_EXEC ? n[step] : "?";
}

/* The command never ran: EXEC_FAILED, whose step tells a missing working
 * directory (126) from a missing program (127), with one line saying so. */
#define send_start_failure(s, step, code, ...) \
	proto_send_exec_failed((s)->conn, step, code, __VA_ARGS__)

/* child() failed at step (step_name) with errno code. */
static void report_child_failure(struct sess *s, const struct proto_exec *e, int step, int code)
{
	const char *cmd = e->argv[0], *err = strerror(code);
	if (step == CHILD_CHDIR)
		send_start_failure(s, EXEC_STEP_CWD, code,
				   "exec \"%s\": chdir to working directory \"%s\": %s", cmd,
				   e->cwd[0] ? e->cwd : "/", err);
	else if (step == CHILD_EXEC && code == ENOENT)
		send_start_failure(s, EXEC_STEP_EXEC, code,
				   "exec \"%s\": executable file not found%s: %s", cmd,
				   strchr(cmd, '/') ? "" : " in PATH", err);
	else if (step == CHILD_EXEC)
		send_start_failure(s, EXEC_STEP_EXEC, code, "exec \"%s\": cannot execute: %s", cmd,
				   err);
	else
		send_start_failure(s, step == CHILD_USER ? EXEC_STEP_USER : EXEC_STEP_SETUP, code,
				   "exec \"%s\": %s: %s", cmd, step_name(step), err);
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void xclose(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The child's stdin, stdout and stderr (std[]) and our ends of them (s):
 * one pty, or pipes, stdin from /dev/null unless the client streams it.
 * 0 or -errno; whatever was opened is left for the caller to close. */
static int open_stdio(struct sess *s, const struct proto_exec *e, int std[3])
{
	int p[2], rc;
	if (s->tty) {
		if ((rc = pty_open(&s->in_fd, &std[0], e->rows, e->cols)) < 0)
			return rc;
		s->out_fd = s->in_fd;
		std[1] = std[2] = std[0];
		return 0;
	}
	if (e->flags & EXEC_F_STDIN) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		std[0] = p[0], s->in_fd = p[1];
	} else if ((std[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		return -errno;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	s->out_fd = p[0], std[1] = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	s->err_fd = p[0], std[2] = p[1];
	return 0;
}

/* Close the child's ends in the parent (a pty's are one fd thrice). */
static void close_child_ends(int std[3])
{
	if (std[0] >= 0)
		close(std[0]);
	if (std[1] >= 0 && std[1] != std[0])
		close(std[1]);
	if (std[2] >= 0 && std[2] != std[1])
		close(std[2]);
	std[0] = std[1] = std[2] = -1;
}

/* Start the child; errp: the write end of its exec-error pipe. 0 or -errno. */
static int start_child(struct sess *s, const struct proto_exec *e, const struct cred *c, char **env,
		       const int std[3], int errp)
{
	sigset_t all, old;
	/* vfork, not fork: nothing of the session's memory is copied or
         * write-protected, which is most of a fork's cost (and, under
         * shadow paging, most of its VM exits). We sleep until the child
         * has exec'd or failed; our signals stay blocked meanwhile. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	s->pid = vfork();
	if (s->pid == 0)
		child(e, c, env, std[0], std[1], std[2], errp, s->tty);
	int vfork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return s->pid < 0 ? -vfork_errno : 0;
}

/* Read the exec-error pipe (*errr, closed here): EOF means the exec
 * happened. If it failed, reap the child, send EXEC_FAILED and return false. */
static bool exec_succeeded(struct sess *s, const struct proto_exec *e, int *errr)
{
	int msg[2];
	ssize_t n;
	while ((n = read(*errr, msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	xclose(errr);
	if (n != (ssize_t)sizeof(msg))
		return true;
	/* exec failed: the command never ran, so EXEC_FAILED, not EXIT */
	agent_wait(s->pid);
	report_child_failure(s, e, msg[0], msg[1]);
	return false;
}

/* Fork the command. On failure an ERROR has been sent and -1 returned. */
static int spawn(struct sess *s, const struct proto_exec *e)
{
	char err[256] = "";
	struct cred c;
	int rc = resolve_user(e->user, &c, err, sizeof(err));
	if (rc < 0) {
		send_start_failure(s, EXEC_STEP_USER, -rc, "exec \"%s\": %s", e->argv[0], err);
		return -1;
	}
	char **env = build_env(e, &c, s->tty);
	int std[3] = { -1, -1, -1 }, ep[2] = { -1, -1 };
	s->in_fd = s->out_fd = s->err_fd = -1;
	if (!env) {
		rc = -ENOMEM;
		goto fail;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = open_stdio(s, e, std)) < 0 || (rc = start_child(s, e, &c, env, std, ep[1])) < 0)
		goto fail;
	xclose(&ep[1]);
	close_child_ends(std);
	if (!exec_succeeded(s, e, &ep[0])) {
		rc = -1;
		goto out;
	}
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	free(env);
	return 0;
fail:
	proto_send_error(s->conn, -rc, "exec: %s", strerror(-rc));
	rc = -1;
	xclose(&ep[0]);
	xclose(&ep[1]);
	close_child_ends(std);
out:
	if (s->in_fd != s->out_fd)
		xclose(&s->in_fd);
	xclose(&s->out_fd);
	xclose(&s->err_fd);
	s->in_fd = -1;
	free(env);
	return rc;
}

static void kill_group(struct sess *s, int sig)
{
	pid_t pg = s->tty ? pty_foreground(s->out_fd) : -1;
	/* A tty's foreground group gets job-control signals (a shell's
         * running child, not the shell); otherwise the whole session. */
	if (pg <= 0 || sig == SIGKILL)
		pg = s->pid;
	if (kill(-pg, sig) < 0 && pg != s->pid)
		kill(-s->pid, sig);
}

static void reap(struct sess *s, int flags)
{
	if (s->exited)
		return;
	int st;
	pid_t p = waitpid(s->pid, &st, flags);
	if (p == s->pid) {
		s->exited = true;
		s->status = st;
		s->last_out_ms = agent_now_ms();
	}
}

/* One frame from the client. Returns <0 to end the session (ERROR sent). */
static int on_frame(struct sess *s, const struct proto_frame *f)
{
	uint16_t rows, cols;
	uint32_t sig;
	switch (f->type) {
	case PT_STDIN:
		if (s->in_fd >= 0 && !s->stdin_eof)
			pbuf_put(&s->inq, f->payload, f->len);
		return s->inq.err;
	case PT_STDIN_EOF:
		if (proto_dec_empty(f) < 0)
			break;
		s->stdin_eof = true;
		return 0;
	case PT_RESIZE:
		if (proto_dec_resize(f, &rows, &cols) < 0)
			break;
		if (s->tty)
			pty_resize(s->out_fd, rows, cols);
		return 0;
	case PT_SIGNAL:
		if (proto_dec_u32(f, &sig) < 0 || sig == 0 || sig >= NSIG)
			break;
		if (!s->exited)
			kill_group(s, (int)sig);
		return 0;
	}
	proto_send_error(s->conn, EPROTO, "exec: unexpected or malformed %s frame",
			 proto_type_name(f->type));
	return -1;
}

/* Move queued stdin to the child; close its stdin once EOF was asked for. */
static void feed_stdin(struct sess *s)
{
	while (s->in_fd >= 0 && s->inq_off < s->inq.len) {
		ssize_t n = write(s->in_fd, s->inq.p + s->inq_off, s->inq.len - s->inq_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* EPIPE: the child closed stdin; drop the rest */
			s->inq_off = s->inq.len;
			if (!s->tty)
				xclose(&s->in_fd);
			break;
		}
		s->inq_off += (size_t)n;
	}
	if (s->inq_off > 0 && s->inq_off < s->inq.len && s->inq_off >= s->inq.len / 2) {
		/* A child that never quite catches up must not make the
                 * queue grow with the total volume: keep only the backlog. */
		memmove(s->inq.p, s->inq.p + s->inq_off, s->inq.len - s->inq_off);
		s->inq.len -= s->inq_off;
		s->inq_off = 0;
	}
	if (s->inq_off == s->inq.len) {
		pbuf_reset(&s->inq);
		s->inq_off = 0;
		if (s->stdin_eof && s->in_fd >= 0) {
			/* A pty has no half-close: send the EOF character. */
			if (s->tty)
				pty_send_eof(s->in_fd), s->in_fd = -1;
			else
				xclose(&s->in_fd);
		}
	}
}

/* Read one chunk of child output into a frame. Returns false at EOF. */
static bool pump_out(struct sess *s, int fd, uint16_t type)
{
	uint8_t buf[PROTO_DATA_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) /* EOF, or EIO from a pty master once the slave is gone */
		return false;
	proto_enc_bytes(&s->out.b, type, buf, (uint32_t)n);
	s->last_out_ms = agent_now_ms();
	return true;
}

/* Handle every complete frame already buffered. Frames often arrive with
 * the EXEC request in one read, so this runs before the first poll too. */
static int drain_frames(struct sess *s)
{
	struct proto_frame f;
	int rc = 0;
	while (s->inq.len - s->inq_off < QUEUE_LIMIT && (rc = proto_reader_next(s->r, &f)) > 0)
		if (on_frame(s, &f) < 0)
			return -1;
	if (rc < 0) {
		proto_send_error(s->conn, -rc, "exec: bad frame: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* Where session_loop goes after a round. */
enum loop_next { LOOP_ON, LOOP_END, LOOP_STOP };

/* One round's poll set; each index is the fd's slot in p, or -1. */
struct pollset {
	struct pollfd p[5];
	int np, ic, io, ie, ii, ip;
	int timeout;
};

/* The timeout kill and the end of output after the command exited. True
 * once the command exited and its output is closed: the session is over. */
static bool tick(struct sess *s, int64_t now, bool full)
{
	if (s->deadline_ms && !s->exited && now >= s->deadline_ms) {
		s->timed_out = true;
		kill(-s->pid, SIGKILL);
		s->deadline_ms = 0;
	}
	/* After the command exited everything it wrote is already in
         * the pipe, so it drains at once; output that keeps trickling
         * comes from background processes that inherited the pipes,
         * and we stop waiting for them after a short grace period. */
	if (s->exited && !full && now - s->last_out_ms >= DRAIN_GRACE_MS) {
		if (s->in_fd == s->out_fd)
			s->in_fd = -1;
		xclose(&s->out_fd);
		xclose(&s->err_fd);
	}
	return s->exited && s->out_fd < 0 && s->err_fd < 0;
}

/* What to wait for: the client, output unless the client's queue is full,
 * stdin room while some is queued, the child's exit; and for how long. */
static void poll_prepare(struct sess *s, struct pollset *ps, bool full, int64_t now)
{
	short cev = (proto_wq_pending(&s->out) ? POLLOUT : 0) |
		    (s->inq.len - s->inq_off < QUEUE_LIMIT ? POLLIN : 0);
	ps->np = 0;
	ps->ic = ps->io = ps->ie = ps->ii = ps->ip = -1;
	ps->p[ps->ic = ps->np++] = (struct pollfd){ .fd = s->conn, .events = cev };
	if (s->out_fd >= 0 && !full)
		ps->p[ps->io = ps->np++] = (struct pollfd){ .fd = s->out_fd, .events = POLLIN };
	if (s->err_fd >= 0 && !full)
		ps->p[ps->ie = ps->np++] = (struct pollfd){ .fd = s->err_fd, .events = POLLIN };
	if (s->in_fd >= 0 && s->inq_off < s->inq.len)
		ps->p[ps->ii = ps->np++] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
	if (s->pidfd >= 0 && !s->exited)
		ps->p[ps->ip = ps->np++] = (struct pollfd){ .fd = s->pidfd, .events = POLLIN };
	ps->timeout = -1;
	if (s->exited)
		ps->timeout = DRAIN_GRACE_MS;
	else if (s->pidfd < 0)
		ps->timeout = 100; /* no pidfd (old kernel): poll waitpid */
	if (s->deadline_ms && !s->exited) {
		int64_t left = s->deadline_ms - now;
		if (ps->timeout < 0 || left < ps->timeout)
			ps->timeout = (int)(left < 0 ? 0 : left);
	}
}

/* Act on what poll reported. */
static enum loop_next poll_handle(struct sess *s, const struct pollset *ps)
{
	const struct pollfd *p = ps->p;
	if (p[ps->ic].revents & (POLLIN | POLLHUP | POLLERR)) {
		long n = proto_reader_fill(s->r);
		if (n == 0 || (n < 0 && n != -EAGAIN))
			return LOOP_END; /* client gone: EOF or reset */
		if (drain_frames(s) < 0)
			return LOOP_STOP;
	}
	if (ps->io >= 0 && (p[ps->io].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    !pump_out(s, s->out_fd, PT_STDOUT)) {
		if (s->in_fd == s->out_fd)
			s->in_fd = -1;
		xclose(&s->out_fd);
	}
	if (ps->ie >= 0 && (p[ps->ie].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    !pump_out(s, s->err_fd, PT_STDERR))
		xclose(&s->err_fd);
	if (ps->ii >= 0 && (p[ps->ii].revents & POLLERR))
		s->inq_off = s->inq.len; /* child closed stdin */
	if (ps->ip >= 0 && (p[ps->ip].revents & POLLIN))
		reap(s, 0);
	if (s->pidfd < 0)
		reap(s, WNOHANG);
	return LOOP_ON;
}

/* Normal end: everything queued, then EXIT, blocking. */
static void send_exit(struct sess *s)
{
	struct proto_exit x = { 0 };
	if (WIFSIGNALED(s->status)) {
		x.flags = EXIT_F_SIGNALED | (WCOREDUMP(s->status) ? EXIT_F_CORE : 0);
		x.code = WTERMSIG(s->status);
	} else {
		x.code = WEXITSTATUS(s->status);
	}
	if (s->timed_out)
		x.flags |= EXIT_F_TIMEOUT;
	proto_enc_exit(&s->out.b, &x);
	int fl = fcntl(s->conn, F_GETFL);
	fcntl(s->conn, F_SETFL, fl & ~O_NONBLOCK);
	proto_wq_flush(&s->out, s->conn);
}

static void session_loop(struct sess *s)
{
	enum loop_next next = LOOP_END;
	bool client_ok = true;
	for (;;) {
		if (drain_frames(s) < 0) {
			next = LOOP_STOP;
			break;
		}
		feed_stdin(s);
		if (proto_wq_flush(&s->out, s->conn) < 0)
			client_ok = false;
		int64_t now = agent_now_ms();
		if (!client_ok)
			break;
		bool full = proto_wq_pending(&s->out) >= QUEUE_LIMIT;
		if (tick(s, now, full))
			break;
		struct pollset ps;
		poll_prepare(s, &ps, full, now);
		if (poll(ps.p, (nfds_t)ps.np, ps.timeout) < 0) {
			if (errno == EINTR)
				continue;
			agent_log("exec: poll: %s", strerror(errno));
			break;
		}
		if ((next = poll_handle(s, &ps)) != LOOP_ON)
			break;
	}
	if (next != LOOP_STOP && client_ok && s->exited) {
		send_exit(s);
		return;
	}
	/* Client vanished or broke the protocol: nobody will read the
         * output, so do not leave the command running unattended. */
	if (!s->exited) {
		kill(-s->pid, SIGKILL);
		reap(s, 0);
	}
}

void exec_serve(int fd, struct proto_reader *r, const struct proto_frame *req)
{
	struct proto_exec e;
	int rc = proto_dec_exec(req, &e);
	if (rc < 0) {
		proto_send_error(fd, -rc, "exec: malformed request");
		return;
	}
	struct sess s = { .conn = fd, .r = r, .tty = e.flags & EXEC_F_TTY, .pidfd = -1 };
	proto_wq_init(&s.out);
	pbuf_init(&s.inq);
	if (spawn(&s, &e) == 0) {
		proto_enc_u32(&s.out.b, PT_STARTED, (uint32_t)s.pid);
		if (e.timeout_ms)
			s.deadline_ms = agent_now_ms() + e.timeout_ms;
		set_nonblock(fd);
		if (s.in_fd >= 0)
			set_nonblock(s.in_fd);
		if (s.out_fd >= 0)
			set_nonblock(s.out_fd);
		if (s.err_fd >= 0)
			set_nonblock(s.err_fd);
		session_loop(&s);
		if (s.in_fd >= 0 && s.in_fd != s.out_fd)
			close(s.in_fd);
		xclose(&s.out_fd);
		xclose(&s.err_fd);
		xclose(&s.pidfd);
	}
	proto_exec_free(&e);
	proto_wq_free(&s.out);
	pbuf_free(&s.inq);
}
