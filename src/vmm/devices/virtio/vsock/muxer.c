/*
 * vsock muxer: Unix listener, CONNECT handshake, connection table, nested
 * epoll, timeouts and the queue of packets waiting for guest RX buffers
 * (docs/silo-vmm.md "vsock: the host side"; Firecracker unix/muxer.rs).
 *
 * Epoll cookies are (generation << 32 | slot), so an event for a connection
 * that was killed earlier in the same batch, and whose slot was reused, is
 * recognised and dropped instead of reaching the wrong connection.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "proto/contract.h"
#include "proto/scm.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/muxer.h"
#include "vmm/fdarg.h"
#include "vmm/log.h"

#define KEY_LISTEN (~0ULL)
#define KEY_TIMER  (~0ULL - 1)

uint64_t vsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int vsock_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	static const char verb[] = "connect";
	const char *nl =
		memchr(buf, '\n', len < VSOCK_CONNECT_LINE_MAX ? len : VSOCK_CONNECT_LINE_MAX);
	size_t i = 0, end, digits = 0;
	uint64_t v = 0;

	if (!nl)
		return len >= VSOCK_CONNECT_LINE_MAX ? -EINVAL : 0;
	end = (size_t)(nl - buf);
	/* Firecracker splits on whitespace and compares the verb case-insensitively. */
	while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	for (size_t k = 0; k < sizeof(verb) - 1; k++, i++)
		if (i >= end || tolower((unsigned char)buf[i]) != verb[k])
			return -EINVAL;
	if (i >= end || (buf[i] != ' ' && buf[i] != '\t'))
		return -EINVAL;
	while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	for (; i < end && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (!digits)
		return -EINVAL;
	while (i < end && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r'))
		i++;
	if (i != end)
		return -EINVAL;
	*port = (uint32_t)v;
	return (int)end + 1;
}

void vsock_mux_guest_err(struct vsock_mux *m, uint64_t *counter, const char *what)
{
	/* Guest-triggered: count always, log the first of each kind only. */
	if ((*counter)++ == 0)
		log_warn("vsock: guest error: %s", what);
	if (m->vd)
		VDEV_STAT(m->vd, err, 1);
}

static unsigned int hash(uint32_t local, uint32_t peer)
{
	return ((local * 2654435761U) ^ peer) & (VSOCK_HASH_SIZE - 1);
}

static struct vsock_conn *lookup(struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	for (int i = m->hash[hash(local, peer)]; i >= 0; i = m->conns[i].hnext)
		if (m->conns[i].local_port == local && m->conns[i].peer_port == peer)
			return &m->conns[i];
	return NULL;
}

static int slot_of(struct vsock_mux *m, struct vsock_conn *c)
{
	return (int)(c - m->conns);
}

static void hash_add(struct vsock_mux *m, struct vsock_conn *c)
{
	unsigned int h = hash(c->local_port, c->peer_port);

	c->hnext = m->hash[h];
	m->hash[h] = slot_of(m, c);
}

static void hash_del(struct vsock_mux *m, struct vsock_conn *c)
{
	int *p = &m->hash[hash(c->local_port, c->peer_port)], s = slot_of(m, c);

	for (; *p >= 0; p = &m->conns[*p].hnext) {
		if (*p == s) {
			*p = c->hnext;
			return;
		}
	}
}

static void rxq_del(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->in_rxq)
		return;
	if (c->rxprev >= 0)
		m->conns[c->rxprev].rxnext = c->rxnext;
	else
		m->rx_head = c->rxnext;
	if (c->rxnext >= 0)
		m->conns[c->rxnext].rxprev = c->rxprev;
	else
		m->rx_tail = c->rxprev;
	c->in_rxq = false;
}

static void rxq_add(struct vsock_mux *m, struct vsock_conn *c)
{
	int s = slot_of(m, c);

	if (c->in_rxq)
		return;
	c->rxnext = -1;
	c->rxprev = m->rx_tail;
	if (m->rx_tail >= 0)
		m->conns[m->rx_tail].rxnext = s;
	else
		m->rx_head = s;
	m->rx_tail = s;
	c->in_rxq = true;
}

static void listener_update(struct vsock_mux *m)
{
	/* At the connection limit, or before DRIVER_OK, leave clients in the
	 * backlog instead of spinning on a level-triggered listener. */
	uint32_t want = (m->active && m->nr_conns < VSOCK_MAX_CONNS) ? EPOLLIN : 0;
	struct epoll_event e = { .events = want, .data.u64 = KEY_LISTEN };

	if (want == m->listen_events)
		return;
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->listen_fd, &e) == 0)
		m->listen_events = want;
	else
		log_warn("vsock: listener epoll_ctl: errno %d", errno);
}

static struct vsock_conn *conn_alloc(struct vsock_mux *m, int fd)
{
	struct vsock_conn *c;
	uint32_t gen;

	if (m->free_head < 0)
		return NULL;
	c = &m->conns[m->free_head];
	m->free_head = c->hnext;
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->fd = fd;
	c->next_fd = -1;
	c->hnext = c->rxprev = c->rxnext = -1;
	m->nr_conns++;
	m->m.conns_added++;
	listener_update(m);
	return c;
}

void vsock_mux_update(struct vsock_mux *m, struct vsock_conn *c)
{
	uint32_t ev;

	if (c->state == VC_FREE)
		return;
	ev = vsock_conn_events(c);
	if (ev != c->events) {
		struct epoll_event e = { .events = ev,
					 .data.u64 =
						 (uint64_t)c->gen << 32 | (uint32_t)slot_of(m, c) };
		int op = !c->events ? EPOLL_CTL_ADD : !ev ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

		/* Interest 0 means out of epoll: a hung-up socket would otherwise
		 * keep reporting EPOLLHUP while we wait for the guest. */
		if (epoll_ctl(m->epfd, op, c->fd, &e) < 0) {
			m->m.host_errors++;
			log_warn("vsock: epoll_ctl(%d) on a connection: errno %d", op, errno);
		} else {
			c->events = ev;
		}
	}
	if (c->pending)
		rxq_add(m, c);
}

void vsock_mux_queue_rst(struct vsock_mux *m, uint32_t local_port, uint32_t peer_port)
{
	if (m->rst_count == VSOCK_RST_RING) {
		m->m.rst_dropped++; /* the guest posts no RX buffers; it will time out */
		return;
	}
	m->rst[(m->rst_head + m->rst_count) % VSOCK_RST_RING] =
		(struct vsock_rst){ local_port, peer_port };
	m->rst_count++;
}

void vsock_mux_kill(struct vsock_mux *m, struct vsock_conn *c, bool rst)
{
	if (c->state == VC_FREE)
		return;
	if (rst && c->guest_knows)
		vsock_mux_queue_rst(m, c->local_port, c->peer_port);
	if (c->state != VC_HANDSHAKE)
		hash_del(m, c);
	rxq_del(m, c);
	close(c->fd); /* also drops it from the nested epoll */
	if (c->next_fd >= 0)
		close(c->next_fd);
	vsock_txbuf_free(&c->tx);
	c->state = VC_FREE;
	c->fd = c->next_fd = -1;
	c->gen++;
	c->hnext = m->free_head;
	m->free_head = slot_of(m, c);
	m->nr_conns--;
	m->m.conns_removed++;
	listener_update(m);
}

static void timer_arm(struct vsock_mux *m, uint64_t at)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (at) {
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	}
	if (timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("vsock: timerfd_settime: errno %d", errno);
	m->timer_at = at;
}

void vsock_mux_set_deadline(struct vsock_mux *m, struct vsock_conn *c, unsigned int ms)
{
	c->deadline = vsock_now_ms() + ms;
	if (!m->timer_at || c->deadline < m->timer_at)
		timer_arm(m, c->deadline);
}

/* Recipe §f: 2 s to connect, 2 s to close gracefully, then RST. */
static void expire(struct vsock_mux *m)
{
	uint64_t now = vsock_now_ms(), next = 0, v;

	if (read(m->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: re-armed before it fired; the scan below is still right. */
	}
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &m->conns[i];

		if (c->state == VC_FREE || !c->deadline)
			continue;
		if (c->deadline <= now) {
			if (c->state == VC_HANDSHAKE || c->state == VC_LOCAL_INIT ||
			    c->state == VC_CLOSING) {
				m->m.timeouts++;
				vsock_mux_kill(m, c, true);
			} else {
				c->deadline = 0;
			}
			continue;
		}
		if (!next || c->deadline < next)
			next = c->deadline;
	}
	timer_arm(m, next);
}

void vsock_mux_key_conn(struct vsock_mux *m, struct vsock_conn *c)
{
	/* Recipe §f: host-side ports for host-initiated connections live in
	 * [2^30, 2^31), so they never collide with well-known guest ports.
	 * At most VSOCK_MAX_CONNS ports are taken, so this ends quickly. */
	for (;;) {
		uint32_t p = ((m->local_port_last + 1) & ~(1U << 31)) | (1U << 30);

		m->local_port_last = p;
		if (!lookup(m, p, c->peer_port)) {
			c->local_port = p;
			hash_add(m, c);
			return;
		}
	}
}

static void accept_clients(struct vsock_mux *m)
{
	while (m->active && m->nr_conns < VSOCK_MAX_CONNS) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				m->m.host_errors++;
				log_warn("vsock: accept: errno %d", errno);
			}
			return;
		}
		c = conn_alloc(m, fd);
		c->state = VC_HANDSHAKE;
		vsock_mux_set_deadline(m, c, m->connect_ms);
		vsock_mux_update(m, c);
	}
}

void vsock_mux_poll(struct vsock_mux *m)
{
	struct epoll_event evs[64];
	int n;

	/* Bounded: the outer (level-triggered) loop calls again if more remain. */
	for (int round = 0; round < 8; round++) {
		n = epoll_wait(m->epfd, evs, 64, 0);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			uint64_t key = evs[i].data.u64;
			uint32_t slot = (uint32_t)key;
			struct vsock_conn *c;

			if (key == KEY_LISTEN) {
				accept_clients(m);
				continue;
			}
			if (key == KEY_TIMER) {
				expire(m);
				continue;
			}
			if (slot >= VSOCK_MAX_CONNS)
				continue;
			c = &m->conns[slot];
			if (c->state == VC_FREE || c->gen != (uint32_t)(key >> 32))
				continue; /* killed earlier in this batch */
			vsock_conn_host_event(m, c, evs[i].events);
		}
		if (n < 64)
			return;
	}
}

/* The host end of a guest's connection to port through --vsock-peer: a
 * socketpair, one end sent to the peer with the port and flags, 4 bytes
 * little endian each (contract.h, docs/silo-vmm.md), the other ours. -1
 * when the peer cannot take it (gone, or its queue full): the guest gets a
 * reset, as from a port nobody listens on. */
static int peer_handoff(struct vsock_mux *m, uint32_t port, uint32_t flags)
{
	uint32_t le[2] = { htole32(port), htole32(flags) };
	int sv[2];
	ssize_t n;

	_Static_assert(sizeof(le) == SILO_PEER_MSG_SIZE, "a peer message is port and flags");
	/* blocking at first: the peer's end must be (it serves it with
	 * plain blocking calls); ours is made non-blocking below */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	n = scm_send_fds(m->peer_fd, le, sizeof(le), &sv[1], 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(sv[1]);
	if (n != (ssize_t)sizeof(le) || fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

static bool peer_takes(const struct vsock_mux *m, uint32_t port)
{
	for (unsigned int i = 0; m->peer_fd >= 0 && i < m->nr_peer_ports; i++)
		if (m->peer_ports[i] == port)
			return true;
	return false;
}

/* Guest-initiated connection to (CID 2, port P): through the peer socket
 * when there is one and it takes P; without a peer, a connect to
 * "<path>_<P>" (which the jail's empty root hides). With a peer no path is
 * tried: the event thread then has no connect(2) at all (jail/seccomp.h
 * says why). A listener given as fd:N has no path: only the peer's ports
 * answer. */
static void peer_connect(struct vsock_mux *m, const struct vsock_pkt *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	/* on the CONNECT port we take the destination's socket back */
	uint32_t flags = p->dst_port == SILO_NET_PORT_CONNECT ? SILO_PEER_TAKES_SOCKET : 0;
	int fd, n;

	if (m->nr_conns >= VSOCK_MAX_CONNS) {
		m->m.conn_limit++;
		vsock_mux_queue_rst(m, p->dst_port, p->src_port);
		return;
	}
	if (peer_takes(m, p->dst_port)) {
		fd = peer_handoff(m, p->dst_port, flags);
		if (fd < 0) {
			vsock_mux_queue_rst(m, p->dst_port, p->src_port);
			return;
		}
	} else if (m->peer_fd >= 0) {
		vsock_mux_queue_rst(m, p->dst_port, p->src_port);
		return;
	} else {
		n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", m->path, p->dst_port);
		fd = m->path[0] ? socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
				: -1;
		if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || fd < 0 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			/* Nobody listens (or the backlog is full): refuse,
			 * §5.10.6.4. */
			if (fd >= 0)
				close(fd);
			vsock_mux_queue_rst(m, p->dst_port, p->src_port);
			return;
		}
	}
	c = conn_alloc(m, fd);
	c->takes_socket = m->peer_fd >= 0 && (flags & SILO_PEER_TAKES_SOCKET);
	c->state = VC_PEER_INIT;
	c->local_port = p->dst_port;
	c->peer_port = p->src_port;
	c->guest_knows = true;
	c->cr.peer_buf_alloc = p->buf_alloc;
	c->cr.peer_fwd_cnt = p->fwd_cnt;
	c->pending = VC_PEND_RESPONSE;
	hash_add(m, c);
	vsock_mux_update(m, c);
}

void vsock_mux_guest_pkt(struct vsock_mux *m, const struct vsock_pkt *p, const struct iovec *iov,
			 unsigned int cnt, size_t skip, uint32_t avail)
{
	enum vsock_pkt_verdict v = vsock_pkt_check(p, m->guest_cid, avail);
	struct vsock_conn *c;

	m->m.pkts_from_guest++;
	if (v == VSOCK_PKT_BAD_SRC_CID) {
		vsock_mux_guest_err(m, &m->m.bad_src_cid, vsock_pkt_verdict_str(v));
		return;
	}
	c = lookup(m, p->dst_port, p->src_port);
	if (v != VSOCK_PKT_OK) {
		vsock_mux_guest_err(m, &m->m.bad_pkt, vsock_pkt_verdict_str(v));
		if (c)
			vsock_mux_kill(m, c, true);
		else if (p->op != VIRTIO_VSOCK_OP_RST)
			vsock_mux_queue_rst(m, p->dst_port, p->src_port);
		return;
	}
	if (p->op == VIRTIO_VSOCK_OP_RW)
		m->m.bytes_from_guest += p->len;
	if (c)
		vsock_conn_guest_pkt(m, c, p, iov, cnt, skip);
	else if (p->op == VIRTIO_VSOCK_OP_REQUEST)
		peer_connect(m, p);
	else if (p->op != VIRTIO_VSOCK_OP_RST)
		vsock_mux_queue_rst(m, p->dst_port, p->src_port); /* §5.10.6.6: unknown stream */
}

bool vsock_mux_tx_stalled(const struct vsock_mux *m)
{
	/* Each guest packet queues at most one RST; keep half the ring for
	 * host-side kills so those are never dropped because of guest TX. */
	return m->rst_count >= VSOCK_RST_RING / 2;
}

bool vsock_mux_rx_ready(struct vsock_mux *m, struct vsock_rx_next *n)
{
	if (m->rst_count) {
		*n = (struct vsock_rx_next){ .slot = -1, .op = VIRTIO_VSOCK_OP_RST };
		return true;
	}
	while (m->rx_head >= 0) {
		struct vsock_conn *c = &m->conns[m->rx_head];
		uint32_t avail;
		uint16_t op = vsock_conn_rx_next(m, c, &avail);

		if (op) {
			*n = (struct vsock_rx_next){ .slot = slot_of(m, c),
						     .op = op,
						     .avail = avail };
			return true;
		}
		rxq_del(m, c); /* nothing after all (or killed: already gone) */
	}
	return false;
}

uint32_t vsock_mux_rx_fill(struct vsock_mux *m, const struct vsock_rx_next *n,
			   const struct iovec *iov, unsigned int cnt, uint32_t space)
{
	struct iovec data[VQ_MAX_SIZE];
	struct virtio_vsock_hdr h;
	struct vsock_pkt p;
	uint32_t len = 0;

	if (n->slot < 0) {
		struct vsock_rst r = m->rst[m->rst_head];

		m->rst_head = (m->rst_head + 1) % VSOCK_RST_RING;
		m->rst_count--;
		p = (struct vsock_pkt){ .src_cid = VSOCK_HOST_CID,
					.dst_cid = m->guest_cid,
					.src_port = r.local_port,
					.dst_port = r.peer_port,
					.type = VIRTIO_VSOCK_TYPE_STREAM,
					.op = VIRTIO_VSOCK_OP_RST };
		m->m.rst_to_guest++;
	} else {
		struct vsock_conn *c = &m->conns[n->slot];
		unsigned int dn = iov_slice(iov, cnt > VQ_MAX_SIZE ? VQ_MAX_SIZE : cnt,
					    VSOCK_HDR_SIZE, space - VSOCK_HDR_SIZE, data);

		len = vsock_conn_rx_fill(m, c, n->op, n->avail, &p, data, dn,
					 space - VSOCK_HDR_SIZE);
		m->m.bytes_to_guest += len;
		/* Round robin: a busy stream goes to the back of the queue. */
		if (c->in_rxq) {
			rxq_del(m, c);
			if (c->pending)
				rxq_add(m, c);
		}
	}
	m->m.pkts_to_guest++;
	vsock_hdr_encode(&p, &h);
	buf_to_iov(iov, cnt, 0, &h, sizeof(h));
	return VSOCK_HDR_SIZE + len;
}

int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, const char *path)
{
	struct epoll_event e = { .events = 0, .data.u64 = KEY_LISTEN };
	int ret;

	memset(m, 0, sizeof(*m));
	m->listen_fd = m->epfd = m->timer_fd = m->peer_fd = -1;
	/* Room for "_<u32 port>" of guest-initiated connections too. */
	if (!path || !*path || strlen(path) + 11 >= sizeof(m->path))
		return err_ret(-ENAMETOOLONG, "vsock: socket path too long (max %zu bytes)",
			       sizeof(m->path) - 12);
	/* fd:N, the launcher's listener: no path (peer_connect). */
	if (!fdarg_is_fd(path))
		strcpy(m->path, path);
	m->guest_cid = guest_cid;
	m->local_port_last = VSOCK_LOCAL_PORT_FIRST - 1;
	m->connect_ms = VSOCK_CONNECT_TIMEOUT_MS;
	m->rx_head = m->rx_tail = -1;
	for (unsigned int i = 0; i < VSOCK_HASH_SIZE; i++)
		m->hash[i] = -1;
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		m->conns[i].fd = -1;
		m->conns[i].hnext = i + 1 < VSOCK_MAX_CONNS ? i + 1 : -1;
	}
	m->free_head = 0;
	m->listen_fd = fdarg_listen(path, 128);
	if (m->listen_fd < 0)
		return err_ret(m->listen_fd, "vsock: listen on %s", path);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->epfd < 0 || m->timer_fd < 0 ||
	    epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->listen_fd, &e) < 0) {
		ret = err_ret(-errno, "vsock: epoll/timerfd setup");
		goto err;
	}
	e = (struct epoll_event){ .events = EPOLLIN, .data.u64 = KEY_TIMER };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->timer_fd, &e) < 0) {
		ret = err_ret(-errno, "vsock: epoll add timer");
		goto err;
	}
	return 0;
err:
	vsock_mux_fini(m);
	return ret;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		vsock_mux_kill(m, &m->conns[i], false);
	m->rst_head = m->rst_count = 0;
	if (m->timer_fd >= 0)
		timer_arm(m, 0);
}

void vsock_mux_set_active(struct vsock_mux *m, bool active)
{
	m->active = active;
	if (m->listen_fd >= 0)
		listener_update(m);
}

void vsock_mux_fini(struct vsock_mux *m)
{
	vsock_mux_reset(m);
	if (m->listen_fd >= 0) {
		close(m->listen_fd);
		if (m->path[0])
			unlink(m->path);
	}
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->peer_fd >= 0)
		close(m->peer_fd);
	if (m->timer_fd >= 0)
		close(m->timer_fd);
	m->listen_fd = m->epfd = m->timer_fd = -1;
}

void vsock_mux_metrics_json(const struct vsock_mux *m, FILE *f)
{
#define M(x) "\"" #x "\":%llu"
#define V(x) (unsigned long long)m->m.x
	fprintf(f,
		"{" M(conns) "," M(conns_added) "," M(conns_removed) "," M(conn_limit) "," M(pkts_from_guest) "," M(pkts_to_guest) "," M(bytes_from_guest) "," M(bytes_to_guest) "," M(rst_to_guest) "," M(
			rst_dropped) "," M(credit_updates) "," M(credit_requests) "," M(bad_pkt) "," M(bad_src_cid) "," M(bad_connect_line) "," M(txbuf_overflow) "," M(timeouts) "," M(host_errors) "," M(sockets_taken) "}",
		(unsigned long long)m->nr_conns, V(conns_added), V(conns_removed), V(conn_limit),
		V(pkts_from_guest), V(pkts_to_guest), V(bytes_from_guest), V(bytes_to_guest),
		V(rst_to_guest), V(rst_dropped), V(credit_updates), V(credit_requests), V(bad_pkt),
		V(bad_src_cid), V(bad_connect_line), V(txbuf_overflow), V(timeouts), V(host_errors),
		V(sockets_taken));
#undef M
#undef V
}
