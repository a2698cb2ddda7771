/* netdns.c: the guest's DNS stub on 192.0.2.3:53, UDP and TCP.
 *
 * It answers nothing itself: every query goes to the host broker over a
 * vsock stream to port 1053, framed as DNS over TCP (RFC 7766 §8: a 2-byte
 * big-endian length, then the message), and the broker's answer comes back
 * the same way. The broker decides (docs/network.md, "DNS").
 *
 *   UDP: one task per datagram. Its query goes on an idle stream kept from
 *        an earlier query when there is one (DNS_IDLE_STREAMS at most, each
 *        idle at most DNS_STREAM_IDLE_MS), else on a new stream: a new
 *        stream costs a vsock handshake through the VMM and a thread in the
 *        broker, most of a lookup's time when the answer is cached on the
 *        host. A kept stream the broker has closed meanwhile ends before any
 *        answer byte: the query is sent again once, on a new stream. An
 *        answer that does not come within DNS_ANSWER_TMO_MS is dropped
 *        (and its stream, whose framing is then unknown): the client
 *        retries on its own schedule (resolv.conf(5) "timeout", 5 s by
 *        default). When the host does not take the connection at all (no
 *        broker: a sandbox without network), the client gets SERVFAIL at
 *        once instead of waiting out its retries.
 *   TCP: the client's stream already has the framing the broker expects,
 *        so it is relayed as it is, until both ends close or it has been
 *        idle DNS_TCP_IDLE_MS.
 */
#include "agent/agent.h"
#include "agent/netfwd.h"
#include "net/dns.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DNS_ANSWER_TMO_MS  5000
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

struct udp_query {
	int ufd; /* the stub's socket: shared, sendto is atomic */
	struct sockaddr_in from;
	size_t len;
	uint8_t msg[DNS_QUERY_MAX];
};

/* SERVFAIL (RFC 1035 §4.1.1 RCODE 2) for a query we could parse; nothing
 * for one we could not: the broker would not have answered it either. */
static void servfail(const struct udp_query *u)
{
	struct dns_query q;
	struct dns_answer a = { .kind = DNS_REPLY_SERVFAIL };
	uint8_t out[DNS_REPLY_MAX];
	long n;

	if (dns_query_parse(u->msg, u->len, &q) != DNS_OK)
		return;
	if ((n = dns_reply_build(&q, &a, out, sizeof(out))) > 0)
		sendto(u->ufd, out, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&u->from,
		       sizeof(u->from));
}

/* Streams to the broker between queries, most recently used last. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int fd;
	int64_t since_ms;
} idle[DNS_IDLE_STREAMS];
static unsigned nidle;

/* A kept stream (*reused = true), or -1 when none is fresh enough. */
static int stream_take(bool *reused)
{
	int fd = -1, stale[DNS_IDLE_STREAMS], nstale = 0;
	int64_t now = agent_now_ms();

	pthread_mutex_lock(&idle_lock);
	while (nidle && fd < 0) {
		nidle--;
		if (now - idle[nidle].since_ms < DNS_STREAM_IDLE_MS)
			fd = idle[nidle].fd;
		else
			stale[nstale++] = idle[nidle].fd;
	}
	pthread_mutex_unlock(&idle_lock);
	while (nstale)
		close(stale[--nstale]);
	*reused = fd >= 0;
	return fd;
}

static void stream_put(int fd)
{
	pthread_mutex_lock(&idle_lock);
	if (nidle < DNS_IDLE_STREAMS) {
		idle[nidle].fd = fd;
		idle[nidle++].since_ms = agent_now_ms();
		fd = -1;
	}
	pthread_mutex_unlock(&idle_lock);
	if (fd >= 0)
		close(fd);
}

/* One query and its answer on stream v. Returns the answer's length (a
 * malloc'd *ans), -EPROTO for a broken answer, -ETIMEDOUT, or another
 * -errno when the stream failed before any answer byte (e.g. a kept stream
 * the broker closed). */
static long ask(int v, const struct udp_query *u, uint8_t **ans)
{
	uint8_t pre[DNS_TCP_PREFIX], q[DNS_TCP_PREFIX + DNS_QUERY_MAX];
	size_t alen;
	int rc;

	/* length and query in one write: one vsock packet, one queue kick */
	if (dns_tcp_put_len(q, u->len) < 0)
		return -EINVAL;
	memcpy(q + DNS_TCP_PREFIX, u->msg, u->len);
	if ((rc = netfwd_write_full(v, q, DNS_TCP_PREFIX + u->len, DNS_ANSWER_TMO_MS)) < 0)
		return rc;
	if ((rc = netfwd_read_full(v, pre, sizeof(pre), DNS_ANSWER_TMO_MS)) < 0)
		return rc;
	alen = (size_t)pre[0] << 8 | pre[1];
	if (alen < 12 || alen > DNS_ANSWER_MAX)
		return -EPROTO;
	if (!(*ans = malloc(alen)))
		return -ENOMEM;
	/* after the length, an early end is not a closed idle stream */
	if ((rc = netfwd_read_full(v, *ans, alen, DNS_ANSWER_TMO_MS)) < 0) {
		free(*ans);
		*ans = NULL;
		return -EPROTO;
	}
	return (long)alen;
}

void *netdns_udp_query(void *arg)
{
	struct udp_query *u = arg;
	uint8_t *ans = NULL;
	bool reused;
	int v = stream_take(&reused);
	long alen;

	for (;;) {
		if (v < 0 && (v = netfwd_vsock_connect(SILO_NET_PORT_DNS)) < 0) {
			servfail(u); /* no broker: this sandbox has no network */
			goto out;
		}
		alen = ask(v, u, &ans);
		/* A kept stream the broker closed fails before any answer
                 * byte, with EPIPE, ECONNRESET or ENOTCONN depending on how
                 * far vsock's shutdown got: once more on a new stream. Not
                 * after a timeout (the client retries by itself) or a
                 * broken answer. */
		if (!reused || alen >= 0 || alen == -ETIMEDOUT || alen == -EPROTO)
			break;
		close(v);
		v = -1;
		reused = false;
	}
	if (alen < 0)
		goto out;
	sendto(u->ufd, ans, (size_t)alen, MSG_NOSIGNAL, (struct sockaddr *)&u->from,
	       sizeof(u->from));
	stream_put(v);
	v = -1;
out:
	if (v >= 0)
		close(v);
	free(ans);
	free(u);
	netfwd_task_done();
	return NULL;
}

void netdns_udp_read(int ufd)
{
	struct udp_query *u = malloc(sizeof(*u));
	socklen_t fl = sizeof(u->from);
	ssize_t n;
	uint8_t scrap;

	if (!u) {
		/* drop the datagram, or poll would report it again at once */
		recv(ufd, &scrap, 1, MSG_DONTWAIT);
		return;
	}
	/* MSG_TRUNC: the real length, so an oversized datagram is seen as
         * one and dropped, not forwarded cut short. */
	n = recvfrom(ufd, u->msg, sizeof(u->msg), MSG_DONTWAIT | MSG_TRUNC,
		     (struct sockaddr *)&u->from, &fl);
	if (n < 12 || (size_t)n > sizeof(u->msg) || u->from.sin_family != AF_INET) {
		free(u); /* no header (RFC 1035 §4.1.1), or not a query we forward */
		return;
	}
	u->ufd = ufd;
	u->len = (size_t)n;
	if (netfwd_spawn(netdns_udp_query, u) < 0)
		free(u); /* too many in flight: the client will retry */
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
