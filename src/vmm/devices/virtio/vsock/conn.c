/*
 * vsock connection state machine and credit-based flow control
 * (VIRTIO 1.2 §5.10.6.3-§5.10.6.6; Firecracker csm/connection.rs).
 *
 * Host socket writes never block and never raise SIGPIPE (MSG_DONTWAIT |
 * MSG_NOSIGNAL). Guest data the socket cannot take goes to a ring of
 * VSOCK_CONN_BUF_SIZE; since we advertise that as buf_alloc and only count bytes as forwarded
 * (fwd_cnt) once the socket took them, a well-behaved guest runs out of
 * credit for this one connection before the ring can overflow, which is how
 * one slow host reader stops guest TX for its connection only. A guest that
 * ignores credit overflows the ring and gets an RST.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/scm.h"
#include "vmm/devices/virtio/queue.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/muxer.h"
#include "vmm/log.h"

#define MSG_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)

uint32_t vsock_credit_peer_avail(const struct vsock_credit *c)
{
	/* u32 wrap is intended: both counters are free running (§5.10.6.3). */
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	/* A guest that shrank buf_alloc below what is in flight gets nothing,
	 * not a huge unsigned difference. */
	if (in_flight >= c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - in_flight;
}

bool vsock_credit_peer_needs_update(const struct vsock_credit *c)
{
	/* The guest believes it has buf_alloc - unannounced bytes (VIRTIO 1.2 §5.10.6.3);
	 * announce before that falls below what it can send in one packet, so
	 * its sender never waits for our update (u32 wrap intended). */
	return c->fwd_cnt - c->last_fwd_cnt_to_peer >= VSOCK_CREDIT_UPDATE_BYTES;
}

void vsock_credit_stamp(struct vsock_credit *c, struct vsock_pkt *p)
{
	p->buf_alloc = VSOCK_CONN_BUF_SIZE;
	p->fwd_cnt = c->fwd_cnt;
	c->last_fwd_cnt_to_peer = c->fwd_cnt;
}

int vsock_txbuf_push(struct vsock_txbuf *t, const struct iovec *iov, unsigned int cnt, size_t skip,
		     uint32_t len)
{
	struct iovec part[VQ_MAX_SIZE];
	unsigned int n;
	uint32_t tail;

	if (len > VSOCK_CONN_BUF_SIZE - t->len)
		return -ENOBUFS;
	if (!t->buf) {
		t->buf = malloc(VSOCK_CONN_BUF_SIZE); /* lazily: idle connections cost nothing */
		if (!t->buf)
			return -ENOMEM;
		t->head = 0;
	}
	tail = (t->head + t->len) % VSOCK_CONN_BUF_SIZE;
	n = iov_slice(iov, cnt > VQ_MAX_SIZE ? VQ_MAX_SIZE : cnt, skip, len, part);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *src = part[i].iov_base;
		size_t l = part[i].iov_len;

		while (l) {
			size_t c = VSOCK_CONN_BUF_SIZE - tail;

			if (c > l)
				c = l;
			memcpy(t->buf + tail, src, c);
			tail = (uint32_t)((tail + c) % VSOCK_CONN_BUF_SIZE);
			src += c;
			l -= c;
			t->len += (uint32_t)c;
		}
	}
	return 0;
}

long vsock_txbuf_flush(struct vsock_txbuf *t, int fd)
{
	long done = 0;

	while (t->len) {
		uint32_t first = VSOCK_CONN_BUF_SIZE - t->head;
		struct iovec v[2] = { { t->buf + t->head, first < t->len ? first : t->len },
				      { t->buf, first < t->len ? t->len - first : 0 } };
		struct msghdr msg = { .msg_iov = v, .msg_iovlen = v[1].iov_len ? 2 : 1 };
		ssize_t r = sendmsg(fd, &msg, MSG_FLAGS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0)
			return -errno;
		t->head = (uint32_t)((t->head + (uint32_t)r) % VSOCK_CONN_BUF_SIZE);
		t->len -= (uint32_t)r;
		done += r;
	}
	if (!t->len)
		vsock_txbuf_free(t);
	return done;
}

void vsock_txbuf_free(struct vsock_txbuf *t)
{
	free(t->buf);
	t->buf = NULL;
	t->head = t->len = 0;
}

uint32_t vsock_conn_events(const struct vsock_conn *c)
{
	uint32_t ev = 0;

	switch (c->state) {
	case VC_HANDSHAKE:
		return EPOLLIN;
	case VC_ESTABLISHED:
	case VC_CLOSING:
		/* While a socket is coming (next_fd), the stream is shut for
		 * our writes: guest bytes wait in tx for the socket. */
		if (c->tx.len && c->next_fd < 0)
			ev |= EPOLLOUT;
		/* No busy polling: read only when the bytes have somewhere to go
		 * (credit) and nothing is already waiting for an RX buffer. */
		if (c->state == VC_ESTABLISHED && !c->local_eof && !c->peer_no_rcv &&
		    !(c->pending & VC_PEND_RW) && vsock_credit_peer_avail(&c->cr) > 0)
			ev |= EPOLLIN;
		return ev;
	default:
		return 0; /* waiting for the guest; not in epoll at all */
	}
}

/* After fwd_cnt moved or the guest shut down: credit, half-close, full close. */
static bool after_forward(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state != VC_ESTABLISHED && c->state != VC_CLOSING)
		return false;
	if (vsock_credit_peer_needs_update(&c->cr))
		c->pending |= VC_PEND_CREDIT_UPDATE;
	/* Guest SHUTDOWN(SEND): the host reader sees EOF once our buffer is out. */
	if (c->peer_no_send && !c->tx.len && !c->wr_shut && c->next_fd < 0) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	/* Guest closed both ways and everything is delivered: our RST ends it
	 * (§5.10.6.6: the peer waits for RST after a full SHUTDOWN). */
	if (c->peer_no_send && c->peer_no_rcv && !c->tx.len) {
		vsock_mux_kill(m, c, true);
		return true;
	}
	return false;
}

static void forward_rw(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *iov,
		       unsigned int cnt, size_t skip, uint32_t len)
{
	struct iovec part[VQ_MAX_SIZE];
	uint32_t sent = 0;
	int ret;

	/* Keep byte order: if anything is buffered, the new bytes queue behind
	 * it; while a socket is coming they wait for it (take_socket). */
	if (!c->tx.len && c->next_fd < 0) {
		unsigned int n = iov_slice(iov, cnt, skip, len, part);
		struct msghdr msg = { .msg_iov = part, .msg_iovlen = n };
		ssize_t r;

		do {
			r = sendmsg(c->fd, &msg, MSG_FLAGS);
		} while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			m->m.host_errors++;
			vsock_mux_kill(m, c, true);
			return;
		}
		if (r > 0)
			sent = (uint32_t)r;
		c->cr.fwd_cnt += sent;
	}
	if (sent < len) {
		ret = vsock_txbuf_push(&c->tx, iov, cnt, skip + sent, len - sent);
		if (ret == -ENOBUFS) {
			vsock_mux_guest_err(m, &m->m.txbuf_overflow,
					    "guest overran its credit (TX buffer full)");
			vsock_mux_kill(m, c, true);
			return;
		}
		if (ret < 0) {
			m->m.host_errors++;
			vsock_mux_kill(m, c, true);
			return;
		}
	}
	if (!after_forward(m, c))
		vsock_mux_update(m, c);
}

/* RESPONSE to our REQUEST: tell the host client which port it got. */
static bool send_ok(struct vsock_mux *m, struct vsock_conn *c)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
	ssize_t r;

	do {
		r = send(c->fd, line, (size_t)n, MSG_FLAGS);
	} while (r < 0 && errno == EINTR);
	/* A fresh socket has room for 14 bytes; anything else means the client is gone. */
	if (r != n) {
		vsock_mux_kill(m, c, true);
		return false;
	}
	return true;
}

void vsock_conn_guest_pkt(struct vsock_mux *m, struct vsock_conn *c, const struct vsock_pkt *p,
			  const struct iovec *iov, unsigned int cnt, size_t skip)
{
	/* §5.10.6.3: every packet carries the sender's current credit. */
	c->cr.peer_buf_alloc = p->buf_alloc;
	c->cr.peer_fwd_cnt = p->fwd_cnt;
	if (vsock_credit_peer_avail(&c->cr))
		c->credit_req_sent = false;

	switch (p->op) {
	case VIRTIO_VSOCK_OP_RST:
		vsock_mux_kill(m, c, false); /* never answer an RST */
		return;
	case VIRTIO_VSOCK_OP_REQUEST:
		vsock_mux_guest_err(m, &m->m.bad_pkt, "REQUEST for a live connection");
		vsock_mux_kill(m, c, true);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VC_LOCAL_INIT || !c->guest_knows) {
			vsock_mux_guest_err(m, &m->m.bad_pkt, "unexpected RESPONSE");
			vsock_mux_kill(m, c, true);
			return;
		}
		if (!send_ok(m, c))
			return;
		c->state = VC_ESTABLISHED;
		c->deadline = 0;
		break;
	case VIRTIO_VSOCK_OP_RW:
		if ((c->state != VC_ESTABLISHED && c->state != VC_CLOSING) || c->peer_no_send) {
			vsock_mux_guest_err(m, &m->m.bad_pkt, "RW outside an open stream");
			vsock_mux_kill(m, c, true);
			return;
		}
		if (p->len)
			forward_rw(m, c, iov, cnt, skip, p->len);
		else
			vsock_mux_update(m, c);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields above were the point */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VC_PEND_CREDIT_UPDATE; /* §5.10.6.3: must answer */
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != VC_ESTABLISHED && c->state != VC_CLOSING) {
			vsock_mux_guest_err(m, &m->m.bad_pkt,
					    "SHUTDOWN before the stream was open");
			vsock_mux_kill(m, c, true);
			return;
		}
		/* §5.10.6.5: RCV = guest receives no more, SEND = sends no more. */
		if ((p->flags & VIRTIO_VSOCK_SHUTDOWN_RCV) && !c->peer_no_rcv) {
			c->peer_no_rcv = true;
			c->pending &= ~VC_PEND_RW;
			shutdown(c->fd, SHUT_RD);
		}
		if (p->flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->peer_no_send = true;
		if (c->peer_no_rcv && c->peer_no_send && c->state != VC_CLOSING) {
			c->state = VC_CLOSING;
			vsock_mux_set_deadline(m, c, VSOCK_SHUTDOWN_TIMEOUT_MS);
		}
		if (after_forward(m, c))
			return;
		break;
	default:
		break; /* vsock_pkt_check() let only known ops through */
	}
	vsock_mux_update(m, c);
}

/* Read the CONNECT line without consuming any byte after its '\n'. */
static void handshake(struct vsock_mux *m, struct vsock_conn *c)
{
	char buf[VSOCK_CONNECT_LINE_MAX];
	size_t want = VSOCK_CONNECT_LINE_MAX - c->line_len, take;
	uint32_t port;
	char *nl;
	ssize_t r;
	int ret;

	do {
		r = recv(c->fd, buf, want, MSG_PEEK | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) {
		vsock_mux_kill(m, c, false); /* client left before asking */
		return;
	}
	nl = memchr(buf, '\n', (size_t)r);
	take = nl ? (size_t)(nl - buf) + 1 : (size_t)r;
	do {
		r = recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r != (ssize_t)take) {
		vsock_mux_kill(m, c, false);
		return;
	}
	c->line_len = (uint8_t)(c->line_len + take);
	ret = vsock_parse_connect(c->line, c->line_len, &port);
	if (ret == 0)
		return; /* partial line: wait for more */
	if (ret < 0) {
		m->m.bad_connect_line++;
		log_warn("vsock: host client sent a malformed CONNECT line; closing it");
		vsock_mux_kill(m, c, false);
		return;
	}
	c->peer_port = port;
	c->state = VC_LOCAL_INIT;
	vsock_mux_key_conn(m, c);
	c->pending |= VC_PEND_REQUEST;
	vsock_mux_set_deadline(m, c, m->connect_ms);
	vsock_mux_update(m, c);
}

void vsock_conn_host_event(struct vsock_mux *m, struct vsock_conn *c, uint32_t events)
{
	if (events & (EPOLLHUP | EPOLLERR))
		c->hup = true;
	if (c->state == VC_HANDSHAKE) {
		handshake(m, c);
		return;
	}
	if (c->state != VC_ESTABLISHED && c->state != VC_CLOSING) {
		vsock_mux_update(m, c);
		return;
	}
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->tx.len && c->next_fd < 0) {
		long n = vsock_txbuf_flush(&c->tx, c->fd);

		if (n < 0) {
			m->m.host_errors++;
			vsock_mux_kill(m, c, true);
			return;
		}
		c->cr.fwd_cnt += (uint32_t)n;
		if (after_forward(m, c))
			return;
		/* The guest has closed and we are still delivering what it sent:
		 * the graceful-close timeout is for a reader that stopped, not for
		 * a slow one, so every bit of progress re-arms it. */
		if (n > 0 && c->state == VC_CLOSING)
			vsock_mux_set_deadline(m, c, VSOCK_SHUTDOWN_TIMEOUT_MS);
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->state == VC_ESTABLISHED &&
	    !c->local_eof && !c->peer_no_rcv)
		c->pending |= VC_PEND_RW;
	vsock_mux_update(m, c);
}

/*
 * The peer's end of a stream that brought a socket (read_peer) ended: the
 * peer has written to the socket everything we had written to it (the
 * guest's first bytes, sent behind its header before the reply came) and
 * will not touch it again. From here the connection is that socket: the
 * guest's bytes that waited in tx go to it first, and nothing is lost or
 * reordered. The stream is closed; the peer no longer holds this
 * connection (docs/network.md). Returns false when c was killed.
 */
static bool take_socket(struct vsock_mux *m, struct vsock_conn *c)
{
	long n = 0;

	close(c->fd); /* also drops it from the nested epoll */
	c->fd = c->next_fd;
	c->next_fd = -1;
	c->events = 0; /* the next update adds the socket */
	c->takes_socket = false;
	c->hup = false;
	c->wr_shut = false; /* a guest half-close is for the socket now */
	c->pending &= ~VC_PEND_RW;
	m->m.sockets_taken++;
	/* Only now non-blocking: until the peer ended the stream it was
	 * writing to the socket with blocking calls (one open file, one set
	 * of flags). */
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0 || (n = vsock_txbuf_flush(&c->tx, c->fd)) < 0) {
		m->m.host_errors++;
		vsock_mux_kill(m, c, true);
		return false;
	}
	c->cr.fwd_cnt += (uint32_t)n;
	if (after_forward(m, c))
		return false;
	vsock_mux_update(m, c);
	return true;
}

/* Host socket EOF: half close (shutdown(SHUT_WR)) or full close (POLLHUP).
 * Returns false when c was killed. */
static bool host_eof(struct vsock_mux *m, struct vsock_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

	if (c->next_fd >= 0)
		return take_socket(m, c);
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
		c->hup = true;
	c->local_eof = true;
	c->pending &= ~VC_PEND_RW;
	c->pending |= VC_PEND_SHUTDOWN;
	c->shut_flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	if (c->hup) {
		/* Nobody will read either: tell the guest both, then RST after
		 * the graceful-close timeout (Firecracker LocalClosed). */
		c->shut_flags |= VIRTIO_VSOCK_SHUTDOWN_RCV;
		c->state = VC_CLOSING;
		vsock_mux_set_deadline(m, c, VSOCK_SHUTDOWN_TIMEOUT_MS);
	}
	return true;
}

/*
 * A read from a peer stream that may bring a socket (SCM_RIGHTS) with the
 * peer's reply: the destination, connected under the policy. We keep it in
 * next_fd and end our side of the stream, which tells the peer to pass on
 * what we wrote before and then end its own (host_eof, take_socket). The
 * peer is silo-netd, but a descriptor is checked all the same: one socket,
 * once per stream; anything else ends the connection.
 */
static ssize_t read_peer(struct vsock_conn *c, struct iovec *iov, unsigned int n)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov,
			     .msg_iovlen = n,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct stat st;
	int fd, nfds;
	ssize_t r;

	do {
		r = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return r;
	fd = scm_first_fd(&mh, &nfds);
	if (!nfds && !(mh.msg_flags & MSG_CTRUNC))
		return r;
	if (nfds != 1 || (mh.msg_flags & MSG_CTRUNC) || c->next_fd >= 0 || fstat(fd, &st) < 0 ||
	    !S_ISSOCK(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		log_warn("vsock: the peer sent a descriptor that is not one socket for a stream; "
			 "ending the stream");
		errno = EPROTO;
		return -1;
	}
	c->next_fd = fd;
	shutdown(c->fd, SHUT_WR);
	return r;
}

uint16_t vsock_conn_rx_next(struct vsock_mux *m, struct vsock_conn *c, uint32_t *avail)
{
	*avail = 0;
	if (c->pending & VC_PEND_RESPONSE)
		return VIRTIO_VSOCK_OP_RESPONSE;
	if (c->pending & VC_PEND_REQUEST)
		return VIRTIO_VSOCK_OP_REQUEST;
	if (c->pending & VC_PEND_RW) {
		int n = 0;

		if (c->state != VC_ESTABLISHED || c->local_eof || c->peer_no_rcv) {
			c->pending &= ~VC_PEND_RW;
		} else if (!vsock_credit_peer_avail(&c->cr)) {
			/* Recipe §f: out of credit, ask for an update once. */
			c->pending &= ~VC_PEND_RW;
			if (!c->credit_req_sent)
				c->pending |= VC_PEND_CREDIT_REQUEST;
		} else if (ioctl(c->fd, FIONREAD, &n) == 0 && n > 0) {
			/* Only this thread reads the socket: the bytes stay there
			 * until rx_fill, so a popped RX chain is always filled. */
			*avail = (uint32_t)n;
			return VIRTIO_VSOCK_OP_RW;
		} else {
			char b;
			ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

			if (r == 0) {
				if (!host_eof(m, c))
					return 0;
			} else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR) {
				m->m.host_errors++;
				vsock_mux_kill(m, c, true);
				return 0;
			} else {
				c->pending &= ~VC_PEND_RW; /* spurious wakeup */
			}
		}
	}
	if (c->pending & VC_PEND_SHUTDOWN)
		return VIRTIO_VSOCK_OP_SHUTDOWN;
	if (c->pending & VC_PEND_CREDIT_UPDATE)
		return VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	if (c->pending & VC_PEND_CREDIT_REQUEST)
		return VIRTIO_VSOCK_OP_CREDIT_REQUEST;
	vsock_mux_update(m, c);
	return 0;
}

uint32_t vsock_conn_rx_fill(struct vsock_mux *m, struct vsock_conn *c, uint16_t op, uint32_t avail,
			    struct vsock_pkt *p, const struct iovec *iov, unsigned int cnt,
			    uint32_t space)
{
	uint32_t len = 0;

	*p = (struct vsock_pkt){ .src_cid = VSOCK_HOST_CID,
				 .dst_cid = m->guest_cid,
				 .src_port = c->local_port,
				 .dst_port = c->peer_port,
				 .type = VIRTIO_VSOCK_TYPE_STREAM,
				 .op = op };
	switch (op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		c->pending &= ~VC_PEND_REQUEST;
		c->guest_knows = true;
		break;
	case VIRTIO_VSOCK_OP_RESPONSE:
		c->pending &= ~VC_PEND_RESPONSE;
		c->state = VC_ESTABLISHED;
		break;
	case VIRTIO_VSOCK_OP_RW: {
		struct iovec part[VQ_MAX_SIZE];
		uint32_t credit = vsock_credit_peer_avail(&c->cr), want = avail;
		unsigned int n;
		ssize_t r;

		if (want > credit)
			want = credit;
		if (want > space)
			want = space;
		if (want > VSOCK_MAX_PKT_LEN)
			want = VSOCK_MAX_PKT_LEN;
		if (!want) {
			/* Header-only RX buffer: send our credit instead, keep RW. */
			p->op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
			break;
		}
		n = iov_slice(iov, cnt, 0, want, part);
		if (c->takes_socket)
			r = read_peer(c, part, n);
		else
			do {
				r = readv(c->fd, part, (int)n);
			} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			/* FIONREAD promised bytes; the socket broke meanwhile. */
			m->m.host_errors++;
			p->op = VIRTIO_VSOCK_OP_RST;
			vsock_mux_kill(m, c, false);
			m->m.rst_to_guest++;
			return 0;
		}
		len = (uint32_t)r;
		c->cr.rx_cnt += len;
		p->len = len;
		/* More queued and credit left: stay pending instead of waiting
		 * for another EPOLLIN round trip. */
		if (len >= avail || !vsock_credit_peer_avail(&c->cr))
			c->pending &= ~VC_PEND_RW;
		break;
	}
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->pending &= ~VC_PEND_SHUTDOWN;
		p->flags = c->shut_flags;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		m->m.credit_updates++;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending &= ~VC_PEND_CREDIT_REQUEST;
		c->credit_req_sent = true;
		m->m.credit_requests++;
		break;
	default:
		break;
	}
	/* Every packet carries fwd_cnt, so any of them is a credit update. */
	vsock_credit_stamp(&c->cr, p);
	c->pending &= ~VC_PEND_CREDIT_UPDATE;
	vsock_mux_update(m, c);
	return len;
}
