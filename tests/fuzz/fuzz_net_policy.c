/* fuzz_net_policy.c: libFuzzer target for the network policy engine
 * (src/net/policy.c, addr.c, policy_text.c).
 *
 * The input drives a policy (mode, flags, host addresses, up to 24 rules,
 * each either raw text or built from a dictionary so that rules and queries
 * meet) and then up to 64 queries: names, literal and resolved addresses.
 * Checked, besides "no crash, no out-of-bounds":
 *   - every decision agrees with a naive matcher written here the obvious way
 *     (label lists, bit-by-bit prefixes, libc's IN6_IS_ADDR_* macros): same
 *     verdict, same deciding rule, same hard-deny class;
 *   - the name normaliser agrees with a naive one, and refuses anything
 *     inet_aton(3) would read as an address;
 *   - a rule's canonical text parses back to the same rule, and a policy's
 *     text form round-trips; removing a rule keeps the others' order;
 *   - allowlist never allows what open mode with the same rules refuses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/policy.h"

#define CHECK(c)                                                                       \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "CHECK failed: %s (line %d)\n", #c, __LINE__); \
			__builtin_trap();                                              \
		}                                                                      \
	} while (0)

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t u16(struct rd *r)
{
	uint16_t hi = u8(r);
	return (uint16_t)(hi << 8 | u8(r));
}

/* ---- Generators ---- */

/* len raw bytes (fewer if the input ends) as a C string in out (> 255 bytes). */
static void take_text(struct rd *r, char *out, size_t len)
{
	if (len > r->n)
		len = r->n;
	memcpy(out, r->p, len);
	out[len] = '\0';
	r->p += len;
	r->n -= len;
}

static const char *const labels[] = {
	"a",   "b",    "evil", "test",		"com",	    "localhost",   "npmjs",
	"org", "x-y",  "_s",   "0x7f",		"1",	    "127",	   "A",
	"WWW", "-bad", "",     "ip6-localhost", "xn--p1ai", "localdomain", "0",
};

static void gen_name(struct rd *r, char *out, size_t len)
{
	size_t pos = 0;
	unsigned n = 1 + u8(r) % 5;
	out[0] = '\0';
	for (unsigned i = 0; i < n && pos < len; i++)
		pos += (size_t)snprintf(out + pos, len - pos, "%s%s", i ? "." : "",
					labels[u8(r) % (sizeof(labels) / sizeof(labels[0]))]);
	if (pos < len - 1 && (u8(r) & 1))
		strcat(out, ".");
}

static const char *const bases[] = {
	"10.0.0.0",
	"127.0.0.1",
	"169.254.169.254",
	"8.8.8.8",
	"100.100.100.200",
	"198.18.0.1",
	"255.255.255.255",
	"0.0.0.0",
	"81.2.69.142",
	"172.16.0.1",
	"192.0.2.1",
	"224.0.0.1",
	"::1",
	"::",
	"fe80::1",
	"fc00::1",
	"fd00:ec2::254",
	"64:ff9b::a9fe:a9fe",
	"2002:a00:1::",
	"2001:0:4136:e378:8000:63bf:3fff:fdd2",
	"::ffff:10.0.0.1",
	"2001:db8::1",
	"2606:4700::1",
	"::7f00:1",
	"64:ff9b:1::1",
	"2002:5102:458e::",
	"ff02::1",
	"2a02:898:1::5",
};

static void gen_addr(struct rd *r, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	const char *b = bases[u8(r) % (sizeof(bases) / sizeof(bases[0]))];
	a->family = strchr(b, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(a->family, b, a->bytes) == 1);
	unsigned tweaks = u8(r) % 4;
	for (unsigned i = 0; i < tweaks; i++) {
		unsigned at = u8(r) % (a->family == AF_INET ? 4 : 16);
		a->bytes[at] ^= u8(r);
	}
}

/* ---- The naive engine ---- */

static const char *const naive_localhost[] = {
	"localhost",  "localhost.localdomain",	 "localhost4",	  "localhost4.localdomain4",
	"localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback",
};

/* -1 invalid, 0 a name, 1 localhost; out as net_name_normalize's */
static int naive_norm(const char *in, size_t len, char *out)
{
	static const char ldh[] = "abcdefghijklmnopqrstuvwxyz0123456789-_";
	if (len && in[len - 1] == '.')
		len--;
	if (!len || len > 253 || memchr(in, '\0', len))
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] + 32 : in[i]);
	out[len] = '\0';
	char *label = out, *last = out;
	unsigned nlabels = 0;
	for (;;) {
		char *dot = strchr(label, '.');
		size_t l = dot ? (size_t)(dot - label) : strlen(label);
		if (l < 1 || l > 63 || label[0] == '-' || label[l - 1] == '-')
			return -1;
		if (strspn(label, ldh) < l)
			return -1;
		nlabels++;
		last = label;
		if (!dot)
			break;
		label = dot + 1;
	}
	size_t ll = strlen(last);
	if (strspn(last, "0123456789") == ll ||
	    (ll >= 2 && !strncmp(last, "0x", 2) && strspn(last + 2, "0123456789abcdef") == ll - 2))
		return -1;
	for (size_t i = 0; i < sizeof(naive_localhost) / sizeof(naive_localhost[0]); i++)
		if (!strcmp(out, naive_localhost[i]))
			return 1;
	if (nlabels > 1 && !strcmp(last, "localhost"))
		return 1;
	return 0;
}

static bool naive_name_match(const struct net_rule *r, const char *q)
{
	if (r->kind == NET_RULE_NAME)
		return !strcmp(r->name, q);
	if (r->kind != NET_RULE_WILDCARD)
		return false;
	/* the rest after any dot */
	for (const char *d = strchr(q, '.'); d; d = strchr(d + 1, '.'))
		if (!strcmp(d + 1, r->name))
			return true;
	return false;
}

static int bit(const uint8_t *b, unsigned i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

static bool naive_contains(const struct net_cidr *c, const struct net_addr *a)
{
	if (c->addr.family != a->family)
		return false;
	for (unsigned i = 0; i < c->prefix; i++)
		if (bit(c->addr.bytes, i) != bit(a->bytes, i))
			return false;
	return true;
}

struct nhit {
	enum net_hd_class cls;
	unsigned prefix;
};

struct nhits {
	struct nhit h[32];
	unsigned n;
};

static void nadd(struct nhits *hs, enum net_hd_class c, unsigned prefix)
{
	if (hs->n < 32)
		hs->h[hs->n++] = (struct nhit){ c, prefix };
}

struct nrange {
	const char *net;
	unsigned len;
	enum net_hd_class cls;
};

static const struct nrange naive_v4[] = {
	{ "0.0.0.0", 8, NET_HD_LOOPBACK },	    { "10.0.0.0", 8, NET_HD_PRIVATE },
	{ "100.64.0.0", 10, NET_HD_PRIVATE },	    { "100.100.100.200", 32, NET_HD_LINK_LOCAL },
	{ "169.254.0.0", 16, NET_HD_LINK_LOCAL },   { "172.16.0.0", 12, NET_HD_PRIVATE },
	{ "192.0.0.0", 24, NET_HD_PRIVATE },	    { "192.0.2.0", 24, NET_HD_PRIVATE },
	{ "192.168.0.0", 16, NET_HD_PRIVATE },	    { "198.18.0.0", 15, NET_HD_RESERVED },
	{ "198.51.100.0", 24, NET_HD_PRIVATE },	    { "203.0.113.0", 24, NET_HD_PRIVATE },
	{ "255.255.255.255", 32, NET_HD_RESERVED },
};

/* Hits from a table of text ranges, for an address of `family` at bit offset off. */
static void naive_table(struct nhits *hs, const struct nrange *t, size_t n, int family,
			const uint8_t *bytes, unsigned off)
{
	struct net_cidr c = { .addr.family = (uint8_t)family };
	struct net_addr a = { .family = (uint8_t)family };
	memcpy(a.bytes, bytes, family == AF_INET ? 4 : 16);
	for (size_t i = 0; i < n; i++) {
		CHECK(inet_pton(family, t[i].net, c.addr.bytes) == 1);
		c.prefix = (uint8_t)t[i].len;
		if (naive_contains(&c, &a))
			nadd(hs, t[i].cls, off + t[i].len);
	}
}

static void naive_v4_hits(struct nhits *hs, const uint8_t *v4, unsigned off,
			  const struct net_policy *p)
{
	uint32_t x;
	memcpy(&x, v4, 4);
	x = ntohl(x);
	if (x >> 24 == 127) /* IN_LOOPBACKNET */
		nadd(hs, NET_HD_LOOPBACK, off + 8);
	if (IN_MULTICAST(x))
		nadd(hs, NET_HD_RESERVED, off + 4);
	if (IN_BADCLASS(x)) /* 240/4 */
		nadd(hs, NET_HD_RESERVED, off + 4);
	naive_table(hs, naive_v4, sizeof(naive_v4) / sizeof(naive_v4[0]), AF_INET, v4, off);
	for (size_t i = 0; i < p->nhost; i++)
		if (p->host[i].family == AF_INET && !memcmp(p->host[i].bytes, v4, 4))
			nadd(hs, NET_HD_HOST, off + 32);
}

static void naive_hits(struct nhits *hs, const struct net_addr *a, const struct net_policy *p)
{
	if (a->family == AF_INET) {
		naive_v4_hits(hs, a->bytes, 0, p);
		return;
	}
	struct in6_addr s6; /* aligned, for the IN6_IS_ADDR_* macros */
	memcpy(&s6, a->bytes, 16);
	const struct in6_addr *s = &s6;
	const uint8_t *b = a->bytes;
	if (IN6_IS_ADDR_UNSPECIFIED(s) || IN6_IS_ADDR_LOOPBACK(s))
		nadd(hs, NET_HD_LOOPBACK, 128);
	if (IN6_IS_ADDR_LINKLOCAL(s))
		nadd(hs, NET_HD_LINK_LOCAL, 10);
	if (IN6_IS_ADDR_SITELOCAL(s))
		nadd(hs, NET_HD_PRIVATE, 10);
	if (IN6_IS_ADDR_MULTICAST(s))
		nadd(hs, NET_HD_RESERVED, 8);
	if ((b[0] & 0xfe) == 0xfc)
		nadd(hs, NET_HD_PRIVATE, 7);
	static const struct nrange v6[] = {
		{ "64:ff9b:1::", 48, NET_HD_PRIVATE },
		{ "100::", 64, NET_HD_RESERVED },
		{ "2001:db8::", 32, NET_HD_PRIVATE },
		{ "fd00:ec2::254", 128, NET_HD_LINK_LOCAL },
	};
	naive_table(hs, v6, sizeof(v6) / sizeof(v6[0]), AF_INET6, b, 0);
	for (size_t i = 0; i < p->nhost; i++)
		if (p->host[i].family == AF_INET6 && !memcmp(p->host[i].bytes, b, 16))
			nadd(hs, NET_HD_HOST, 128);
	if (IN6_IS_ADDR_V4COMPAT(s)) {
		nadd(hs, NET_HD_RESERVED, 96);
		naive_v4_hits(hs, b + 12, 96, p);
	}
	if (s->s6_addr32[0] == htonl(0x0064ff9b) && !s->s6_addr32[1] && !s->s6_addr32[2])
		naive_v4_hits(hs, b + 12, 96, p);
	if (s->s6_addr16[0] == htons(0x2002))
		naive_v4_hits(hs, b + 2, 16, p);
	if (s->s6_addr32[0] == htonl(0x20010000)) {
		uint32_t client = ~s->s6_addr32[3];
		naive_v4_hits(hs, b + 4, 32, p);
		naive_v4_hits(hs, (const uint8_t *)&client, 96, p);
	}
}

struct nverdict {
	enum net_verdict v;
	int rule; /* index, or -1 */
	enum net_hd_class hd;
};

static bool deny_port(const struct net_rule *r, uint16_t port)
{
	return r->port == 0 || r->port == port;
}

static bool allow_port(const struct net_rule *r, uint16_t port)
{
	return r->port == 0 || port == 0 || r->port == port;
}

static struct nverdict naive_name(const struct net_policy *p, const char *name, uint16_t port)
{
	char norm[300];
	if (p->mode == NET_MODE_NONE)
		return (struct nverdict){ NET_DENY, -1, NET_HD_NONE };
	int k = naive_norm(name, strlen(name), norm);
	if (k < 0)
		return (struct nverdict){ NET_DENY, -1, NET_HD_NONE };
	if (k == 1)
		return (struct nverdict){ NET_DENY, -1, NET_HD_LOOPBACK };
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].action == NET_DENY && deny_port(&p->rules[i], port) &&
		    naive_name_match(&p->rules[i], norm))
			return (struct nverdict){ NET_DENY, (int)i, NET_HD_NONE };
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].action == NET_ALLOW && allow_port(&p->rules[i], port) &&
		    naive_name_match(&p->rules[i], norm))
			return (struct nverdict){ NET_ALLOW, (int)i, NET_HD_NONE };
	return (struct nverdict){ p->mode == NET_MODE_OPEN ? NET_ALLOW : NET_DENY, -1,
				  NET_HD_NONE };
}

/* The first allow rule for addr and port that lies within a range of this length. */
static int naive_opener(const struct net_policy *p, const struct net_addr *a, uint16_t port,
			unsigned prefix)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		if (r->action == NET_ALLOW && r->kind == NET_RULE_CIDR && allow_port(r, port) &&
		    r->cidr.prefix >= prefix && naive_contains(&r->cidr, a))
			return (int)i;
	}
	return -1;
}

static bool naive_may_open(const struct net_policy *p, enum net_hd_class c)
{
	return c == NET_HD_PRIVATE ||
	       ((c == NET_HD_LOOPBACK || c == NET_HD_HOST) && (p->flags & NET_POLICY_ALLOW_HOST)) ||
	       (c == NET_HD_LINK_LOCAL && (p->flags & NET_POLICY_ALLOW_LINK_LOCAL));
}

static struct nverdict naive_addr(const struct net_policy *p, const struct net_addr *in,
				  uint16_t port, bool resolved)
{
	struct net_addr a = *in;
	struct nhits hs = { .n = 0 };
	if (p->mode == NET_MODE_NONE)
		return (struct nverdict){ NET_DENY, -1, NET_HD_NONE };
	struct in6_addr s6;
	memcpy(&s6, a.bytes, 16);
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6)) {
		memmove(a.bytes, a.bytes + 12, 4);
		memset(a.bytes + 4, 0, 12);
		a.family = AF_INET;
	}
	naive_hits(&hs, &a, p);
	/* refused by the strictest hit no rule opens */
	enum net_hd_class worst = NET_HD_NONE, top = NET_HD_NONE;
	unsigned top_prefix = 0;
	for (unsigned i = 0; i < hs.n; i++) {
		if ((!naive_may_open(p, hs.h[i].cls) ||
		     naive_opener(p, &a, port, hs.h[i].prefix) < 0) &&
		    hs.h[i].cls > worst)
			worst = hs.h[i].cls;
		if (hs.h[i].cls > top || (hs.h[i].cls == top && hs.h[i].prefix > top_prefix)) {
			top = hs.h[i].cls;
			top_prefix = hs.h[i].prefix;
		}
	}
	if (worst != NET_HD_NONE)
		return (struct nverdict){ NET_DENY, -1, worst };
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].action == NET_DENY && p->rules[i].kind == NET_RULE_CIDR &&
		    deny_port(&p->rules[i], port) && naive_contains(&p->rules[i].cidr, &a))
			return (struct nverdict){ NET_DENY, (int)i, NET_HD_NONE };
	int r = naive_opener(p, &a, port, hs.n ? top_prefix : 0);
	if (r >= 0)
		return (struct nverdict){ NET_ALLOW, r, NET_HD_NONE };
	if (resolved || p->mode == NET_MODE_OPEN)
		return (struct nverdict){ NET_ALLOW, -1, NET_HD_NONE };
	return (struct nverdict){ NET_DENY, -1, NET_HD_NONE };
}

/* ---- Checks ---- */

static void same(const struct net_policy *p, const struct net_decision *d, enum net_verdict v,
		 struct nverdict n)
{
	char line[600];
	CHECK(d->reason != NULL);
	CHECK(net_decision_format(d, line, sizeof(line)) < (int)sizeof(line));
	int idx = d->rule ? (int)(d->rule - p->rules) : -1;
	if (v != n.v || d->verdict != v || idx != n.rule || d->hd != n.hd) {
		fprintf(stderr, "real %d rule %d hd %d (%s), naive %d rule %d hd %d\n", v, idx,
			d->hd, line, n.v, n.rule, n.hd);
		__builtin_trap();
	}
	if (v == NET_ALLOW)
		CHECK(d->hd == NET_HD_NONE);
}

static void check_rule_roundtrip(const struct net_rule *r)
{
	char t1[NET_RULE_TEXT_MAX + 1], t2[NET_RULE_TEXT_MAX + 1];
	struct net_rule back;
	const char *why;
	CHECK(net_rule_format(r, t1, sizeof(t1)) > 0);
	CHECK(net_rule_parse(t1, r->action, &back, &why) == 0);
	CHECK(net_rule_equal(r, &back));
	CHECK(net_rule_format(&back, t2, sizeof(t2)) > 0);
	CHECK(!strcmp(t1, t2));
}

static void check_text_roundtrip(const struct net_policy *p)
{
	static struct net_policy q;
	static char t1[NET_POLICY_MAX_RULES * 64], t2[sizeof(t1)];
	unsigned line;
	const char *why;
	size_t n = net_policy_format(p, t1, sizeof(t1));
	CHECK(n < sizeof(t1));
	net_policy_init(&q, NET_MODE_NONE);
	CHECK(net_policy_parse(&q, t1, n, &line, &why) == 0);
	CHECK(q.mode == p->mode && q.flags == p->flags && q.nrules == p->nrules);
	for (size_t i = 0; i < p->nrules; i++)
		CHECK(net_rule_equal(&p->rules[i], &q.rules[i]));
	CHECK(net_policy_format(&q, t2, sizeof(t2)) == n && !strcmp(t1, t2));
}

static void check_normalizer(const char *s, size_t len)
{
	char real[NET_NAME_MAX + 1], naive[300];
	const char *why = NULL;
	int k = net_name_normalize(s, len, real, &why);
	int nk = naive_norm(s, len, naive);
	CHECK((k < 0) == (nk < 0));
	if (k < 0) {
		CHECK(why != NULL);
		return;
	}
	CHECK(k == nk && !strcmp(real, nk == 1 ? "localhost" : naive));
	/* nothing an address parser would take is a name */
	struct in_addr ia;
	CHECK(!memchr(s, 0, len));
	char z[300];
	memcpy(z, s, len);
	z[len] = '\0';
	CHECK(inet_aton(z, &ia) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_policy p, o;
	struct rd r = { data, size };
	char text[320];
	const char *why;

	/* the normaliser on the raw input first, whatever its shape */
	check_normalizer((const char *)data, size < 300 ? size : 300);

	net_policy_init(&p, (enum net_mode)(u8(&r) % 3));
	p.flags = u8(&r) & (NET_POLICY_ALLOW_HOST | NET_POLICY_ALLOW_LINK_LOCAL);
	unsigned nhost = u8(&r) % 4, nrules = u8(&r) % 25;
	for (unsigned i = 0; i < nhost; i++) {
		struct net_addr a;
		gen_addr(&r, &a);
		CHECK(net_policy_add_host_addr(&p, &a) == 0);
	}
	for (unsigned i = 0; i < nrules; i++) {
		uint8_t op = u8(&r);
		enum net_verdict act = (op & 2) ? NET_ALLOW : NET_DENY;
		if ((op & 0xc0) == 0xc0 && p.nrules) { /* remove one, keeping the order */
			size_t k = u8(&r) % p.nrules, n = p.nrules;
			struct net_rule gone = p.rules[k], next = p.rules[k + 1 < n ? k + 1 : k];
			CHECK(net_policy_remove(&p, &gone) == 0);
			CHECK(net_policy_remove(&p, &gone) == -ENOENT && p.nrules == n - 1);
			CHECK(k + 1 == n || net_rule_equal(&p.rules[k], &next));
			continue;
		}
		if (op & 1) { /* raw text */
			take_text(&r, text, u8(&r) % 80);
		} else if (op & 4) { /* a name or wildcard */
			size_t off = (op & 8) ? 2 : 0;
			memcpy(text, "*.", 2);
			gen_name(&r, text + off, 200);
		} else { /* an address range */
			struct net_addr a;
			gen_addr(&r, &a);
			struct net_cidr c = { .addr = a };
			c.prefix = (uint8_t)(u8(&r) % (net_addr_bits(&a) + 1));
			for (unsigned b = c.prefix; b < net_addr_bits(&a); b++)
				c.addr.bytes[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
			CHECK(net_cidr_format(&c, text, sizeof(text)) > 0);
		}
		if (op & 16) { /* a port; an IPv6 range needs brackets for it */
			char host[sizeof(text)];
			memcpy(host, text, sizeof(host));
			snprintf(text, sizeof(text),
				 strchr(host, ':') && !(op & 1) ? "[%s]:%u" : "%s:%u", host,
				 u16(&r));
		}
		struct net_rule rule;
		if (net_rule_parse(text, act, &rule, &why) == 0) {
			check_rule_roundtrip(&rule);
			CHECK(net_policy_add(&p, &rule) == 0);
		} else {
			CHECK(why != NULL);
		}
	}
	check_text_roundtrip(&p);
	o = p;
	o.mode = NET_MODE_OPEN;

	for (unsigned q = 0; q < 64 && r.n; q++) {
		uint8_t op = u8(&r);
		uint16_t port = (op & 8) ? 0 : u16(&r);
		struct net_decision d, od;
		enum net_verdict v;
		if ((op & 3) == 0) {
			if (op & 4)
				gen_name(&r, text, 260);
			else
				take_text(&r, text, u8(&r));
			check_normalizer(text, strlen(text));
			v = net_decide_name(&p, text, port, &d);
			same(&p, &d, v, naive_name(&p, text, port));
			if (v == NET_ALLOW)
				CHECK(net_decide_name(&o, text, port, &od) == NET_ALLOW);
		} else {
			struct net_addr a;
			bool resolved = (op & 3) == 2;
			gen_addr(&r, &a);
			v = resolved ? net_decide_resolved(&p, &a, port, &d)
				     : net_decide_addr(&p, &a, port, &d);
			same(&p, &d, v, naive_addr(&p, &a, port, resolved));
			if (v == NET_ALLOW && !resolved)
				CHECK(net_decide_addr(&o, &a, port, &od) == NET_ALLOW);
		}
	}
	return 0;
}
