/* src/net/addr.c: addresses, CIDR ranges, and the hard deny set.
 *
 * Every range below comes from the IANA special-purpose address registries
 * (RFC 6890, updated by RFC 8190) or the RFC that assigned it; docs/network.md
 * has the same table for users.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/addr.h"

int net_addr_parse(const char *s, struct net_addr *out)
{
	memset(out, 0, sizeof(*out));
	/* inet_pton, not inet_aton: no "127.1", "0x7f.1" or octal forms */
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = AF_INET6;
		net_addr_normalize(out);
		return 0;
	}
	return -EINVAL;
}

/* Mask of the first `bits` bits of a byte (bits 0..8). */
static uint8_t mask8(unsigned bits)
{
	return bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
}

/* Do a and b agree on their first `prefix` bits? */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, full))
		return false;
	return !rest || !((a[full] ^ b[full]) & mask8(rest));
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void net_addr_normalize(struct net_addr *a)
{
	/* RFC 4291 §2.5.5.2: ::ffff:0:0/96 holds an IPv4 address */
	if (a->family == AF_INET6 && !memcmp(a->bytes, v4mapped, 12)) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

static int parse_prefix(const char *s, unsigned max)
{
	unsigned v = 0;
	/* decimal, no sign, no leading zero, at most 3 digits */
	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 3)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	return v <= max ? (int)v : -1;
}

int net_cidr_parse(const char *s, struct net_cidr *out, const char **why)
{
	char buf[NET_CIDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	memset(out, 0, sizeof(*out));
	*why = "invalid IP address";
	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	/* parse before normalising so a mapped prefix counts IPv6 bits */
	struct net_addr a = { 0 };
	if (inet_pton(AF_INET, buf, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	int prefix = (int)net_addr_bits(&a);
	if (slash) {
		prefix = parse_prefix(slash + 1, net_addr_bits(&a));
		if (prefix < 0) {
			*why = a.family == AF_INET ? "invalid CIDR prefix (0..32)"
						   : "invalid CIDR prefix (0..128)";
			return -EINVAL;
		}
	}
	out->addr = a;
	out->prefix = (uint8_t)prefix;
	/* host bits must be zero, so the rule says what the user meant */
	for (unsigned i = (unsigned)prefix; i < net_addr_bits(&a); i++)
		if (a.bytes[i / 8] & (0x80u >> (i % 8))) {
			*why = "invalid CIDR: host bits set after the prefix";
			return -EINVAL;
		}
	if (a.family == AF_INET6 && prefix >= 96 && !memcmp(a.bytes, v4mapped, 12)) {
		net_addr_normalize(&out->addr);
		out->prefix = (uint8_t)(prefix - 96);
	}
	*why = NULL;
	return 0;
}

int net_addr_format(const struct net_addr *a, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->bytes, tmp, sizeof(tmp)) ||
	    strlen(tmp) >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, tmp, strlen(tmp) + 1);
	return (int)strlen(tmp);
}

int net_cidr_format(const struct net_cidr *c, char *buf, size_t len)
{
	char tmp[NET_CIDR_STRLEN];
	int n = net_addr_format(&c->addr, tmp, sizeof(tmp));
	if (n < 0)
		return n;
	if (c->prefix != net_addr_bits(&c->addr))
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "/%u", c->prefix);
	if ((size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, tmp, (size_t)n + 1);
	return n;
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	return a->family == b->family && !memcmp(a->bytes, b->bytes, net_addr_bits(a) / 8);
}

bool net_cidr_contains(const struct net_cidr *c, const struct net_addr *a)
{
	return c->addr.family == a->family && prefix_eq(c->addr.bytes, a->bytes, c->prefix);
}

int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct net_addr *out,
			   uint16_t *port)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		out->family = AF_INET;
		memcpy(out->bytes, &s4->sin_addr, 4);
		if (port)
			*port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		out->family = AF_INET6;
		memcpy(out->bytes, &s6->sin6_addr, 16);
		net_addr_normalize(out);
		if (port)
			*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* ---- The hard deny set ---- */

/* Every reason reads as a log line on its own. */
#define HD "hard-deny: "

struct hd_range {
	uint8_t family, prefix;
	uint8_t b[16];
	enum net_hd_class cls;
	const char *what;
};

#define V4(a, b, c, d, len, cls, what)                  \
	{                                               \
		AF_INET, len, { a, b, c, d }, cls, what \
	}

/* IPv4, RFC 6890 §2.2.2 and the RFCs named. */
static const struct hd_range hd_v4[] = {
	/* RFC 1122 §3.2.1.3: "this host on this network"; Linux connects 0.0.0.0 to itself */
	V4(0, 0, 0, 0, 8, NET_HD_LOOPBACK, HD "this host (0.0.0.0/8)"),
	V4(10, 0, 0, 0, 8, NET_HD_PRIVATE, HD "private (RFC 1918)"),
	V4(100, 64, 0, 0, 10, NET_HD_PRIVATE, HD "shared address space (RFC 6598)"),
	/* Alibaba Cloud's metadata service sits inside 100.64/10: opening that
         * range (e.g. for a Tailscale network) must not open the service */
	V4(100, 100, 100, 200, 32, NET_HD_LINK_LOCAL, HD "cloud metadata (100.100.100.200)"),
	V4(127, 0, 0, 0, 8, NET_HD_LOOPBACK, HD "loopback"),
	/* RFC 3927; 169.254.169.254 is the metadata service of AWS, GCP, Azure, OCI */
	V4(169, 254, 0, 0, 16, NET_HD_LINK_LOCAL, HD "link-local (metadata)"),
	V4(172, 16, 0, 0, 12, NET_HD_PRIVATE, HD "private (RFC 1918)"),
	V4(192, 0, 0, 0, 24, NET_HD_PRIVATE, HD "IETF protocol assignments (RFC 6890)"),
	V4(192, 0, 2, 0, 24, NET_HD_PRIVATE, HD "documentation (RFC 5737)"),
	V4(192, 168, 0, 0, 16, NET_HD_PRIVATE, HD "private (RFC 1918)"),
	/* RFC 2544 benchmarking space, also the broker's synthetic DNS pool:
         * a literal address there is never a real destination */
	V4(198, 18, 0, 0, 15, NET_HD_RESERVED, HD "benchmarking / synthetic pool (RFC 2544)"),
	V4(198, 51, 100, 0, 24, NET_HD_PRIVATE, HD "documentation (RFC 5737)"),
	V4(203, 0, 113, 0, 24, NET_HD_PRIVATE, HD "documentation (RFC 5737)"),
	V4(224, 0, 0, 0, 4, NET_HD_RESERVED, HD "multicast (RFC 5771)"),
	V4(240, 0, 0, 0, 4, NET_HD_RESERVED, HD "reserved (RFC 1112 §4)"),
	V4(255, 255, 255, 255, 32, NET_HD_RESERVED, HD "limited broadcast (RFC 919)"),
};

#define V6(len, cls, what, ...)                           \
	{                                                 \
		AF_INET6, len, { __VA_ARGS__ }, cls, what \
	}

/* IPv6, RFC 6890 §2.2.3 and the RFCs named. The IPv4-embedding prefixes are
 * not here: net_hd_classify decodes them. */
static const struct hd_range hd_v6[] = {
	/* RFC 4291 §2.5.2; like 0.0.0.0, connecting to :: reaches the host itself */
	V6(128, NET_HD_LOOPBACK, HD "unspecified (::)", 0),
	V6(128, NET_HD_LOOPBACK, HD "loopback", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	V6(48, NET_HD_PRIVATE, HD "local-use NAT64 (RFC 8215)", 0, 0x64, 0xff, 0x9b, 0, 1),
	V6(64, NET_HD_RESERVED, HD "discard-only (RFC 6666)", 0x01, 0x00),
	V6(32, NET_HD_PRIVATE, HD "documentation (RFC 3849)", 0x20, 0x01, 0x0d, 0xb8),
	V6(7, NET_HD_PRIVATE, HD "unique local (RFC 4193)", 0xfc),
	/* AWS's IPv6 metadata service (IMDS) is inside fc00::/7 */
	V6(128, NET_HD_LINK_LOCAL, HD "cloud metadata (fd00:ec2::254)", 0xfd, 0, 0x0e, 0xc2, 0, 0,
	   0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54),
	V6(10, NET_HD_LINK_LOCAL, HD "link-local", 0xfe, 0x80),
	V6(10, NET_HD_PRIVATE, HD "site-local (deprecated, RFC 3879)", 0xfe, 0xc0),
	V6(8, NET_HD_RESERVED, HD "multicast (RFC 4291 §2.7)", 0xff),
};

struct hits {
	struct net_hd_hit *h;
	int n;
};

/* Insert keeping strictest first, then most specific (the reason logged is
 * the first). A full list turns its first slot into a reserved hit: nothing
 * can be silently dropped and then opened by a rule. */
static void add_hit(struct hits *hs, enum net_hd_class cls, unsigned prefix, const char *what,
		    const char *via)
{
	struct net_hd_hit hit = { cls, (uint8_t)prefix, what, via };
	if (hs->n == NET_HD_MAX_HITS) {
		hs->h[0] = (struct net_hd_hit){ NET_HD_RESERVED, 128, HD "too many matches", NULL };
		return;
	}
	int i = hs->n++;
	for (; i > 0 && (hs->h[i - 1].cls < cls ||
			 (hs->h[i - 1].cls == cls && hs->h[i - 1].prefix < hit.prefix));
	     i--)
		hs->h[i] = hs->h[i - 1];
	hs->h[i] = hit;
}

static void table_hits(struct hits *hs, const struct hd_range *t, size_t n, const uint8_t *b,
		       unsigned off, const char *via)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_eq(t[i].b, b, t[i].prefix))
			add_hit(hs, t[i].cls, off + t[i].prefix, t[i].what, via);
}

static void host_hits(struct hits *hs, const struct net_addr *host, size_t nhost, uint8_t family,
		      const uint8_t *b, unsigned off, const char *via)
{
	unsigned bits = family == AF_INET ? 32 : 128;
	for (size_t i = 0; i < nhost; i++)
		if (host[i].family == family && !memcmp(host[i].bytes, b, bits / 8))
			add_hit(hs, NET_HD_HOST, off + bits, HD "host's own address", via);
}

/* An IPv4 address seen at bit offset off of the address being classified. */
static void v4_hits(struct hits *hs, const uint8_t v4[4], unsigned off, const char *via,
		    const struct net_addr *host, size_t nhost)
{
	table_hits(hs, hd_v4, sizeof(hd_v4) / sizeof(hd_v4[0]), v4, off, via);
	host_hits(hs, host, nhost, AF_INET, v4, off, via);
}

int net_hd_classify(const struct net_addr *a, const struct net_addr *host, size_t nhost,
		    struct net_hd_hit out[NET_HD_MAX_HITS])
{
	struct hits hs = { out, 0 };
	const uint8_t *b = a->bytes;
	if (a->family == AF_INET) {
		v4_hits(&hs, b, 0, NULL, host, nhost);
		return hs.n;
	}
	table_hits(&hs, hd_v6, sizeof(hd_v6) / sizeof(hd_v6[0]), b, 0, NULL);
	host_hits(&hs, host, nhost, AF_INET6, b, 0, NULL);

	static const uint8_t zero[12], nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t teredo[4] = { 0x20, 0x01, 0, 0 };
	/* RFC 4291 §2.5.5.1: ::a.b.c.d is deprecated; nothing legitimate
         * lives there. :: and ::1 are in the table above. */
	if (!memcmp(b, zero, 12) && (b[12] | b[13] | b[14] || b[15] > 1)) {
		add_hit(&hs, NET_HD_RESERVED, 96,
			HD "IPv4-compatible (deprecated, RFC 4291 §2.5.5.1)", NULL);
		v4_hits(&hs, b + 12, 96, "IPv4-compatible ::/96", host, nhost);
	}
	/* RFC 6052 §2.1: the well-known NAT64 prefix, IPv4 in the last 32 bits */
	if (!memcmp(b, nat64, 12))
		v4_hits(&hs, b + 12, 96, "NAT64 64:ff9b::/96", host, nhost);
	/* RFC 3056 §2: 2002:V4ADDR::/48 */
	if (b[0] == 0x20 && b[1] == 0x02)
		v4_hits(&hs, b + 2, 16, "6to4 2002::/16", host, nhost);
	/* RFC 4380 §4: 2001:0::/32, server IPv4 in bits 32-63, client IPv4
         * in bits 96-127 with every bit inverted */
	if (!memcmp(b, teredo, 4)) {
		uint8_t client[4] = { (uint8_t)~b[12], (uint8_t)~b[13], (uint8_t)~b[14],
				      (uint8_t)~b[15] };
		v4_hits(&hs, b + 4, 32, "Teredo server 2001::/32", host, nhost);
		v4_hits(&hs, client, 96, "Teredo client 2001::/32", host, nhost);
	}
	return hs.n;
}
