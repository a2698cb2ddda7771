/* client_exec.c: aclient_exec, the host half of an exec session.
 *
 * Like the agent's half, one poll loop over non-blocking fds: we always read
 * the stream (output, EXIT, ERROR) and only read local stdin while less than
 * QUEUE_LIMIT is waiting to go out, so neither side can deadlock the other
 * and memory stays bounded whatever the command does.
 *
 * Timeouts (client.h): the agent must answer the request with STARTED (or
 * ERROR) by the request deadline. After that silence is the command's own
 * business (`sleep 600` prints nothing), so we wait without a timeout; no
 * keepalives either: a hostile guest could send those for ever just as
 * well, and the user of an interactive exec can interrupt it. With
 * timeout_ms the host does not trust the agent to enforce it: we give up
 * connect_ms after it even if no EXIT came.
 */
#include "client/client.h"
#include "client/client_priv.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define QUEUE_LIMIT (1u << 20)

static size_t count(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* One frame from the agent. Returns 1 when the session is over (EXIT),
 * 0 to continue, -1 on error (err filled). */
static int on_frame(const struct aclient_exec_opts *o, const struct proto_frame *f,
		    struct proto_exit *x, struct aclient_err *err)
{
	uint32_t pid, step;
	int32_t code;
	const char *msg;
	int fd, rc;
	switch (f->type) {
	case PT_EXEC_FAILED:
		if (proto_dec_exec_failed(f, &step, &code, &msg) < 0)
			return cl_fail(err, EPROTO, "exec: malformed EXEC_FAILED");
		cl_fail(err, code, "%s", msg);
		if (err)
			err->remote = true, err->exec_step = step;
		return -1;
	case PT_STARTED:
		return proto_dec_u32(f, &pid) < 0 ? cl_fail(err, EPROTO, "exec: bad STARTED") : 0;
	case PT_STDOUT:
	case PT_STDERR:
		fd = f->type == PT_STDOUT ? o->out_fd : o->err_fd;
		if (fd >= 0 && (rc = proto_write_all(fd, f->payload, f->len)) < 0)
			return cl_fail(err, -rc, "exec: writing %s: %s",
				       f->type == PT_STDOUT ? "stdout" : "stderr", strerror(-rc));
		return 0;
	case PT_EXIT:
		if (proto_dec_exit(f, x) < 0)
			return cl_fail(err, EPROTO, "exec: malformed EXIT");
		return 1;
	}
	return cl_unexpected(err, 1, f, "exec");
}

/* Signal numbers from sig_fd become RESIZE or SIGNAL frames. */
static int on_signals(const struct aclient_exec_opts *o, struct proto_wq *q)
{
	unsigned char s[64];
	ssize_t n = read(o->sig_fd, s, sizeof(s));
	for (ssize_t i = 0; i < n; i++) {
		struct winsize ws;
		if (s[i] == SIGWINCH) {
			if (o->tty && o->tty_fd >= 0 && ioctl(o->tty_fd, TIOCGWINSZ, &ws) == 0)
				proto_enc_resize(&q->b, ws.ws_row, ws.ws_col);
		} else if (s[i] > 0 && s[i] < NSIG) {
			proto_enc_u32(&q->b, PT_SIGNAL, s[i]);
		}
	}
	return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

/* How long poll may wait now; 0 when the deadline that applies passed. */
static int wait_ms(const struct cl *c, const struct aclient_exec_opts *o, uint64_t started)
{
	struct aclient_timeouts t;
	if (!started)
		return cl_left_ms(c->deadline);
	if (!o->timeout_ms)
		return -1;
	aclient_get_timeouts(&t);
	return cl_left_ms(started + o->timeout_ms + t.connect_ms);
}

static int loop(struct cl *c, const struct aclient_exec_opts *o, struct proto_exit *x,
		struct proto_wq *q, struct aclient_err *err)
{
	static __thread uint8_t buf[PROTO_DATA_MAX];
	bool in_open = o->in_fd >= 0;
	uint64_t started = 0; /* cl_now_ms() at STARTED */
	for (;;) {
		int rc = proto_wq_flush(q, c->fd);
		/* A failed write usually means the agent closed the stream
                 * after an ERROR; keep reading to report that instead. */
		if (rc < 0)
			in_open = false, pbuf_reset(&q->b), q->off = 0;
		struct pollfd p[3] = {
			{ .fd = c->fd, .events = POLLIN | (proto_wq_pending(q) ? POLLOUT : 0) },
			{ .fd = in_open && proto_wq_pending(q) < QUEUE_LIMIT ? o->in_fd : -1,
			  .events = POLLIN },
			{ .fd = o->sig_fd, .events = POLLIN },
		};
		int ms = wait_ms(c, o, started), n = ms ? poll(p, 3, ms) : 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cl_fail(err, errno, "exec: poll: %s", strerror(errno));
		}
		if (n == 0 && !started)
			return cl_fail(err, ETIMEDOUT,
				       "exec: timed out waiting for the guest "
				       "agent to start the command (the guest may be hung)");
		if (n == 0)
			return cl_fail(err, ETIMEDOUT,
				       "exec: the command outlived its timeout "
				       "of %u ms and the guest agent did not end it (timed out)",
				       o->timeout_ms);
		/* Signals first: a SIGWINCH must reach the agent before
                 * keystrokes typed after the resize. */
		if (p[2].revents & POLLIN)
			on_signals(o, q);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			long n = proto_reader_fill(&c->r);
			if (n < 0 && n != -EAGAIN)
				return cl_fail(err, (int)-n, "exec: reading: %s",
					       strerror((int)-n));
			struct proto_frame f;
			while ((rc = proto_reader_next(&c->r, &f)) > 0) {
				if (f.type == PT_STARTED && !started)
					started = cl_now_ms();
				if ((rc = on_frame(o, &f, x, err)) != 0)
					return rc < 0 ? -1 : 0;
			}
			if (rc < 0) {
				/* Same rule as the agent: say why, then close.
                                 * Blocking again, so the socket's idle timeout
                                 * bounds the send if the agent stopped reading. */
				fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
				proto_send_error(c->fd, -rc, "client: bad frame: %s",
						 strerror(-rc));
				return cl_fail(err, -rc, "exec: bad frame from agent: %s",
					       strerror(-rc));
			}
			if (n == 0)
				return cl_fail(err, EPIPE,
					       "exec: agent closed the stream "
					       "before the command exited");
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(o->in_fd, buf, sizeof(buf));
			if (n > 0) {
				proto_enc_bytes(&q->b, PT_STDIN, buf, (uint32_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* EOF, or EIO from a terminal that went away */
				proto_enc_empty(&q->b, PT_STDIN_EOF);
				in_open = false;
			}
		}
	}
}

int aclient_exec(const char *addr, const struct aclient_exec_opts *o, struct proto_exit *x,
		 struct aclient_err *err)
{
	struct proto_exec e = {
		.flags = (o->tty ? EXEC_F_TTY : 0) | (o->in_fd >= 0 ? EXEC_F_STDIN : 0),
		.rows = o->rows,
		.cols = o->cols,
		.timeout_ms = o->timeout_ms,
		.cwd = o->cwd ? o->cwd : "",
		.user = o->user ? o->user : "",
		.argc = (uint32_t)count(o->argv),
		.envc = (uint32_t)count(o->env),
		.argv = (const char **)o->argv,
		.env = (const char **)o->env,
	};
	if (e.argc == 0)
		return cl_fail(err, EINVAL, "exec: no command");
	struct pbuf b;
	struct cl c;
	pbuf_init(&b);
	proto_enc_exec(&b, &e);
	if (b.err) {
		pbuf_free(&b);
		return cl_fail(err, -b.err, "exec: request too large (max %u bytes)",
			       PROTO_REQ_MAX);
	}
	int rc = cl_open(&c, addr, &b, err);
	pbuf_free(&b);
	if (rc < 0)
		return -1;
	struct proto_wq q;
	proto_wq_init(&q);
	int fl = fcntl(c.fd, F_GETFL);
	fcntl(c.fd, F_SETFL, fl | O_NONBLOCK);
	rc = loop(&c, o, x, &q, err);
	proto_wq_free(&q);
	cl_close(&c);
	return rc;
}
