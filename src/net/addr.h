/* src/net/addr.h: IPv4/IPv6 addresses, CIDR ranges and the special-purpose
 * ranges the network broker never dials (the "hard deny set").
 *
 * Pure code, no I/O: the policy engine (policy.h) and its tests build on it.
 * Design and the full table with sources: docs/network.md.
 */
#ifndef SILO_NET_ADDR_H
#define SILO_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address in network byte order. IPv4 uses bytes[0..3], the rest is 0.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) is always stored as
 * IPv4: on Linux a socket dialing it reaches the IPv4 host, so it is one
 * destination and must match the same rules (net_addr_normalize). */
struct net_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t bytes[16];
};

struct net_cidr {
	struct net_addr addr; /* host bits are zero */
	uint8_t prefix;	      /* 0..32 or 0..128 */
};

/* Longest text form of an address or CIDR, with its NUL: INET6_ADDRSTRLEN
 * (46, which already counts the NUL) plus "/128". */
#define NET_CIDR_STRLEN 50

static inline unsigned net_addr_bits(const struct net_addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

/* Strict parse of one address: dotted-decimal IPv4 (inet_pton: exactly four
 * decimal parts, no leading zeros) or IPv6 text (RFC 4291 §2.2, no zone).
 * IPv4-mapped input comes out as IPv4. 0 or -EINVAL. */
int net_addr_parse(const char *s, struct net_addr *out);

/* "ADDR" or "ADDR/PREFIX" (RFC 4632 §3.1 notation); host bits must be zero.
 * A prefix of a mapped IPv6 range (::ffff:0:0/96 and longer) becomes the
 * IPv4 range. 0 or -EINVAL with *why set to a one-line reason. */
int net_cidr_parse(const char *s, struct net_cidr *out, const char **why);

/* Canonical text (inet_ntop; a full-length prefix is left out). Returns the
 * length, or -ENOSPC if len is too small (then buf holds ""). */
int net_addr_format(const struct net_addr *a, char *buf, size_t len);
int net_cidr_format(const struct net_cidr *c, char *buf, size_t len);

/* Fold IPv4-mapped IPv6 into IPv4; anything else is left alone. */
void net_addr_normalize(struct net_addr *a);

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);
bool net_cidr_contains(const struct net_cidr *c, const struct net_addr *a);

/* From a socket address (getaddrinfo, getifaddrs, SO_ORIGINAL_DST), with the
 * port in host order if port is not NULL. Normalised. 0 or -EAFNOSUPPORT. */
int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct net_addr *out,
			   uint16_t *port);

/* ---- The hard deny set ----
 * Classes, in increasing strictness. Which of them a policy may open, and
 * how, is the policy engine's business (policy.h, docs/network.md). */
enum net_hd_class {
	NET_HD_NONE = 0,
	NET_HD_PRIVATE,	   /* private, shared, documentation space */
	NET_HD_HOST,	   /* one of the host's own addresses */
	NET_HD_LINK_LOCAL, /* link-local, cloud metadata services */
	NET_HD_LOOPBACK,   /* loopback and "this host" (0/8, ::) */
	NET_HD_RESERVED,   /* multicast, reserved, broadcast, the synthetic pool */
};

/* One reason an address is in the hard deny set. An address can have several
 * (100.100.100.200 is in 100.64/10 and is a metadata service; a 6to4 address
 * embeds an IPv4 address). */
struct net_hd_hit {
	enum net_hd_class cls;
	uint8_t prefix;	  /* the denied range, in the address's own bits:
                                 * an override must lie within it */
	const char *what; /* "hard-deny: link-local (metadata)" */
	const char *via;  /* NULL, or how an IPv4 address is embedded:
                                 * "NAT64 64:ff9b::/96" */
};

#define NET_HD_MAX_HITS 8

/* All hard-deny hits for a (normalised) address, strictest first, then most
 * specific; host lists the host's own addresses (may be empty). Returns the
 * number of hits (0: not in the set), at most NET_HD_MAX_HITS. The IPv6
 * forms that embed an IPv4 address (v4-compatible, NAT64, 6to4, Teredo) are
 * checked for the embedded address too. */
int net_hd_classify(const struct net_addr *a, const struct net_addr *host, size_t nhost,
		    struct net_hd_hit hits[NET_HD_MAX_HITS]);

#endif
