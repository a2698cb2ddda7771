/* netdns.c: the guest's DNS stub on 192.0.2.3:53, UDP and TCP.
 *
 * It answers nothing itself: every query goes to the host broker over a
 * vsock stream to port 1053, framed as DNS over TCP (RFC 7766 §8: a 2-byte
 * big-endian length, then the message), and the broker's answer comes back
 * the same way. The broker decides (docs/network.md, "DNS").
 *
 *   UDP: one thread of its own owns the socket and the streams, and relays
 *        each datagram itself: a hand-off to a worker thread per query (a
 *        wake-up, a lock, an allocation) cost more than the vsock round
 *        trip in a guest where every context switch is a VM exit. One
 *        query in flight per stream, so an answer is matched to its client
 *        by its stream; DNS_STREAMS_MAX in flight at most (beyond that,
 *        datagrams wait in the socket's buffer). A query goes at once on an
 *        idle stream kept from an earlier query when there is one
 *        (DNS_IDLE_STREAMS at most, each idle at most DNS_STREAM_IDLE_MS),
 *        else on a new stream, whose connect does not block the others: a
 *        new stream costs a vsock handshake through the VMM and a thread in
 *        the broker, most of a lookup's time when the answer is cached on
 *        the host. A kept stream the broker closes is closed as soon as
 *        that is seen; one it closed just as a query went on it ends before
 *        any answer byte: the query is sent again once, on a new stream. An
 *        answer that does not come within DNS_ANSWER_TMO_MS is dropped
 *        (and its stream, whose framing is then unknown): the client
 *        retries on its own schedule (resolv.conf(5) "timeout", 5 s by
 *        default). When the host does not take the connection at all (no
 *        broker: a sandbox without network), the client gets SERVFAIL at
 *        once instead of waiting out its retries.
 *   TCP: the client's stream already has the framing the broker expects,
 *        so it is relayed as it is (a worker thread per client, netfwd.c),
 *        until both ends close or it has been idle DNS_TCP_IDLE_MS.
 */
#include "agent/agent.h"
#include "agent/netfwd.h"
#include "net/dns.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_ANSWER_TMO_MS  5000
#define DNS_STREAMS_MAX	   32 /* UDP queries in flight, one per stream */
#define DNS_IDLE_STREAMS   4
/* below the broker's NETD_DNS_IDLE_MS (60 s), so a kept stream is rarely
 * one the broker is closing */
#define DNS_STREAM_IDLE_MS 30000
/* RFC 7766 §6.2.3: servers should close idle connections after "a few
 * seconds"; a client sends its queries at once. */
#define DNS_TCP_IDLE_MS	   10000
/* The broker's answers fit 512 octets (dns.h DNS_REPLY_MAX); anything
 * longer than this is not an answer of its and is dropped. */
#define DNS_ANSWER_MAX	   4096u
#define DNS_THREAD_STACK   (64 * 1024) /* a few KiB of buffers and pollfds */

/* One stream to the broker and the query it carries, if any. */
enum slot_state {
	SLOT_FREE,	 /* no stream */
	SLOT_IDLE,	 /* kept between queries */
	SLOT_CONNECTING, /* opening for the query in q */
	SLOT_BUSY,	 /* the query in q written (qoff of qlen so far), its answer due */
};

struct slot {
	enum slot_state st;
	int fd;			 /* open unless SLOT_FREE */
	bool reused;		 /* the query went on a kept stream: it may be sent once more */
	int64_t when_ms;	 /* IDLE: since; CONNECTING, BUSY: the deadline */
	struct sockaddr_in from; /* the client */
	size_t qlen, qoff;	 /* q: the length prefix and the query */
	size_t got, need;	 /* a: the answer's prefix, then its message */
	uint8_t q[DNS_TCP_PREFIX + DNS_QUERY_MAX];
	uint8_t a[DNS_TCP_PREFIX + DNS_ANSWER_MAX];
};

/* Owned by the DNS thread alone: no locks. ~165 KiB, touched only as far as
 * the streams in use need (static: pages never used are never mapped). */
static struct slot slots[DNS_STREAMS_MAX];
static int ufd = -1; /* the stub's UDP socket */

/* SERVFAIL (RFC 1035 §4.1.1 RCODE 2) for a query we could parse; nothing
 * for one we could not: the broker would not have answered it either. */
static void servfail(const struct slot *s)
{
	struct dns_query q;
	struct dns_answer a = { .kind = DNS_REPLY_SERVFAIL };
	uint8_t out[DNS_REPLY_MAX];
	long n;

	if (dns_query_parse(s->q + DNS_TCP_PREFIX, s->qlen - DNS_TCP_PREFIX, &q) != DNS_OK)
		return;
	if ((n = dns_reply_build(&q, &a, out, sizeof(out))) > 0)
		sendto(ufd, out, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&s->from,
		       sizeof(s->from));
}

/* fd is open in every state but SLOT_FREE. */
static void slot_close(struct slot *s)
{
	if (s->st != SLOT_FREE)
		close(s->fd);
	s->st = SLOT_FREE;
}

/* The most recently used kept stream still fresh enough, or NULL; staler
 * ones are closed on the way. */
static struct slot *take_idle(int64_t now)
{
	struct slot *best = NULL;

	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++) {
		struct slot *s = &slots[i];
		if (s->st != SLOT_IDLE)
			continue;
		if (now - s->when_ms >= DNS_STREAM_IDLE_MS)
			slot_close(s);
		else if (!best || s->when_ms > best->when_ms)
			best = s;
	}
	return best;
}

static struct slot *free_slot(void)
{
	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++)
		if (slots[i].st == SLOT_FREE)
			return &slots[i];
	return NULL;
}

/* After the answer went to its client: keep the stream for the next query
 * (DNS_IDLE_STREAMS at most), or close it. */
static void slot_done(struct slot *s, int64_t now)
{
	unsigned nidle = 0;

	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++)
		nidle += slots[i].st == SLOT_IDLE;
	if (nidle >= DNS_IDLE_STREAMS) {
		slot_close(s);
		return;
	}
	s->st = SLOT_IDLE;
	s->when_ms = now;
}

static void slot_busy(struct slot *s, int64_t now);

/* The query in s goes on a new stream. The connect does not wait: the
 * handshake's round trip through the VMM is polled for with the other
 * streams, so other queries carry on meanwhile. */
static void slot_open(struct slot *s, int64_t now)
{
	bool done;

	s->reused = false;
	if ((s->fd = netfwd_vsock_start(SILO_NET_PORT_DNS, &done)) < 0) {
		servfail(s); /* no broker: this sandbox has no network */
		return;
	}
	s->st = SLOT_CONNECTING;
	s->when_ms = now + NETFWD_VSOCK_TMO_MS;
	if (done)
		slot_busy(s, now);
}

/* The stream failed before any answer byte. A kept stream the broker closed
 * meanwhile does that, with EPIPE, ECONNRESET or ENOTCONN depending on how
 * far vsock's shutdown got: the query goes once more on a new stream. Not
 * after a timeout (the client retries by itself) or a broken answer. */
static void slot_failed(struct slot *s, int64_t now)
{
	bool again = s->reused;

	slot_close(s);
	if (again)
		slot_open(s, now);
}

/* Write what is left of the query; the rest when POLLOUT says so. */
static void slot_send(struct slot *s, int64_t now)
{
	while (s->qoff < s->qlen) {
		ssize_t w =
			send(s->fd, s->q + s->qoff, s->qlen - s->qoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			s->qoff += (size_t)w;
		} else if (errno != EINTR) {
			if (errno != EAGAIN)
				slot_failed(s, now);
			return;
		}
	}
}

/* The stream is up: the query goes now, and its answer is due within
 * DNS_ANSWER_TMO_MS. */
static void slot_busy(struct slot *s, int64_t now)
{
	s->st = SLOT_BUSY;
	s->when_ms = now + DNS_ANSWER_TMO_MS;
	slot_send(s, now);
}

/* Read what has come of the answer; pass it on once complete. One read
 * usually brings all of it, length and message. */
static void slot_recv(struct slot *s, int64_t now)
{
	for (;;) {
		ssize_t r = read(s->fd, s->a + s->got, sizeof(s->a) - s->got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (s->got == 0)
				slot_failed(s, now);
			else
				slot_close(s); /* after the length: a broken answer */
			return;
		}
		s->got += (size_t)r;
		if (s->need == DNS_TCP_PREFIX && s->got >= DNS_TCP_PREFIX) {
			size_t alen = (size_t)s->a[0] << 8 | s->a[1];
			if (alen < 12 || alen > DNS_ANSWER_MAX) {
				slot_close(s); /* its framing is lost with it */
				return;
			}
			s->need += alen;
		}
		if (s->got >= s->need)
			break;
	}
	sendto(ufd, s->a + DNS_TCP_PREFIX, s->need - DNS_TCP_PREFIX, MSG_NOSIGNAL,
	       (const struct sockaddr *)&s->from, sizeof(s->from));
	if (s->got > s->need)
		slot_close(s); /* bytes nobody asked for: not a stream to keep */
	else
		slot_done(s, now);
}

/* A stream's poll events, by its state. */
static void slot_event(struct slot *s, int64_t now)
{
	int err = 0;
	socklen_t el = sizeof(err);

	switch (s->st) {
	case SLOT_IDLE:
		/* the broker ended a kept stream (or sent what nobody asked
		 * for): closed now rather than found dead by the next query */
		slot_close(s);
		break;
	case SLOT_CONNECTING:
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			servfail(s); /* no broker: this sandbox has no network */
			slot_close(s);
		} else {
			slot_busy(s, now);
		}
		break;
	case SLOT_BUSY:
		if (s->qoff < s->qlen)
			slot_send(s, now);
		else
			slot_recv(s, now);
		break;
	case SLOT_FREE:
		break;
	}
}

/* A query read from the UDP socket: on a kept stream at once, else on a
 * new one. The caller made sure a slot is free or idle. */
static void query_start(const struct sockaddr_in *from, size_t len, const uint8_t *msg, int64_t now)
{
	struct slot *s = take_idle(now);
	bool reused = s != NULL;

	if (!s && !(s = free_slot()))
		return; /* not reached: the caller checked */
	s->from = *from;
	dns_tcp_put_len(s->q, len);
	memcpy(s->q + DNS_TCP_PREFIX, msg, len);
	s->qlen = DNS_TCP_PREFIX + len;
	s->qoff = s->got = 0;
	s->need = DNS_TCP_PREFIX;
	if (!reused) {
		slot_open(s, now);
		return;
	}
	s->reused = true;
	slot_busy(s, now);
}

/* Read one datagram, if there is one. */
static void query_read(int64_t now)
{
	uint8_t msg[DNS_QUERY_MAX];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	/* MSG_TRUNC: the real length, so an oversized datagram is seen as
	 * one and dropped, not forwarded cut short. */
	ssize_t n = recvfrom(ufd, msg, sizeof(msg), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &fl);

	/* no header (RFC 1035 §4.1.1), or not a query we forward */
	if (n >= 12 && (size_t)n <= sizeof(msg) && from.sin_family == AF_INET)
		query_start(&from, (size_t)n, msg, now);
}

/* Streams the stub may still use: free or idle ones. */
static bool have_room(void)
{
	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++)
		if (slots[i].st == SLOT_FREE || slots[i].st == SLOT_IDLE)
			return true;
	return false;
}

/* What each stream waits for, and how long poll may sleep. */
static nfds_t poll_set(struct pollfd *p, struct slot **of, int64_t now, int *ms)
{
	nfds_t n = 1;
	int64_t first = -1;

	/* No room: datagrams wait in the socket's buffer until a stream is
	 * free, instead of being read and dropped. */
	p[0] = (struct pollfd){ .fd = have_room() ? ufd : -1, .events = POLLIN };
	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++) {
		struct slot *s = &slots[i];
		short ev = POLLIN;
		if (s->st == SLOT_FREE)
			continue;
		if (s->st == SLOT_CONNECTING || (s->st == SLOT_BUSY && s->qoff < s->qlen))
			ev = POLLOUT;
		if (s->st != SLOT_IDLE && (first < 0 || s->when_ms < first))
			first = s->when_ms;
		of[n] = s;
		p[n++] = (struct pollfd){ .fd = s->fd, .events = ev };
	}
	*ms = first < 0 ? -1 : first <= now ? 0 : (int)(first - now);
	return n;
}

/* Queries whose stream or answer took too long. */
static void expire(int64_t now)
{
	for (unsigned i = 0; i < DNS_STREAMS_MAX; i++) {
		struct slot *s = &slots[i];
		if (s->st == SLOT_CONNECTING && now >= s->when_ms)
			servfail(s); /* the host does not take the stream */
		if ((s->st == SLOT_CONNECTING || s->st == SLOT_BUSY) && now >= s->when_ms)
			slot_close(s); /* with the stream, whose framing is unknown */
	}
}

static void *udp_serve(void *arg)
{
	struct pollfd p[1 + DNS_STREAMS_MAX];
	struct slot *of[1 + DNS_STREAMS_MAX];

	(void)arg;
	for (;;) {
		int ms;
		nfds_t n = poll_set(p, of, agent_now_ms(), &ms);
		if (poll(p, n, ms) < 0 && errno != EINTR) {
			/* as when the accept loop fails: the daemon ends, and
			 * its supervisor (net.c) starts it again */
			agent_log("net: DNS poll: %s", strerror(errno));
			exit(1);
		}
		int64_t now = agent_now_ms();
		for (nfds_t i = 1; i < n; i++)
			if (p[i].revents)
				slot_event(of[i], now);
		expire(now);
		/* one datagram per round: poll reports the next one at once,
		 * and a read that would find none is not made */
		if ((p[0].revents & POLLIN) && have_room())
			query_read(now);
	}
}

int netdns_udp_start(int fd)
{
	pthread_attr_t at;
	pthread_t t;
	int rc;

	ufd = fd; /* and every slot SLOT_FREE (0), as static */
	if ((rc = pthread_attr_init(&at)) != 0)
		return -rc;
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, DNS_THREAD_STACK);
	rc = pthread_create(&t, &at, udp_serve, NULL);
	pthread_attr_destroy(&at);
	return -rc;
}

void *netdns_tcp_client(void *arg)
{
	int c = (int)(intptr_t)arg;
	int v = netfwd_vsock_connect(SILO_NET_PORT_DNS);

	if (v < 0 || netfwd_relay(c, v, DNS_TCP_IDLE_MS) < 0)
		netfwd_reset(c);
	else
		close(c);
	if (v >= 0)
		close(v);
	netfwd_task_done();
	return NULL;
}
