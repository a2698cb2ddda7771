/* src/netd/egress.c: outbound TCP from the guest (vsock port 1080).
 *
 * The guest's forwarder sends a CONNECT header (wire.h), we decide, dial,
 * answer with a reply header and then relay bytes, or, on a stream from
 * silo-vmm that takes it, send the destination's socket with the reply and
 * leave the relaying to silo-vmm (give_socket). Order of checks, as in
 * docs/network.md "Matching order":
 *   synthetic address -> the name it stands for (pool) -> net_decide_name
 *   with the real port -> netd_resolve -> net_decide_resolved for each
 *   address -> dial the first allowed one (DNS rebinding to 10.x, 127.x is
 *   refused here, after the name was allowed);
 *   literal address -> net_decide_addr -> dial.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/wire.h"
#include "netd/netd.h"
#include "proto/scm.h"

#define REASON_MAX 512

static void reply(int fd, enum wire_status s)
{
	uint8_t h[WIRE_REPLY_SIZE];

	if (wire_reply_encode(s, h) == WIRE_OK)
		(void)netd_write_all(fd, h, sizeof(h));
}

/* After a refusal: the guest may have sent its first bytes behind the
 * header (agent/netfwd.c pipelines them), and closing a Unix socket with
 * unread bytes resets it (unix(7): the peer reads ECONNRESET), which could
 * overtake our reply. So end our side, and read and drop until the guest,
 * having read the reply, closes (or DRAIN_MS passed). */
#define DRAIN_MS 1000

static void drain(int fd)
{
	char scrap[4096];
	int64_t end = netd_now_ms() + DRAIN_MS;

	shutdown(fd, SHUT_WR);
	for (int64_t left; (left = end - netd_now_ms()) > 0;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || recv(fd, scrap, sizeof(scrap), MSG_DONTWAIT) == 0)
			return;
	}
}

/*
 * silo-vmm takes the destination's socket (contract.h,
 * SILO_PEER_TAKES_SOCKET) and relays it itself, which takes this process,
 * and two thread wake-ups each way, out of every later byte's path. The
 * reply goes with the socket (SCM_RIGHTS). silo-vmm then ends its side of
 * the stream; what it wrote before that (the guest's first bytes,
 * pipelined behind the header) we pass on, in order, and only then end
 * ours, after which silo-vmm writes to the socket itself. We never read
 * from the socket, so all the destination sends reaches silo-vmm. There
 * is no timeout: a guest that does not take the reply only holds this
 * thread, as a relay it left open would. Returns false when the socket
 * could not be sent (nothing was), and the caller relays instead.
 */
static bool give_socket(int fd, int out)
{
	uint8_t h[WIRE_REPLY_SIZE], buf[16384];
	ssize_t r;

	if (wire_reply_encode(WIRE_CONNECTED, h) != WIRE_OK)
		return false;
	do
		r = scm_send_fds(fd, h, sizeof(h), &out, 1, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return false;
	for (;;) {
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		/* A write error: the destination is gone, and silo-vmm will
		 * find that on the socket and reset the guest's stream. */
		if (r <= 0 || netd_write_all(out, buf, (size_t)r) < 0)
			break;
	}
	shutdown(fd, SHUT_WR);
	return true;
}

static enum wire_status status_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
		return WIRE_REFUSED;
	case ETIMEDOUT:
		return WIRE_TIMEOUT;
	default:
		return WIRE_UNREACHABLE;
	}
}

/* Non-blocking connect() bounded by NETD_DIAL_MS. Returns a blocking fd,
 * or -errno (-ETIMEDOUT when the destination did not answer). */
static int dial(const struct sockaddr *sa, socklen_t salen)
{
	int fd, err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd p;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		int r;
		do
			r = poll(&p, 1, NETD_DIAL_MS);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			err = ETIMEDOUT;
			goto fail;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
			err = errno;
			goto fail;
		}
		if (err)
			goto fail;
	}
	/* The guest's own TCP already coalesced (Nagle) or was told not to
	 * (TCP_NODELAY): a second Nagle here would hold a small write behind
	 * the last one's ACK, up to a delayed ACK's 40 ms, whatever the
	 * guest's program chose. libslirp does the same (tcp_fconnect). */
	if (fcntl(fd, F_SETFL, 0) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)) < 0) {
		err = errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -err;
}

static socklen_t to_sockaddr(const struct net_addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, a->bytes, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	memcpy(&s->sin6_addr, a->bytes, 16);
	return sizeof(*s);
}

/* Decide under the policy lock and copy the reason out: the decision's rule
 * points into the policy, which SIGHUP may replace once we unlock. */
static bool decide_name(struct netd *n, const char *name, uint16_t port, char *why, size_t len)
{
	struct net_decision d;
	char r[REASON_MAX];

	pthread_rwlock_rdlock(&n->policy_lock);
	bool ok = net_decide_name(n->policy, name, port, &d) == NET_ALLOW;
	net_decision_format(&d, r, sizeof(r));
	pthread_rwlock_unlock(&n->policy_lock);
	snprintf(why, len, "%s", netd_reason_tail(r));
	return ok;
}

static bool decide_addr(struct netd *n, const struct net_addr *a, uint16_t port, bool resolved,
			char *why, size_t len)
{
	struct net_decision d;
	char r[REASON_MAX];
	bool ok;

	pthread_rwlock_rdlock(&n->policy_lock);
	if (resolved)
		ok = net_decide_resolved(n->policy, a, port, &d) == NET_ALLOW;
	else
		ok = net_decide_addr(n->policy, a, port, &d) == NET_ALLOW;
	net_decision_format(&d, r, sizeof(r));
	pthread_rwlock_unlock(&n->policy_lock);
	snprintf(why, len, "%s", netd_reason_tail(r));
	return ok;
}

/* Dial an allowed destination and report how it went. */
static int dial_logged(struct netd *n, const char *name, const struct net_addr *a, uint16_t port,
		       const char *why, enum wire_status *st)
{
	struct sockaddr_storage ss;
	char dest[NET_CIDR_STRLEN + 16], line[REASON_MAX + 64];
	socklen_t sl = to_sockaddr(a, port, &ss);
	int64_t t0 = netd_now_us();
	int fd = dial((struct sockaddr *)&ss, sl);

	netd_tally(n, &n->stats.dials, &n->stats.dial_us, netd_now_us() - t0);

	netd_fmt_dest(a, port, dest, sizeof(dest));
	if (fd < 0) {
		*st = status_of(-fd);
		snprintf(line, sizeof(line), "%s; dial failed: %s", why, strerror(-fd));
		netd_log_decision(n, true, "tcp", name, dest, line);
		netd_count(n, &n->stats.dial_failures);
		return fd;
	}
	*st = WIRE_CONNECTED;
	netd_log_decision(n, true, "tcp", name, dest, why);
	return fd;
}

/* A name behind a synthetic address: decide by name with the real port,
 * resolve on the host (usually answered by the lookup the guest's DNS query
 * made, resolve.c), check every address, dial the first allowed. */
static int connect_name(struct netd *n, const char *name, const char *syn_dest, uint16_t port,
			enum wire_status *st)
{
	char why[REASON_MAX], first_why[REASON_MAX] = "", first_dest[NET_CIDR_STRLEN + 16] = "";
	struct net_addr addrs[NETD_RESOLVE_ADDRS];
	int fd = -EACCES, k;

	if (!decide_name(n, name, port, why, sizeof(why))) {
		netd_log_decision(n, false, "tcp", name, syn_dest, why);
		*st = WIRE_DENIED;
		return -EACCES;
	}
	k = netd_resolve(n, name, addrs, NETD_RESOLVE_ADDRS);
	if (k < 0) {
		char line[REASON_MAX + 64];
		snprintf(line, sizeof(line), "%s; host resolver: %s", why, gai_strerror(k));
		netd_log_decision(n, true, "tcp", name, syn_dest, line);
		netd_count(n, &n->stats.dial_failures);
		*st = WIRE_UNREACHABLE;
		return -EHOSTUNREACH;
	}
	*st = WIRE_DENIED;
	for (int i = 0; i < k; i++) {
		char rwhy[REASON_MAX];
		if (!decide_addr(n, &addrs[i], port, true, rwhy, sizeof(rwhy))) {
			if (!first_why[0]) {
				snprintf(first_why, sizeof(first_why), "%s", rwhy);
				netd_fmt_dest(&addrs[i], port, first_dest, sizeof(first_dest));
			}
			continue;
		}
		fd = dial_logged(n, name, &addrs[i], port, why, st);
		if (fd >= 0)
			break;
	}
	if (*st == WIRE_DENIED) {
		/* every address refused: log the first one's reason */
		netd_log_decision(n, false, "tcp", name, first_dest[0] ? first_dest : syn_dest,
				  first_why[0] ? first_why : "no usable address");
		return -EACCES;
	}
	return fd;
}

void netd_egress(struct netd *n, int fd, bool give)
{
	uint8_t buf[WIRE_CONNECT_SIZE];
	struct wire_connect c;
	struct net_addr a = { 0 };
	enum wire_status st = WIRE_INTERNAL;
	char dest[NET_CIDR_STRLEN + 16], why[REASON_MAX];
	int out = -1;
	long got;
	char name[DNS_NAME_TEXT_MAX] = "";
	enum wire_err e;

	/* The guest may open this stream before it has a connection for it
	 * (a spare, agent/netfwd.c): wait longer for the first byte, and
	 * close a stream that ends, or times out, without one quietly: it
	 * was never a request. */
	if (netd_read_full(fd, buf, 1, NETD_SPARE_MS) != 1)
		goto done;
	netd_count(n, &n->stats.connections);
	got = netd_read_full(fd, buf + 1, sizeof(buf) - 1, NETD_HEADER_MS);
	got = got < 0 ? got : got + 1;
	e = wire_connect_decode(buf, got < 0 ? 0 : (size_t)got, &c);
	if (e != WIRE_OK) {
		netd_log_bad(n, "tcp", NULL,
			     got == 0 ? "no header (closed or timed out)" : wire_strerror(e));
		reply(fd, WIRE_BAD_REQUEST);
		goto done;
	}
	a.family = (uint8_t)c.family;
	memcpy(a.bytes, &c.addr, c.family == AF_INET ? 4 : 16);
	net_addr_normalize(&a);
	netd_fmt_dest(&a, c.port, dest, sizeof(dest));

	struct in_addr v4;
	memcpy(&v4, a.bytes, 4);
	if (a.family == AF_INET && pool_in_range(&n->pool, v4)) {
		const char *miss = NULL;
		pthread_mutex_lock(&n->pool_lock);
		const char *nm = pool_name_of(&n->pool, v4);
		if (nm)
			snprintf(name, sizeof(name), "%s", nm);
		else
			miss = pool_miss_reason(&n->pool, v4);
		pthread_mutex_unlock(&n->pool_lock);
		if (!name[0]) {
			netd_log_decision(n, false, "tcp", NULL, dest, miss);
			st = WIRE_DENIED;
			goto done_reply;
		}
		out = connect_name(n, name, dest, c.port, &st);
	} else if (!decide_addr(n, &a, c.port, false, why, sizeof(why))) {
		netd_log_decision(n, false, "tcp", NULL, dest, why);
		st = WIRE_DENIED;
	} else {
		out = dial_logged(n, NULL, &a, c.port, why, &st);
	}
done_reply:;
	/* A connection whose requests get a secret added stays here: the
	 * secret must never reach silo-vmm. */
	const struct netd_secret *sec = out >= 0 ? netd_secret_for(n, name, c.port) : NULL;
	if (out >= 0 && !sec && give && give_socket(fd, out)) {
		close(out);
		goto done;
	}
	reply(fd, out >= 0 ? WIRE_CONNECTED : st);
	if (sec) {
		netd_intercept(n, fd, out, sec, dest);
		close(out);
	} else if (out >= 0) {
		netd_relay(fd, out);
		close(out);
	} else {
		drain(fd);
	}
done:
	close(fd);
}
