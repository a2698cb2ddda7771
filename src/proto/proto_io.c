/* proto_io.c: buffered frame reader and writer over an fd.
 * Works on blocking and O_NONBLOCK fds alike: EINTR is retried, EAGAIN
 * waits in poll(2) (on a blocking fd it is a socket timeout: -ETIMEDOUT),
 * partial reads and writes are resumed. */
#include "proto/proto.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Room for two maximal data frames: a reader filling from a busy stream
 * usually holds one whole frame plus the start of the next. Grows once to
 * PROTO_FRAME_MAX when a (validated) EXEC request needs it. */
#define READER_INIT_CAP (2 * (PROTO_HDR_SIZE + PROTO_DATA_MAX))

int proto_reader_init(struct proto_reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->buf = malloc(READER_INIT_CAP);
	if (!r->buf)
		return -ENOMEM;
	r->cap = READER_INIT_CAP;
	return 0;
}

void proto_reader_free(struct proto_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

bool proto_reader_buffered(const struct proto_reader *r)
{
	return r->end > r->start;
}

/* EAGAIN from a blocking fd means its SO_RCVTIMEO or SO_SNDTIMEO ran out
 * (socket(7)): the caller's timeout for a silent peer, so report it rather
 * than wait on in poll(2) for ever. */
static int wait_fd(int fd, short ev)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		return -ETIMEDOUT;
	struct pollfd p = { .fd = fd, .events = ev };
	for (;;) {
		int n = poll(&p, 1, -1);
		if (n > 0 || (n < 0 && errno != EINTR))
			return n < 0 ? -errno : 0;
	}
}

long proto_reader_fill(struct proto_reader *r)
{
	if (r->start == r->end)
		r->start = r->end = 0;
	if (r->end == r->cap && r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		/* Only reachable with one partial frame larger than the
                 * buffer, whose header proto_reader_next already validated,
                 * so PROTO_FRAME_MAX is always enough. */
		if (r->cap >= PROTO_FRAME_MAX)
			return -EMSGSIZE;
		uint8_t *p = realloc(r->buf, PROTO_FRAME_MAX);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->cap = PROTO_FRAME_MAX;
	}
	for (;;) {
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n >= 0) {
			r->end += (size_t)n;
			return n;
		}
		if (errno != EINTR)
			return -errno;
	}
}

int proto_reader_next(struct proto_reader *r, struct proto_frame *f)
{
	long n = proto_frame_parse(r->buf + r->start, r->end - r->start, f);
	if (n <= 0)
		return (int)n;
	r->start += (size_t)n;
	return 1;
}

int proto_read_frame(struct proto_reader *r, struct proto_frame *f)
{
	for (;;) {
		int rc = proto_reader_next(r, f);
		if (rc != 0)
			return rc;
		long n = proto_reader_fill(r);
		if (n == -EAGAIN) {
			if ((rc = wait_fd(r->fd, POLLIN)) < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return proto_reader_buffered(r) ? -EPIPE : PROTO_EOF;
	}
}

/* send(MSG_NOSIGNAL) so a vanished peer is -EPIPE, not a process-killing
 * SIGPIPE, even in library callers that did not ignore the signal. */
static ssize_t xwritev(int fd, struct iovec *iov, int cnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
	ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK)
		n = writev(fd, iov, cnt);
	return n;
}

static int writev_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		if (iov->iov_len == 0) {
			iov++, cnt--;
			continue;
		}
		ssize_t n = xwritev(fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int rc = wait_fd(fd, POLLOUT);
				if (rc < 0)
					return rc;
				continue;
			}
			return -errno;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++, cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int proto_write_all(int fd, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	return writev_all(fd, &iov, 1);
}

int proto_write_frame(int fd, uint16_t type, const void *payload, uint32_t len)
{
	uint8_t h[PROTO_HDR_SIZE];
	if (len > proto_max_len(type))
		return -EMSGSIZE;
	proto_hdr_encode(h, type, len);
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, len } };
	return writev_all(fd, iov, 2);
}

int proto_write_pbuf(int fd, struct pbuf *b)
{
	int rc = b->err ? b->err : proto_write_all(fd, b->p, b->len);
	pbuf_reset(b);
	return rc;
}

/* ERROR or EXEC_FAILED (step != 0) with a formatted message. */
static int send_failure(int fd, uint32_t step, int32_t code, const char *fmt, va_list ap)
{
	char msg[PROTO_MSG_MAX];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct pbuf b;
	pbuf_init(&b);
	if (step)
		proto_enc_exec_failed(&b, step, code, msg);
	else
		proto_enc_error(&b, code, msg);
	int rc = proto_write_pbuf(fd, &b);
	pbuf_free(&b);
	return rc;
}

int proto_send_error(int fd, int32_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = send_failure(fd, 0, code, fmt, ap);
	va_end(ap);
	return rc;
}

int proto_send_exec_failed(int fd, uint32_t step, int32_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = send_failure(fd, step, code, fmt, ap);
	va_end(ap);
	return rc;
}

int proto_send_empty(int fd, uint16_t type)
{
	return proto_write_frame(fd, type, NULL, 0);
}

/* ---- non-blocking outgoing queue ------------------------------------------ */
void proto_wq_init(struct proto_wq *q)
{
	pbuf_init(&q->b);
	q->off = 0;
}
void proto_wq_free(struct proto_wq *q)
{
	pbuf_free(&q->b);
	q->off = 0;
}
size_t proto_wq_pending(const struct proto_wq *q)
{
	return q->b.len - q->off;
}

int proto_wq_flush(struct proto_wq *q, int fd)
{
	if (q->b.err)
		return q->b.err;
	while (q->off < q->b.len) {
		struct iovec iov = { q->b.p + q->off, q->b.len - q->off };
		ssize_t n = xwritev(fd, &iov, 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		q->off += (size_t)n;
	}
	/* Compact so the buffer does not grow without bound while the peer
         * drains slowly; callers cap what they queue (backpressure). */
	if (q->off == q->b.len) {
		pbuf_reset(&q->b);
		q->off = 0;
	} else if (q->off > q->b.len / 2) {
		memmove(q->b.p, q->b.p + q->off, q->b.len - q->off);
		q->b.len -= q->off;
		q->off = 0;
	}
	return 0;
}
