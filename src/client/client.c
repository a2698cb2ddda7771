/* client.c: connecting to the agent, and every operation except exec
 * (client_exec.c). One stream per call; see client.h. */
#include "client/client.h"
#include "client/client_priv.h"
#include "proto/contract.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Per thread, so a caller may shorten them for one call (sb_stop) without
 * racing other threads. */
static __thread struct aclient_timeouts tmo = {
	.connect_ms = ACLIENT_CONNECT_MS,
	.request_ms = ACLIENT_REQUEST_MS,
	.idle_ms = ACLIENT_IDLE_MS,
};

void aclient_set_timeouts(const struct aclient_timeouts *t)
{
	tmo.connect_ms = t->connect_ms ? t->connect_ms : ACLIENT_CONNECT_MS;
	tmo.request_ms = t->request_ms ? t->request_ms : ACLIENT_REQUEST_MS;
	tmo.idle_ms = t->idle_ms ? t->idle_ms : ACLIENT_IDLE_MS;
}

void aclient_get_timeouts(struct aclient_timeouts *t)
{
	*t = tmo;
}

uint64_t cl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cl_left_ms(uint64_t deadline)
{
	uint64_t now = cl_now_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
}

/* A blocking read or write that makes no progress for ms fails with EAGAIN
 * (socket(7)); on an AF_UNIX socket the send timeout also bounds connect(2)
 * to a listener whose backlog is full (unix_stream_connect). */
static int sock_timeouts(int fd, uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

int cl_fail(struct aclient_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
		err->remote = false;
		err->exec_step = 0;
	}
	return -1;
}

int cl_remote(struct aclient_err *err, const struct proto_frame *f)
{
	int32_t code;
	const char *msg;
	if (proto_dec_error(f, &code, &msg) < 0)
		return cl_fail(err, EPROTO, "agent sent a malformed ERROR frame");
	cl_fail(err, code, "%s", msg);
	if (err)
		err->remote = true;
	return -1;
}

int cl_unexpected(struct aclient_err *err, int rc, const struct proto_frame *f, const char *what)
{
	if (rc == 0)
		return cl_fail(err, EPIPE, "%s: agent closed the stream early", what);
	if (rc == -ETIMEDOUT)
		return cl_fail(err, ETIMEDOUT,
			       "%s: timed out waiting for the guest agent "
			       "(the guest may be hung)",
			       what);
	if (rc < 0)
		return cl_fail(err, -rc, "%s: %s", what, strerror(-rc));
	if (f->type == PT_ERROR)
		return cl_remote(err, f);
	return cl_fail(err, EPROTO, "%s: unexpected %s frame from the agent", what,
		       proto_type_name(f->type));
}

/* Read the line after CONNECT one byte at a time: anything past '\n'
 * already belongs to the agent's stream. */
static int handshake(int fd, const char *path, uint64_t deadline, struct aclient_err *err)
{
	char line[64];
	size_t n = 0;
	int len = snprintf(line, sizeof(line), "CONNECT %u\n", SILO_AGENT_PORT);
	int rc = proto_write_all(fd, line, (size_t)len);
	if (rc < 0)
		return cl_fail(err, -rc, "%s: sending CONNECT: %s", path, strerror(-rc));
	while (n < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = cl_left_ms(deadline);
		int pr = ms > 0 ? poll(&p, 1, ms) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return cl_fail(err, ETIMEDOUT,
				       "%s: no answer to CONNECT %u within "
				       "%u ms (timed out; the guest may be hung)",
				       path, SILO_AGENT_PORT, tmo.connect_ms);
		ssize_t r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			/* Firecracker semantics: closed = nothing listens on the port. */
			return cl_fail(err, ECONNREFUSED,
				       "%s: the guest agent is not listening on vsock port %u",
				       path, SILO_AGENT_PORT);
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	if (strncmp(line, "OK ", 3) != 0)
		return cl_fail(err, EPROTO, "%s: bad CONNECT answer \"%.*s\"", path,
			       (int)strcspn(line, "\n"), line);
	return 0;
}

int aclient_connect(const char *addr, struct aclient_err *err)
{
	bool vsock;
	const char *path;
	if (!strncmp(addr, "vsock:", 6))
		vsock = true, path = addr + 6;
	else if (!strncmp(addr, "unix:", 5))
		vsock = false, path = addr + 5;
	else
		return cl_fail(err, EINVAL, "%s: address must be vsock:PATH or unix:PATH", addr);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return cl_fail(err, ENAMETOOLONG, "%s: socket path too long", path);
	strcpy(a.sun_path, path);
	uint64_t deadline = cl_now_ms() + tmo.connect_ms;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cl_fail(err, errno, "socket: %s", strerror(errno));
	if (sock_timeouts(fd, tmo.connect_ms) < 0) {
		cl_fail(err, errno, "socket timeouts: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno == EAGAIN)
			cl_fail(err, ETIMEDOUT,
				"connect %s: timed out (nobody accepts "
				"connections there)",
				path);
		else
			cl_fail(err, errno, "connect %s: %s", path, strerror(errno));
		goto fail;
	}
	if (vsock && handshake(fd, path, deadline, err) < 0)
		goto fail;
	/* From now on a stream may be long, but never silent for long. */
	if (sock_timeouts(fd, tmo.idle_ms) < 0) {
		cl_fail(err, errno, "socket timeouts: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Open a stream, send one request frame, set up a reader. */
int cl_open(struct cl *c, const char *addr, struct pbuf *req, struct aclient_err *err)
{
	c->fd = aclient_connect(addr, err);
	if (c->fd < 0)
		return -1;
	if (proto_reader_init(&c->r, c->fd) < 0) {
		close(c->fd);
		return cl_fail(err, ENOMEM, "out of memory");
	}
	int rc = proto_write_pbuf(c->fd, req);
	if (rc < 0) {
		cl_close(c);
		return rc == -ETIMEDOUT ? cl_unexpected(err, rc, NULL, "sending request")
					: cl_fail(err, -rc, "sending request: %s", strerror(-rc));
	}
	c->deadline = cl_now_ms() + tmo.request_ms;
	return 0;
}

/* proto_read_frame for requests with one short answer: gives up at
 * c->deadline, so an agent that trickles a byte now and then cannot
 * stretch it (streams rely on the socket's idle timeout instead). */
static int cl_read(struct cl *c, struct proto_frame *f)
{
	for (;;) {
		int rc = proto_reader_next(&c->r, f);
		if (rc != 0)
			return rc;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int ms = cl_left_ms(c->deadline);
		int n = ms > 0 ? poll(&p, 1, ms) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		long got = proto_reader_fill(&c->r);
		if (got < 0)
			return (int)got;
		if (got == 0)
			return proto_reader_buffered(&c->r) ? -EPIPE : PROTO_EOF;
	}
}

void cl_close(struct cl *c)
{
	proto_reader_free(&c->r);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Request whose whole answer is DONE (or ERROR). work: the agent answers
 * only when done with work of any length (rm -r of a big tree), so only
 * the idle timeout applies, not the request deadline. */
static int simple(const char *addr, struct pbuf *b, const char *what, bool work,
		  struct aclient_err *err)
{
	struct cl c;
	struct proto_frame f;
	int rc = -1;
	if (b->err)
		rc = cl_fail(err, -b->err, "%s: request too large", what);
	else if (cl_open(&c, addr, b, err) == 0) {
		int r = work ? proto_read_frame(&c.r, &f) : cl_read(&c, &f);
		rc = (r > 0 && f.type == PT_DONE) ? 0 : cl_unexpected(err, r, &f, what);
		cl_close(&c);
	}
	pbuf_free(b);
	return rc;
}

int aclient_ping(const char *addr, uint32_t *version, struct aclient_err *err)
{
	struct pbuf b;
	struct cl c;
	struct proto_frame f;
	uint64_t nonce = (uint64_t)getpid() << 32 | (uint32_t)rand(), got;
	pbuf_init(&b);
	proto_enc_ping(&b, PT_PING, nonce, 0);
	int rc = cl_open(&c, addr, &b, err);
	pbuf_free(&b);
	if (rc < 0)
		return -1;
	int r = cl_read(&c, &f);
	if (r <= 0 || f.type != PT_PONG)
		rc = cl_unexpected(err, r, &f, "ping");
	else if (proto_dec_ping(&f, &got, version) < 0 || got != nonce)
		rc = cl_fail(err, EPROTO, "ping: bad PONG");
	cl_close(&c);
	return rc;
}

/* Stream in_fd as DATA frames, then END, then wait for DONE. Before each
 * frame peek for an early ERROR (bad destination), so a failed upload stops
 * at once instead of after the whole file. */
static int upload(struct cl *c, int in_fd, const char *what, struct aclient_err *err)
{
	static __thread uint8_t buf[PROTO_DATA_MAX];
	struct proto_frame f;
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0) {
			int r = proto_read_frame(&c->r, &f);
			return cl_unexpected(err, r, &f, what);
		}
		ssize_t n = read(in_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cl_fail(err, errno, "%s: reading input: %s", what, strerror(errno));
		int rc = n ? proto_write_frame(c->fd, PT_DATA, buf, (uint32_t)n)
			   : proto_send_empty(c->fd, PT_END);
		if (rc == -ETIMEDOUT) /* it stopped reading: no reason will come */
			return cl_unexpected(err, rc, NULL, what);
		if (rc < 0) {
			/* The agent may have said why before closing. */
			int r = proto_read_frame(&c->r, &f);
			if (r > 0 && f.type == PT_ERROR)
				return cl_remote(err, &f);
			return cl_fail(err, -rc, "%s: sending: %s", what, strerror(-rc));
		}
		if (n == 0)
			break;
	}
	int r = proto_read_frame(&c->r, &f);
	return (r > 0 && f.type == PT_DONE) ? 0 : cl_unexpected(err, r, &f, what);
}

/* Receive DATA frames into out_fd until END. */
static int download(struct cl *c, int out_fd, const char *what, struct aclient_err *err)
{
	struct proto_frame f;
	for (;;) {
		int r = proto_read_frame(&c->r, &f);
		if (r > 0 && f.type == PT_DATA) {
			int rc = proto_write_all(out_fd, f.payload, f.len);
			if (rc < 0)
				return cl_fail(err, -rc, "%s: writing output: %s", what,
					       strerror(-rc));
			continue;
		}
		if (r > 0 && f.type == PT_END && proto_dec_empty(&f) == 0)
			return 0;
		return cl_unexpected(err, r, &f, what);
	}
}

static int transfer(const char *addr, struct pbuf *b, int fd, bool up, const char *what,
		    uint32_t *mode, struct aclient_err *err)
{
	struct cl c;
	int rc = -1;
	if (b->err) {
		rc = cl_fail(err, -b->err, "%s: request too large", what);
	} else if (cl_open(&c, addr, b, err) == 0) {
		rc = 0;
		if (mode) { /* GET_FILE: STAT_REPLY comes before the data */
			struct proto_frame f;
			struct proto_stat st;
			int r = proto_read_frame(&c.r, &f);
			if (r > 0 && f.type == PT_STAT_REPLY && proto_dec_stat(&f, &st) == 0)
				*mode = st.mode;
			else
				rc = cl_unexpected(err, r, &f, what);
		}
		if (rc == 0)
			rc = up ? upload(&c, fd, what, err) : download(&c, fd, what, err);
		cl_close(&c);
	}
	pbuf_free(b);
	return rc;
}

int aclient_put_tar(const char *addr, const char *dest, int in_fd, struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_path(&b, PT_PUT_TAR, dest);
	return transfer(addr, &b, in_fd, true, "put-tar", NULL, err);
}

int aclient_get_tar(const char *addr, const char *path, int out_fd, struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_path(&b, PT_GET_TAR, path);
	return transfer(addr, &b, out_fd, false, "get-tar", NULL, err);
}

int aclient_put_file(const char *addr, int in_fd, uint32_t mode, const char *dest,
		     struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_path1(&b, PT_PUT_FILE, mode, dest);
	return transfer(addr, &b, in_fd, true, "put", NULL, err);
}

int aclient_get_file(const char *addr, const char *src, int out_fd, uint32_t *mode,
		     struct aclient_err *err)
{
	uint32_t m;
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_path(&b, PT_GET_FILE, src);
	return transfer(addr, &b, out_fd, false, "get", mode ? mode : &m, err);
}

static void copy_stat(struct aclient_stat *o, const struct proto_stat *s)
{
	o->st = *s;
	snprintf(o->name, sizeof(o->name), "%s", s->name);
	snprintf(o->link, sizeof(o->link), "%s", s->link);
	o->st.name = o->name;
	o->st.link = o->link;
}

int aclient_stat(const char *addr, const char *path, bool follow, struct aclient_stat *out,
		 struct aclient_err *err)
{
	struct pbuf b;
	struct cl c;
	struct proto_frame f;
	struct proto_stat st;
	pbuf_init(&b);
	proto_enc_path1(&b, PT_STAT, follow ? STAT_F_FOLLOW : 0, path);
	int rc = b.err ? cl_fail(err, -b.err, "stat: request too large")
		       : cl_open(&c, addr, &b, err);
	pbuf_free(&b);
	if (rc < 0)
		return -1;
	int r = cl_read(&c, &f);
	if (r > 0 && f.type == PT_STAT_REPLY && proto_dec_stat(&f, &st) == 0)
		copy_stat(out, &st);
	else
		rc = cl_unexpected(err, r, &f, "stat");
	cl_close(&c);
	return rc;
}

int aclient_list(const char *addr, const char *path,
		 int (*cb)(const struct proto_stat *st, void *arg), void *arg,
		 struct aclient_err *err)
{
	struct pbuf b;
	struct cl c;
	struct proto_frame f;
	struct proto_stat st;
	pbuf_init(&b);
	proto_enc_path(&b, PT_LIST, path);
	int rc = b.err ? cl_fail(err, -b.err, "ls: request too large") : cl_open(&c, addr, &b, err);
	pbuf_free(&b);
	if (rc < 0)
		return -1;
	for (;;) {
		int r = proto_read_frame(&c.r, &f);
		if (r > 0 && f.type == PT_STAT_REPLY && proto_dec_stat(&f, &st) == 0) {
			if (cb(&st, arg))
				break;
			continue;
		}
		if (!(r > 0 && f.type == PT_END))
			rc = cl_unexpected(err, r, &f, "ls");
		break;
	}
	cl_close(&c);
	return rc;
}

int aclient_mkdir(const char *addr, const char *path, uint32_t mode, bool parents,
		  struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_mkdir(&b, mode, parents ? MKDIR_F_PARENTS : 0, path);
	return simple(addr, &b, "mkdir", false, err);
}

int aclient_remove(const char *addr, const char *path, bool recursive, struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_path1(&b, PT_REMOVE, recursive ? REMOVE_F_RECURSIVE : 0, path);
	return simple(addr, &b, "rm", recursive, err);
}

int aclient_shutdown(const char *addr, struct aclient_err *err)
{
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_empty(&b, PT_SHUTDOWN);
	return simple(addr, &b, "shutdown", false, err);
}

/* A random machine-id: 128 bits as 32 lowercase hex digits. */
static int random_machine_id(char out[PROTO_MACHINE_ID_LEN + 1])
{
	uint8_t raw[PROTO_MACHINE_ID_LEN / 2];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	/* all zero means "no id": 2^-128, but cheap to rule out */
	if (!proto_machine_id_valid(out))
		out[PROTO_MACHINE_ID_LEN - 1] = '1';
	return 0;
}

int aclient_restored(const char *addr, const char *hostname, const char *machine_id,
		     struct aclient_err *err)
{
	struct proto_restored r = { 0 };
	struct timespec now;
	struct pbuf b;

	if (!proto_hostname_valid(hostname))
		return cl_fail(err, EINVAL,
			       "restored: invalid hostname (1-64 letters, digits, '-', '.', '_')");
	snprintf(r.hostname, sizeof(r.hostname), "%s", hostname);
	if (machine_id && !proto_machine_id_valid(machine_id))
		return cl_fail(err, EINVAL,
			       "restored: invalid machine-id (32 lowercase hex digits)");
	if (machine_id)
		snprintf(r.machine_id, sizeof(r.machine_id), "%s", machine_id);
	else if (random_machine_id(r.machine_id) < 0)
		return cl_fail(err, errno, "getrandom: %s", strerror(errno));
	if (getrandom(r.entropy, sizeof(r.entropy), 0) != (ssize_t)sizeof(r.entropy))
		return cl_fail(err, errno, "getrandom: %s", strerror(errno));
	clock_gettime(CLOCK_REALTIME, &now);
	r.realtime_sec = now.tv_sec;
	r.realtime_nsec = (uint32_t)now.tv_nsec;
	pbuf_init(&b);
	proto_enc_restored(&b, &r);
	explicit_bzero(r.entropy, sizeof(r.entropy));
	return simple(addr, &b, "restored", false, err);
}
