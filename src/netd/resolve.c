/* src/netd/resolve.c: the host resolver's answers, kept for a short time.
 *
 * A name is looked up on the host twice in a guest's typical use: when the
 * guest asks for it (dns_srv.c: do we hand out an address at all?) and when
 * it connects to the synthetic address (egress.c: where to dial). Without a
 * cache the second lookup is one more upstream round trip on every
 * connection, and so are repeated lookups of the same name (the guest's
 * libc has no cache). So each successful answer is kept for
 * NETD_RESOLVE_TTL_MS, the synthetic TTL the guest itself was given.
 *
 * The cache only saves lookups; it decides nothing. Every address still
 * goes through net_decide_resolved() at connect time, so a name that was
 * allowed and now resolves to 127.0.0.1 is refused as before. Failures are
 * not kept: a name that did not resolve is asked again next time.
 *
 * Direct-mapped, NETD_RESOLVE_SLOTS slots, the name hashed with a per-
 * process seed: a guest that makes its names collide only evicts its own
 * answers and pays upstream lookups again. No allocation per lookup.
 *
 * A lookup that does go to the resolver asks for the address families the
 * host can use, as AI_ADDRCONFIG would, but decides that at most once per
 * NETD_ADDRCONFIG_MS: glibc answers AI_ADDRCONFIG with a netlink dump of
 * every address on the host on every call (check_pf.c; nothing is cached
 * without nscd), 0.3 ms of a 1.7 ms lookup in the lab, more when the host
 * is busy. The rule is glibc's but for link-local addresses (fe80::/10,
 * 169.254/16), which glibc counts and we do not: from one, no destination
 * silo-netd may dial is reachable (the hard deny set refuses link-local
 * destinations), and a host whose only IPv6 address is the fe80:: one every
 * interface gets would otherwise send an AAAA query upstream with every A
 * query (1.2-1.7 vs 1.0-1.2 ms a lookup in the lab, its veths having just
 * that).
 */
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "netd/netd.h"

/* FNV-1a (64-bit), seeded. */
static size_t slot_of(const struct netd *n, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n->resolve_seed;

	for (const unsigned char *s = (const unsigned char *)name; *s; s++)
		h = (h ^ *s) * 0x100000001b3ull;
	return (size_t)(h ^ h >> 32) % NETD_RESOLVE_SLOTS;
}

static int lookup_cached(struct netd *n, const char *name, struct net_addr *out, int max)
{
	struct netd_resolved *r = &n->resolved[slot_of(n, name)];
	int k = 0;

	pthread_mutex_lock(&n->resolve_lock);
	if (r->naddr && r->expires_ms > netd_now_ms() && strcmp(r->name, name) == 0) {
		k = r->naddr < max ? r->naddr : max;
		memcpy(out, r->addr, (size_t)k * sizeof(*out));
	}
	pthread_mutex_unlock(&n->resolve_lock);
	return k;
}

static void store(struct netd *n, const char *name, const struct net_addr *a, int k)
{
	struct netd_resolved *r = &n->resolved[slot_of(n, name)];

	if (strlen(name) >= sizeof(r->name))
		return;
	pthread_mutex_lock(&n->resolve_lock);
	strcpy(r->name, name);
	memcpy(r->addr, a, (size_t)k * sizeof(*a));
	r->naddr = (uint8_t)k;
	r->expires_ms = netd_now_ms() + NETD_RESOLVE_TTL_MS;
	pthread_mutex_unlock(&n->resolve_lock);
}

int netd_addrconfig_family(const struct ifaddrs *ifs)
{
	bool v4 = false, v6 = false;

	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		if (sa && sa->sa_family == AF_INET) {
			uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
			v4 |= a != INADDR_LOOPBACK && (a >> 16) != 0xa9fe; /* 169.254/16 */
		} else if (sa && sa->sa_family == AF_INET6) {
			const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
			v6 |= !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a);
		}
	}
	/* both or neither: glibc asks for both */
	return v4 == v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
}

/* The family to ask the resolver for, decided anew every NETD_ADDRCONFIG_MS
 * (a host's addresses rarely change; a change shows that much later). */
static int lookup_family(struct netd *n)
{
	struct ifaddrs *ifs;
	int64_t now = netd_now_ms();
	int fam;
	bool fresh;

	pthread_mutex_lock(&n->resolve_lock);
	fam = n->gai_family;
	fresh = now < n->gai_family_until_ms;
	pthread_mutex_unlock(&n->resolve_lock);
	if (fresh)
		return fam;
	if (getifaddrs(&ifs) < 0) {
		fam = AF_UNSPEC; /* glibc, when it cannot tell: both */
	} else {
		fam = netd_addrconfig_family(ifs);
		freeifaddrs(ifs);
	}
	pthread_mutex_lock(&n->resolve_lock);
	n->gai_family = fam;
	n->gai_family_until_ms = now + NETD_ADDRCONFIG_MS;
	pthread_mutex_unlock(&n->resolve_lock);
	return fam;
}

int netd_resolve(struct netd *n, const char *name, struct net_addr *out, int max)
{
	struct net_addr a[NETD_RESOLVE_ADDRS];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int k = lookup_cached(n, name, out, max), r;
	int64_t t0;

	if (k > 0) {
		netd_tally(n, &n->stats.resolve_hits, NULL, 0);
		return k;
	}
	t0 = netd_now_us();
	hints.ai_family = lookup_family(n);
	r = getaddrinfo(name, NULL, &hints, &res);
	netd_tally(n, &n->stats.resolves, &n->stats.resolve_us, netd_now_us() - t0);
	if (r != 0)
		return r; /* EAI_* codes are negative */
	for (struct addrinfo *ai = res; ai && k < NETD_RESOLVE_ADDRS; ai = ai->ai_next) {
		struct net_addr x;
		bool dup = false;
		if (net_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &x, NULL) < 0)
			continue;
		for (int i = 0; i < k; i++)
			dup |= net_addr_equal(&a[i], &x);
		if (!dup)
			a[k++] = x;
	}
	freeaddrinfo(res);
	if (k == 0)
		return EAI_NODATA;
	store(n, name, a, k);
	if (k > max)
		k = max;
	memcpy(out, a, (size_t)k * sizeof(*out));
	return k;
}
