/* netfwd.c: the guest's network daemon: TCP forwarder, published ports.
 *
 * Runs in a child of PID 1 (net.c restarts it if it dies), never in PID 1
 * itself: it parses what guest programs and the host send it.
 *
 *   0.0.0.0:15001 TCP   where iptables REDIRECTs outbound TCP (net.c). The
 *                       original destination (SO_ORIGINAL_DST, from the
 *                       connection tracking entry) goes to the host broker
 *                       in a CONNECT header on vsock port 1080; on its reply
 *                       "connected" bytes flow both ways, on anything else
 *                       the client is reset.
 *   vsock port 1025     published ports: the host sends a FORWARD header,
 *                       we connect to 127.0.0.1:PORT and answer with a reply
 *                       header, then bytes flow both ways.
 *   192.0.2.3:53        the DNS stub (netdns.c).
 *
 * Headers: src/net/wire.h. The host is CID 2 (VMADDR_CID_HOST, vsock(7)).
 */
#include "agent/agent.h"
#include "agent/netfwd.h"
#include "net/acceptors.h"
#include "net/wire.h"
#include "net/workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* linux/netfilter_ipv4.h; that header drags in the kernel's own netinet
 * definitions, which clash with the C library's. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

#define RELAY_BUF	      65536 /* per direction: vsock's largest packet */
#define TASK_STACK	      (128 * 1024)
#define NETFWD_IDLE_WORKERS   8 /* threads kept for the next tasks */
#define NETFWD_WORKER_IDLE_MS 30000
#define REPLY_TMO_MS	      30000 /* the broker dials for up to 10 s */
#define FORWARD_HDR_TMO_MS    10000 /* the host sends the header at once */
#define LOCAL_CONNECT_TMO_MS  5000  /* 127.0.0.1: immediate unless overloaded */

static atomic_int tasks;
static struct workers workers; /* the tasks' threads (net/workers.h) */

/* ---- helpers shared with netdns.c ---- */

int netfwd_spawn(void *(*fn)(void *), void *arg)
{
	if (atomic_fetch_add(&tasks, 1) >= NETFWD_MAX_TASKS || workers_run(&workers, fn, arg) < 0) {
		atomic_fetch_sub(&tasks, 1);
		return -1;
	}
	return 0;
}

void netfwd_task_done(void)
{
	atomic_fetch_sub(&tasks, 1);
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int netfwd_read_full(int fd, void *buf, size_t n, int ms)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int rc = wait_fd(fd, POLLIN, ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int netfwd_write_full(int fd, const void *buf, size_t n, int ms)
{
	size_t put = 0;

	while (put < n) {
		ssize_t w = send(fd, (const uint8_t *)buf + put, n - put, MSG_NOSIGNAL);
		if (w > 0) {
			put += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int rc = wait_fd(fd, POLLOUT, ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A non-blocking connect in progress, given ms to end: 0 or -errno. */
static int connect_wait(int fd, int ms)
{
	int err = 0, rc = wait_fd(fd, POLLOUT, ms);
	socklen_t el = sizeof(err);

	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

/* A non-blocking connect bounded by ms: 0 or -errno. */
static int connect_tmo(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	return connect_wait(fd, ms);
}

int netfwd_vsock_start(unsigned port, bool *done)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_HOST,
				 .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	*done = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (!*done && errno != EINPROGRESS && errno != EINTR) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int netfwd_vsock_connect(unsigned port)
{
	bool done;
	int rc, fd = netfwd_vsock_start(port, &done);

	if (fd < 0 || done)
		return fd;
	if ((rc = connect_wait(fd, NETFWD_VSOCK_TMO_MS)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

void netfwd_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One direction of a relay: bytes read from `from` waiting for `to`. */
struct half {
	int from, to;
	size_t off, len;
	bool eof;  /* `from` ended */
	bool done; /* ... and `to` got everything and its shutdown */
	uint8_t buf[RELAY_BUF];
};

static void half_init(struct half *h, int from, int to)
{
	h->from = from;
	h->to = to;
	h->off = h->len = 0;
	h->eof = h->done = false;
}

/* Move what can move without blocking: -1 on an error, else 0. */
static int half_step(struct half *h)
{
	if (!h->eof && h->len == 0) {
		ssize_t r = read(h->from, h->buf, sizeof(h->buf));
		if (r > 0) {
			h->off = 0;
			h->len = (size_t)r;
		} else if (r == 0) {
			h->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	while (h->len > 0) {
		ssize_t w = send(h->to, h->buf + h->off, h->len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		h->off += (size_t)w;
		h->len -= (size_t)w;
	}
	if (h->eof && h->len == 0 && !h->done) {
		/* ENOTCONN: the other side is already gone both ways;
                 * the other direction will notice. */
		shutdown(h->to, SHUT_WR);
		h->done = true;
	}
	return 0;
}

int netfwd_relay(int a, int b, int idle_ms)
{
	struct half *ab = malloc(2 * sizeof(*ab)), *ba = ab + 1; /* 128 KiB: not on the stack */
	int rc = -1;

	if (!ab)
		return -1;
	/* the fields only: zeroing the buffers would touch every page of
	 * them, a cost each short connection would pay for bytes it never
	 * moves */
	half_init(ab, a, b);
	half_init(ba, b, a);
	for (;;) {
		if (half_step(ab) < 0 || half_step(ba) < 0)
			break;
		if (ab->done && ba->done) {
			rc = 0;
			break;
		}
		struct pollfd p[2] = { { .fd = a }, { .fd = b } };
		if (!ab->eof && ab->len == 0)
			p[0].events |= POLLIN;
		if (ab->len > 0)
			p[1].events |= POLLOUT;
		if (!ba->eof && ba->len == 0)
			p[1].events |= POLLIN;
		if (ba->len > 0)
			p[0].events |= POLLOUT;
		int n = poll(p, 2, idle_ms);
		if (n == 0 || (n < 0 && errno != EINTR))
			break; /* idle too long, or poll failed */
		/* A reset socket reports POLLERR even when we asked it for
                 * nothing (its direction waits on the other side): without
                 * this check the loop would spin until the other side moved. */
		if (n > 0 && ((p[0].revents | p[1].revents) & POLLERR))
			break;
	}
	free(ab);
	return rc;
}

/* ---- the forwarder: redirected TCP -> CONNECT on vsock 1080 ---- */

/* Spare streams: a vsock stream to the broker's CONNECT port costs a round
 * trip through silo-vmm to open (REQUEST, RESPONSE: VIRTIO 1.2 §5.10.6.4),
 * most of what a connection waits for before its first byte. So the stream
 * for the next connection is opened ahead, while the current one is being
 * served, and kept SPARE_MAX_MS at most: the broker waits NETD_SPARE_MS for
 * a stream's first byte and closes it then, quietly (egress.c). One spare
 * serves programs that connect one after another; a burst opens the rest
 * as it comes. A sandbox that never connects out opens none. */
#define SPARE_MAX_MS 20000

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare_fd = -1;
static int64_t spare_since_ms;
static bool refilling;

/* Has the broker ended this stream (an EOF, a reset, or bytes it should
 * not have sent before our header)? */
static bool spare_dead(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

/* The spare stream if it is still open, or -1. */
static int spare_take(void)
{
	int fd;
	int64_t since;

	pthread_mutex_lock(&spare_lock);
	fd = spare_fd;
	since = spare_since_ms;
	spare_fd = -1;
	pthread_mutex_unlock(&spare_lock);
	if (fd >= 0 && (agent_now_ms() - since >= SPARE_MAX_MS || spare_dead(fd))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void *spare_refill(void *arg)
{
	int fd = netfwd_vsock_connect(SILO_NET_PORT_CONNECT);

	(void)arg;
	pthread_mutex_lock(&spare_lock);
	if (fd >= 0 && spare_fd < 0) {
		spare_fd = fd;
		spare_since_ms = agent_now_ms();
		fd = -1;
	}
	refilling = false;
	pthread_mutex_unlock(&spare_lock);
	if (fd >= 0)
		close(fd);
	netfwd_task_done();
	return NULL;
}

/* After a connection took a stream: open the next one in the background. */
static void spare_kick(void)
{
	bool go;

	pthread_mutex_lock(&spare_lock);
	go = !refilling && spare_fd < 0;
	refilling |= go;
	pthread_mutex_unlock(&spare_lock);
	if (go && netfwd_spawn(spare_refill, NULL) < 0) {
		pthread_mutex_lock(&spare_lock);
		refilling = false;
		pthread_mutex_unlock(&spare_lock);
	}
}

/* Pipelining: the broker reads the CONNECT header alone, decides and dials,
 * and only then relays what follows it (egress.c). So the client's first
 * bytes need not wait for its reply: they go with the header (in the same
 * write, when the client has sent them by the time the vsock stream is up,
 * as a client that writes first usually has: HTTP, a TLS ClientHello) or as
 * they come while the reply is awaited, and reach the destination right
 * after the dial instead of a round trip later. At most EARLY_MAX of them,
 * well within the stream's vsock credit, so these writes do not block on a
 * broker that is still dialing. A denied connection's early bytes go
 * unread, with the broker's end of the stream. */
#define EARLY_MAX (64 * 1024)

/* Read what the client has sent (up to len) without waiting: its length,
 * 0 for none yet, -EPIPE once it has half-closed, or -errno. */
static ssize_t client_early(int c, uint8_t *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(c, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n == 0 ? -EPIPE : n;
}

/* Send the header and await the broker's reply into rep, passing the
 * client's bytes on meanwhile. 0 or -errno. A client that half-closes
 * meanwhile is left for the relay, which reads that end again. */
static int connect_pipelined(int c, int v, const uint8_t *hdr, uint8_t *rep, size_t rlen)
{
	uint8_t buf[WIRE_CONNECT_SIZE + 4096];
	size_t got = 0, early = 0;
	bool c_open = true;
	ssize_t n;
	int rc;

	memcpy(buf, hdr, WIRE_CONNECT_SIZE);
	if ((n = client_early(c, buf + WIRE_CONNECT_SIZE, sizeof(buf) - WIRE_CONNECT_SIZE)) < 0 &&
	    n != -EPIPE)
		return (int)n;
	c_open = n != -EPIPE;
	early = n > 0 ? (size_t)n : 0;
	if ((rc = netfwd_write_full(v, buf, WIRE_CONNECT_SIZE + early, REPLY_TMO_MS)) < 0)
		return rc;
	while (got < rlen) {
		/* a negative fd is ignored: a client that ended (POLLHUP on
		 * every poll) or has sent EARLY_MAX waits for the relay */
		bool want = c_open && early < EARLY_MAX;
		struct pollfd p[2] = { { .fd = v, .events = POLLIN },
				       { .fd = want ? c : -1, .events = POLLIN } };
		int k = poll(p, 2, REPLY_TMO_MS);
		if (k == 0)
			return -ETIMEDOUT;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents) {
			n = client_early(c, buf, sizeof(buf));
			if (n == -EPIPE)
				c_open = false;
			else if (n < 0)
				return (int)n;
			else if (n > 0 &&
				 (rc = netfwd_write_full(v, buf, (size_t)n, REPLY_TMO_MS)) < 0)
				return rc;
			early += n > 0 ? (size_t)n : 0;
		}
		if (p[0].revents) {
			n = read(v, rep + got, rlen - got);
			if (n == 0)
				return -EPIPE;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
			got += n > 0 ? (size_t)n : 0;
		}
	}
	return 0;
}

/* One redirected connection, start to end; closes c. */
static void fwd_serve(int c, void *arg)
{
	int v = -1, rc;
	struct sockaddr_in dst, self;
	socklen_t dl = sizeof(dst), sl = sizeof(self);
	struct wire_connect wc = { .family = AF_INET };
	uint8_t hdr[WIRE_CONNECT_SIZE], rep[WIRE_REPLY_SIZE];
	enum wire_status st;
	enum wire_err we;

	(void)arg;
	/* Without a NAT entry SO_ORIGINAL_DST gives the address the client
         * connected to: a connection straight to our port, not a redirected
         * one. Serving it would only ask the broker for ourselves. */
	if (getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &dst, &dl) < 0 || dst.sin_family != AF_INET ||
	    getsockname(c, (struct sockaddr *)&self, &sl) < 0 ||
	    (dst.sin_addr.s_addr == self.sin_addr.s_addr && dst.sin_port == self.sin_port))
		goto reset;
	wc.port = ntohs(dst.sin_port);
	wc.addr.v4 = dst.sin_addr;
	/* Relayed bytes go out as they come, not behind the last write's ACK
	 * (Nagle): the destination's answer was already coalesced, or not, by
	 * its sender. The host's socket to it is TCP_NODELAY too. */
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (wire_connect_encode(&wc, hdr) != WIRE_OK)
		goto reset;
	if ((v = spare_take()) < 0 && (v = netfwd_vsock_connect(SILO_NET_PORT_CONNECT)) < 0)
		goto reset; /* no broker on the host: the sandbox has no network */
	rc = connect_pipelined(c, v, hdr, rep, sizeof(rep));
	/* the next stream opens now, not before: until the reply came, its
	 * handshake would have competed with this connection's for the CPU */
	spare_kick();
	if (rc < 0)
		goto reset;
	if ((we = wire_reply_decode(rep, sizeof(rep), &st)) != WIRE_OK) {
		agent_log("net: bad reply from the host broker: %s", wire_strerror(we));
		goto reset;
	}
	if (st != WIRE_CONNECTED)
		goto reset;
	if (netfwd_relay(c, v, -1) < 0)
		goto reset;
	close(c);
	close(v);
	return;
reset:
	netfwd_reset(c);
	if (v >= 0)
		close(v);
}

/* The redirect listener's threads wait in accept(2) and serve what they
 * accept (net/acceptors.h): a new connection wakes one thread, not the
 * accept loop and then a worker, which in a guest is often an IPI to
 * another vCPU and so a VM exit. */
#define FWD_ACCEPTORS 2 /* threads kept waiting in accept(2) */

static struct acceptors fwd_acceptors = {
	.accept_flags = SOCK_CLOEXEC | SOCK_NONBLOCK,
	.idle_max = FWD_ACCEPTORS,
	.serve = fwd_serve,
	.spawn = netfwd_spawn,
	.done = netfwd_task_done,
};

/* ---- published ports: FORWARD on vsock 1025 -> 127.0.0.1:PORT ---- */

static void send_reply(int v, enum wire_status s)
{
	uint8_t rep[WIRE_REPLY_SIZE];

	if (wire_reply_encode(s, rep) == WIRE_OK)
		netfwd_write_full(v, rep, sizeof(rep), FORWARD_HDR_TMO_MS);
}

static void *pub_client(void *arg)
{
	int v = (int)(intptr_t)arg, t = -1, rc;
	uint8_t hdr[WIRE_FORWARD_SIZE];
	uint16_t port;
	enum wire_err we;

	if (netfwd_read_full(v, hdr, sizeof(hdr), FORWARD_HDR_TMO_MS) < 0)
		goto out;
	if ((we = wire_forward_decode(hdr, sizeof(hdr), &port)) != WIRE_OK) {
		agent_log("net: bad FORWARD header from the host: %s", wire_strerror(we));
		send_reply(v, WIRE_BAD_REQUEST);
		goto out;
	}
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	rc = t < 0 ? -errno
		   : connect_tmo(t, (struct sockaddr *)&a, sizeof(a), LOCAL_CONNECT_TMO_MS);
	if (rc < 0) {
		send_reply(v, rc == -ECONNREFUSED ? WIRE_REFUSED
			      : rc == -ETIMEDOUT  ? WIRE_TIMEOUT
						  : WIRE_UNREACHABLE);
		goto out;
	}
	setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)); /* as fwd_serve */
	send_reply(v, WIRE_CONNECTED);
	if (netfwd_relay(v, t, -1) < 0) {
		netfwd_reset(t);
		t = -1;
	}
out:
	if (t >= 0)
		close(t);
	close(v);
	netfwd_task_done();
	return NULL;
}

/* ---- listeners and the accept loop ---- */

/* flags: SOCK_NONBLOCK for a listener served by poll(2), 0 for one whose
 * threads wait in accept(2). */
static int listen_inet(int type, int flags, const char *addr, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return -EINVAL;
	if ((fd = socket(AF_INET, type | SOCK_CLOEXEC | flags, 0)) < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int listen_vsock(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_ANY,
				 .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

enum { L_FWD, L_DNS_UDP, L_DNS_TCP, L_PUB, L_COUNT };

int netfwd_main(void)
{
	static const char *const what[L_COUNT] = {
		[L_FWD] = "forwarder 0.0.0.0:15001",
		[L_DNS_UDP] = "DNS " SILO_NET_DNS_ADDR ":53/udp",
		[L_DNS_TCP] = "DNS " SILO_NET_DNS_ADDR ":53/tcp",
		[L_PUB] = "vsock port 1025",
	};
	struct pollfd p[L_COUNT];
	int fds[L_COUNT], live = 0;

	_Static_assert(SILO_NET_REDIRECT_PORT == 15001 && SILO_NET_PORT_FORWARD == 1025,
		       "the names above");
	int rc = workers_init(&workers, NETFWD_MAX_TASKS, NETFWD_IDLE_WORKERS, TASK_STACK,
			      NETFWD_WORKER_IDLE_MS);
	if (rc < 0) {
		agent_log("net: worker threads: %s", strerror(-rc));
		return 1;
	}
	fds[L_FWD] = listen_inet(SOCK_STREAM, 0, "0.0.0.0", SILO_NET_REDIRECT_PORT);
	fds[L_DNS_UDP] = listen_inet(SOCK_DGRAM, SOCK_NONBLOCK, SILO_NET_DNS_ADDR, 53);
	fds[L_DNS_TCP] = listen_inet(SOCK_STREAM, SOCK_NONBLOCK, SILO_NET_DNS_ADDR, 53);
	fds[L_PUB] = listen_vsock(SILO_NET_PORT_FORWARD);
	/* the UDP stub serves its socket on a thread of its own (netdns.c) */
	if (fds[L_DNS_UDP] >= 0 && (rc = netdns_udp_start(fds[L_DNS_UDP])) < 0) {
		close(fds[L_DNS_UDP]);
		fds[L_DNS_UDP] = rc;
	}
	/* the forwarder's listener has threads of its own (fwd_acceptors) */
	fwd_acceptors.fd = fds[L_FWD];
	if (fds[L_FWD] >= 0 && (rc = acceptors_start(&fwd_acceptors)) < 0) {
		close(fds[L_FWD]);
		fds[L_FWD] = rc;
	}
	for (int i = 0; i < L_COUNT; i++) {
		if (fds[i] < 0)
			agent_log("net: %s: %s", what[i], strerror(-fds[i]));
		else
			live++;
		bool own = i == L_DNS_UDP || i == L_FWD; /* served by threads of their own */
		p[i] = (struct pollfd){ .fd = fds[i] < 0 || own ? -1 : fds[i], .events = POLLIN };
	}
	if (!live)
		return 1;
	agent_log("net: serving (%d of %d listeners)", live, L_COUNT);
	for (;;) {
		if (poll(p, L_COUNT, -1) < 0) {
			if (errno != EINTR) {
				agent_log("net: poll: %s", strerror(errno));
				return 1;
			}
			continue;
		}
		for (int i = 0; i < L_COUNT; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0) {
				/* out of fds: let running tasks end rather
                                 * than spin on a listener that stays ready */
				if (errno == EMFILE || errno == ENFILE)
					usleep(100 * 1000);
				continue;
			}
			void *(*fn)(void *) = i == L_PUB ? pub_client : netdns_tcp_client;
			if (netfwd_spawn(fn, (void *)(intptr_t)c) < 0) {
				if (i == L_PUB) {
					send_reply(c, WIRE_INTERNAL);
					close(c);
				} else {
					netfwd_reset(c);
				}
			}
		}
	}
}
