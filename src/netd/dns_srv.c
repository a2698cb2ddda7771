/* src/netd/dns_srv.c: the guest's DNS queries (vsock port 1053).
 *
 * DNS-over-TCP framing (RFC 7766 §8) on a stream that may carry many
 * queries. Each query: parse (dns.c), ask the policy about the name, and
 * answer as in docs/network.md "DNS": an allowed A question gets a synthetic
 * address from the pool once the host's resolver knows the name; a denied
 * name gets REFUSED and is never sent upstream. getaddrinfo blocks, which
 * is why each stream has its own thread. The guest keeps a few streams open
 * and reuses them, so a stream usually carries many queries, one at a time.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/dns.h"
#include "netd/netd.h"

#define REASON_MAX 512

/* Does the host's resolver know name? Only whether it resolves; the
 * addresses are kept (resolve.c) for the connection that usually follows,
 * and checked then. */
static enum dns_reply_kind host_resolves(struct netd *n, const char *name, const char **why)
{
	struct net_addr a[NETD_RESOLVE_ADDRS];
	int r = netd_resolve(n, name, a, NETD_RESOLVE_ADDRS);

	if (r > 0)
		return DNS_REPLY_A;
	*why = gai_strerror(r);
	/* EAI_NODATA: the name exists without an address of a wanted family;
         * for an A query that is "no such address", which the guest handles
         * like NXDOMAIN. Anything else is the resolver failing. */
	if (r == EAI_NONAME || r == EAI_NODATA)
		return DNS_REPLY_NXDOMAIN;
	return DNS_REPLY_SERVFAIL;
}

/* The answer to one well-formed query; logs the decision. */
static void plan_answer(struct netd *n, const struct dns_query *q, struct dns_answer *a)
{
	struct net_decision d;
	char r[REASON_MAX], line[REASON_MAX + 96];
	enum dns_plan plan = dns_query_plan(q);
	bool ok;

	if (plan == DNS_PLAN_REFUSE) {
		snprintf(line, sizeof(line), "query type %u class %u not served", q->qtype,
			 q->qclass);
		netd_log_decision(n, false, "dns", q->name, NULL, line);
		a->kind = DNS_REPLY_REFUSED;
		return;
	}
	pthread_rwlock_rdlock(&n->policy_lock);
	ok = net_decide_name(n->policy, q->name, 0, &d) == NET_ALLOW;
	net_decision_format(&d, r, sizeof(r));
	pthread_rwlock_unlock(&n->policy_lock);
	if (!ok) {
		netd_log_decision(n, false, "dns", q->name, NULL, netd_reason_tail(r));
		a->kind = DNS_REPLY_REFUSED;
		return;
	}
	if (plan == DNS_PLAN_NODATA) {
		a->kind = DNS_REPLY_NODATA;
		snprintf(line, sizeof(line), "%s; type %u: no data (IPv4 only)",
			 netd_reason_tail(r), q->qtype);
		netd_log_decision(n, true, "dns", q->name, NULL, line);
		return;
	}
	const char *why = NULL;
	a->kind = host_resolves(n, q->name, &why);
	if (a->kind == DNS_REPLY_A) {
		pthread_mutex_lock(&n->pool_lock);
		int pr = pool_lookup_or_add(&n->pool, q->name, &a->addr);
		pthread_mutex_unlock(&n->pool_lock);
		if (pr < 0) {
			a->kind = DNS_REPLY_SERVFAIL;
			why = "synthetic address pool refused the name";
		} else {
			a->ttl = DNS_SYNTH_TTL;
		}
	}
	if (a->kind == DNS_REPLY_A) {
		netd_log_decision(n, true, "dns", q->name, NULL, netd_reason_tail(r));
	} else {
		snprintf(line, sizeof(line), "%s; %s (host resolver: %s)", netd_reason_tail(r),
			 dns_reply_str(a->kind), why ? why : "?");
		netd_log_decision(n, true, "dns", q->name, NULL, line);
	}
}

/* One message from the guest. Returns -1 to close the stream. */
static int handle(struct netd *n, int fd, const uint8_t *msg, size_t len)
{
	struct dns_query q;
	uint8_t out[DNS_TCP_PREFIX + DNS_REPLY_MAX];
	enum dns_err e = dns_query_parse(msg, len, &q);
	struct dns_answer a = { .kind = dns_err_reply(e) };
	long k;

	netd_count(n, &n->stats.dns_queries);
	if (e == DNS_OK)
		plan_answer(n, &q, &a);
	else if (e == DNS_E_NAME_CHARS)
		/* well-formed, but a name we never serve; q.name has '?' for
                 * each refused byte, so it is safe to log */
		netd_log_decision(n, false, "dns", q.name, NULL, dns_strerror(e));
	else
		netd_log_bad(n, "dns", NULL, dns_strerror(e));
	if (a.kind == DNS_REPLY_NONE)
		return 0;
	k = dns_reply_build(&q, &a, out + DNS_TCP_PREFIX, DNS_REPLY_MAX);
	if (k < 0 || dns_tcp_put_len(out, (size_t)k) < 0)
		return 0;
	return netd_write_all(fd, out, DNS_TCP_PREFIX + (size_t)k) < 0 ? -1 : 0;
}

void netd_dns(struct netd *n, int fd)
{
	/* ~1 KiB: fine on the thread's stack */
	struct dns_tcp_reader rd;
	uint8_t in[512];

	dns_tcp_reader_init(&rd);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, NETD_DNS_IDLE_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* idle: the stub drops its kept streams sooner */
		ssize_t got = read(fd, in, sizeof(in));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			if (got == 0 && !dns_tcp_reader_idle(&rd))
				netd_log_bad(n, "dns", NULL, "stream ended inside a message");
			break;
		}
		size_t off = 0;
		while (off < (size_t)got) {
			const uint8_t *msg;
			size_t mlen;
			long used =
				dns_tcp_reader_feed(&rd, in + off, (size_t)got - off, &msg, &mlen);
			if (used < 0) {
				/* RFC 7766 §8: a length we do not accept
                                 * leaves no way to find the next message */
				netd_log_bad(n, "dns", NULL,
					     used == -EMSGSIZE ? "frame longer than 1024 bytes"
							       : "frame shorter than a DNS header");
				goto out;
			}
			off += (size_t)used;
			if (msg && handle(n, fd, msg, mlen) < 0)
				goto out;
		}
	}
out:
	close(fd);
}
