/* test_net_dns.c: the broker's DNS front end (src/net/dns.c) on hand-built
 * queries: every header and name rule, EDNS, each reply kind byte for byte,
 * truncation, and the DNS-over-TCP frame reader across 1-byte reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "net/dns.h"

#define HDR(id_hi, id_lo, fl_hi, fl_lo, qd, an, ns, ar) \
	id_hi, id_lo, fl_hi, fl_lo, 0, qd, 0, an, 0, ns, 0, ar
/* "example.com" A IN, and the same name in mixed case, as resolvers that
 * randomise case send it */
#define Q_EXAMPLE(t)			7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, t, 0, 1
#define Q_EXAMPLE_MIXED(t)		7, 'E', 'x', 'A', 'm', 'P', 'l', 'e', 3, 'C', 'O', 'm', 0, 0, t, 0, 1
/* OPT: root, TYPE 41, CLASS = UDP size, TTL = 0, RDLEN */
#define OPT(sz_hi, sz_lo, rd_hi, rd_lo) 0, 0, 41, sz_hi, sz_lo, 0, 0, 0, 0, rd_hi, rd_lo

static const uint8_t q_a[] = { HDR(0x12, 0x34, 0x01, 0x00, 1, 0, 0, 0), Q_EXAMPLE(1) };
/* what `dig` sends: AD set, EDNS 1232 with an 8-byte client cookie */
static const uint8_t q_aaaa_edns[] = {
	HDR(0xbe, 0xef, 0x01, 0x20, 1, 0, 0, 1),
	Q_EXAMPLE_MIXED(28),
	OPT(0x04, 0xd0, 0, 12),
	0,
	10,
	0,
	8,
	1,
	2,
	3,
	4,
	5,
	6,
	7,
	8,
};

/* q_aaaa_edns with EDNS VERSION 1 (the OPT's TTL octet 2, RFC 6891 §6.1.3) */
static void edns_version_1(uint8_t v1[sizeof(q_aaaa_edns)])
{
	memcpy(v1, q_aaaa_edns, sizeof(q_aaaa_edns));
	v1[12 + 17 + 6] = 1;
}

static enum dns_err parse(const uint8_t *b, size_t n, struct dns_query *q)
{
	return dns_query_parse(b, n, q);
}

static void test_parse_a(void **st)
{
	(void)st;
	struct dns_query q;
	assert_int_equal(parse(q_a, sizeof(q_a), &q), DNS_OK);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.rd);
	assert_int_equal(q.qtype, ns_t_a);
	assert_int_equal(q.qclass, ns_c_in);
	assert_string_equal(q.name, "example.com");
	assert_int_equal(q.name_len, 11);
	assert_false(q.has_edns);
	assert_int_equal(q.udp_size, 512);
	assert_int_equal(q.question_len, 17);
	assert_memory_equal(q.question, q_a + 12, 17);
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_A);
}

static void test_parse_aaaa_edns(void **st)
{
	(void)st;
	struct dns_query q;
	assert_int_equal(parse(q_aaaa_edns, sizeof(q_aaaa_edns), &q), DNS_OK);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.qtype, ns_t_aaaa);
	assert_string_equal(q.name, "example.com");	       /* lowercased */
	assert_memory_equal(q.question, q_aaaa_edns + 12, 17); /* case kept */
	assert_true(q.has_edns);
	assert_int_equal(q.edns_version, 0);
	assert_int_equal(q.udp_size, 1232);
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_NODATA);
}

static void test_parse_txt_mx_any_chaos(void **st)
{
	(void)st;
	struct dns_query q;
	const uint8_t txt[] = { HDR(0, 1, 0x01, 0, 1, 0, 0, 0), Q_EXAMPLE(16) };
	const uint8_t mx[] = { HDR(0, 2, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(15), OPT(0x01, 0x00, 0, 0) };
	const uint8_t any[] = { HDR(0, 3, 0, 0, 1, 0, 0, 0), Q_EXAMPLE(255) };
	/* version.bind TXT CH */
	const uint8_t ch[] = { HDR(0, 4, 0, 0, 1, 0, 0, 0),
			       7,
			       'v',
			       'e',
			       'r',
			       's',
			       'i',
			       'o',
			       'n',
			       4,
			       'b',
			       'i',
			       'n',
			       'd',
			       0,
			       0,
			       16,
			       0,
			       3 };
	assert_int_equal(parse(txt, sizeof(txt), &q), DNS_OK);
	assert_int_equal(q.qtype, ns_t_txt);
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_NODATA);
	assert_int_equal(parse(mx, sizeof(mx), &q), DNS_OK);
	assert_int_equal(q.qtype, ns_t_mx);
	assert_false(q.rd);
	assert_int_equal(q.udp_size, 512); /* EDNS 256 counts as 512 */
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_NODATA);
	assert_int_equal(parse(any, sizeof(any), &q), DNS_OK);
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_REFUSE);
	assert_int_equal(parse(ch, sizeof(ch), &q), DNS_OK);
	assert_string_equal(q.name, "version.bind");
	assert_int_equal(dns_query_plan(&q), DNS_PLAN_REFUSE);
}

static void test_parse_root_and_underscore(void **st)
{
	(void)st;
	struct dns_query q;
	const uint8_t root[] = { HDR(0, 5, 0, 0, 1, 0, 0, 0), 0, 0, 2, 0, 1 };
	const uint8_t srv[] = { HDR(0, 6, 0, 0, 1, 0, 0, 0),
				5,
				'_',
				'h',
				't',
				't',
				'p',
				4,
				'_',
				't',
				'c',
				'p',
				2,
				'x',
				'-',
				0,
				0,
				33,
				0,
				1 };
	assert_int_equal(parse(root, sizeof(root), &q), DNS_OK);
	assert_string_equal(q.name, ".");
	assert_int_equal(q.question_len, 5);
	assert_int_equal(parse(srv, sizeof(srv), &q), DNS_OK);
	assert_string_equal(q.name, "_http._tcp.x-");
}

/* A name of n labels of length l each, then QTYPE A, QCLASS IN. */
static size_t long_query(uint8_t *b, const uint8_t *lens, size_t nlab)
{
	const uint8_t h[] = { HDR(0xaa, 0xbb, 0, 0, 1, 0, 0, 0) };
	size_t p = sizeof(h);
	memcpy(b, h, p);
	for (size_t i = 0; i < nlab; i++) {
		b[p++] = lens[i];
		memset(b + p, 'a', lens[i]);
		p += lens[i];
	}
	b[p++] = 0;
	const uint8_t t[] = { 0, 1, 0, 1 };
	memcpy(b + p, t, 4);
	return p + 4;
}

static void test_name_limits(void **st)
{
	(void)st;
	uint8_t b[600];
	struct dns_query q;
	/* 3 x (1+63) + (1+61) + 1 = 255 octets: the longest name */
	const uint8_t max[] = { 63, 63, 63, 61 };
	size_t n = long_query(b, max, 4);
	assert_int_equal(parse(b, n, &q), DNS_OK);
	assert_int_equal(q.name_len, 253);
	assert_int_equal(strlen(q.name), 253);
	assert_int_equal(q.question_len, 259);
	/* one more octet: 256 */
	const uint8_t over[] = { 63, 63, 63, 62 };
	n = long_query(b, over, 4);
	assert_int_equal(parse(b, n, &q), DNS_E_NAME_LEN);
	assert_int_equal(dns_err_reply(DNS_E_NAME_LEN), DNS_REPLY_FORMERR);
	assert_int_equal(q.id, 0xaabb);
	assert_int_equal(q.question_len, 0);
	/* a 64-octet label: the length byte is 0x40 */
	const uint8_t lab[] = { 64 };
	n = long_query(b, lab, 1);
	assert_int_equal(parse(b, n, &q), DNS_E_LABEL_LEN);
	const uint8_t lab127[] = { 127 }, lab191[] = { 191 };
	n = long_query(b, lab127, 1);
	assert_int_equal(parse(b, n, &q), DNS_E_LABEL_LEN);
	n = long_query(b, lab191, 1);
	assert_int_equal(parse(b, n, &q), DNS_E_LABEL_LEN);
	/* 128 one-octet labels: 257 octets, stopped by the length rule */
	uint8_t ones[128];
	memset(ones, 1, sizeof(ones));
	n = long_query(b, ones, 128);
	assert_int_equal(parse(b, n, &q), DNS_E_NAME_LEN);
}

static void test_malformed(void **st)
{
	(void)st;
	struct dns_query q;
	uint8_t b[64];

	/* truncated header: no id, no reply */
	assert_int_equal(parse(q_a, 11, &q), DNS_E_SHORT);
	assert_int_equal(dns_err_reply(DNS_E_SHORT), DNS_REPLY_NONE);
	assert_int_equal(parse(q_a, 0, &q), DNS_E_SHORT);
	/* every cut inside the question */
	for (size_t n = 12; n < sizeof(q_a); n++)
		assert_int_equal(parse(q_a, n, &q), DNS_E_TRUNCATED);
	/* a compression pointer at the name, and after a label */
	const uint8_t ptr[] = { HDR(0, 7, 0, 0, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1 };
	assert_int_equal(parse(ptr, sizeof(ptr), &q), DNS_E_POINTER);
	const uint8_t ptr2[] = { HDR(0, 7, 0, 0, 1, 0, 0, 0), 1, 'a', 0xc0, 12, 0, 1, 0, 1 };
	assert_int_equal(parse(ptr2, sizeof(ptr2), &q), DNS_E_POINTER);
	assert_int_equal(dns_err_reply(DNS_E_POINTER), DNS_REPLY_FORMERR);
	/* QDCOUNT 2 and 0 */
	memcpy(b, q_a, sizeof(q_a));
	b[5] = 2;
	assert_int_equal(parse(b, sizeof(q_a), &q), DNS_E_QDCOUNT);
	b[5] = 0;
	assert_int_equal(parse(b, sizeof(q_a), &q), DNS_E_QDCOUNT);
	/* QR=1: a response */
	memcpy(b, q_a, sizeof(q_a));
	b[2] |= 0x80;
	assert_int_equal(parse(b, sizeof(q_a), &q), DNS_E_NOT_QUERY);
	assert_int_equal(dns_err_reply(DNS_E_NOT_QUERY), DNS_REPLY_NONE);
	/* OPCODE 2 (STATUS) */
	memcpy(b, q_a, sizeof(q_a));
	b[2] = 2 << 3;
	assert_int_equal(parse(b, sizeof(q_a), &q), DNS_E_OPCODE);
	assert_int_equal(q.opcode, 2);
	assert_int_equal(dns_err_reply(DNS_E_OPCODE), DNS_REPLY_NOTIMP);
	/* ANCOUNT, NSCOUNT, ARCOUNT 2 */
	for (int i = 7; i <= 11; i += 2) {
		memcpy(b, q_a, sizeof(q_a));
		b[i] = i == 11 ? 2 : 1;
		assert_int_equal(parse(b, sizeof(q_a), &q), DNS_E_COUNTS);
	}
	/* trailing garbage: refused, question kept for the FORMERR echo */
	memcpy(b, q_a, sizeof(q_a));
	b[sizeof(q_a)] = 0;
	assert_int_equal(parse(b, sizeof(q_a) + 1, &q), DNS_E_TRAILING);
	assert_int_equal(q.question_len, 17);
	assert_int_equal(dns_err_reply(DNS_E_TRAILING), DNS_REPLY_FORMERR);
	/* a '.' inside a label, a space, a NUL: well-formed but refused */
	const uint8_t dot[] = { HDR(0, 8, 0, 0, 1, 0, 0, 0), 3, 'a', '.', 'b', 0, 0, 1, 0, 1 };
	assert_int_equal(parse(dot, sizeof(dot), &q), DNS_E_NAME_CHARS);
	assert_string_equal(q.name, "a?b");
	assert_int_equal(q.question_len, 9);
	assert_int_equal(dns_err_reply(DNS_E_NAME_CHARS), DNS_REPLY_REFUSED);
	const uint8_t nul[] = { HDR(0, 8, 0, 0, 1, 0, 0, 0), 2, 'a', 0, 0, 0, 1, 0, 1 };
	assert_int_equal(parse(nul, sizeof(nul), &q), DNS_E_NAME_CHARS);
	assert_string_equal(q.name, "a?");
	const uint8_t nl[] = { HDR(0, 8, 0, 0, 1, 0, 0, 0), 4, 'E', '\n', 'v', ' ', 0, 0, 1, 0, 1 };
	assert_int_equal(parse(nl, sizeof(nl), &q), DNS_E_NAME_CHARS);
	assert_string_equal(q.name, "e?v?");
	/* structure beats characters: bad chars + trailing is FORMERR */
	memcpy(b, dot, sizeof(dot));
	b[sizeof(dot)] = 0;
	assert_int_equal(parse(b, sizeof(dot) + 1, &q), DNS_E_TRAILING);
}

static void test_malformed_opt(void **st)
{
	(void)st;
	struct dns_query q;
	/* the additional record is an A record, not OPT */
	const uint8_t not_opt[] = { HDR(0, 9, 0, 0, 1, 0, 0, 1),
				    Q_EXAMPLE(1),
				    0,
				    0,
				    1,
				    0,
				    1,
				    0,
				    0,
				    0,
				    0,
				    0,
				    4,
				    1,
				    2,
				    3,
				    4 };
	assert_int_equal(parse(not_opt, sizeof(not_opt), &q), DNS_E_OPT);
	/* OPT with a non-root owner */
	const uint8_t owner[] = {
		HDR(0, 9, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(1), 1, 'a', 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0
	};
	assert_int_equal(parse(owner, sizeof(owner), &q), DNS_E_OPT);
	/* an option that overruns RDATA, and RDATA with a 3-byte scrap */
	const uint8_t over[] = {
		HDR(0, 9, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(1), OPT(2, 0, 0, 6), 0, 10, 0, 3, 1, 2
	};
	assert_int_equal(parse(over, sizeof(over), &q), DNS_E_OPT);
	const uint8_t scrap[] = {
		HDR(0, 9, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(1), OPT(2, 0, 0, 3), 0, 10, 0
	};
	assert_int_equal(parse(scrap, sizeof(scrap), &q), DNS_E_OPT);
	/* RDLEN past the end, and the OPT cut in its fixed part */
	const uint8_t rdlen[] = { HDR(0, 9, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(1), OPT(2, 0, 0, 1) };
	assert_int_equal(parse(rdlen, sizeof(rdlen), &q), DNS_E_TRUNCATED);
	assert_int_equal(parse(rdlen, sizeof(rdlen) - 3, &q), DNS_E_TRUNCATED);
	/* ARCOUNT 1 and nothing there */
	assert_int_equal(parse(rdlen, 12 + 17, &q), DNS_E_TRUNCATED);
	/* EDNS version 1: BADVERS, with what a reply needs */
	uint8_t v1[sizeof(q_aaaa_edns)];
	edns_version_1(v1);
	assert_int_equal(parse(v1, sizeof(v1), &q), DNS_E_BADVERS);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_version, 1);
	assert_int_equal(dns_err_reply(DNS_E_BADVERS), DNS_REPLY_BADVERS);
}

static long build(const struct dns_query *q, enum dns_reply_kind k, uint8_t *out, size_t cap)
{
	struct dns_answer a = { .kind = k, .ttl = DNS_SYNTH_TTL };
	inet_pton(AF_INET, "198.18.0.5", &a.addr);
	return dns_reply_build(q, &a, out, cap);
}

/* Parse query (which must give want_err), build a reply of kind k, and
 * compare it with want byte for byte. */
static void check_reply(const uint8_t *query, size_t qn, enum dns_err want_err,
			enum dns_reply_kind k, const uint8_t *want, size_t wn)
{
	struct dns_query q;
	uint8_t out[DNS_REPLY_MAX];
	assert_int_equal(parse(query, qn, &q), want_err);
	assert_int_equal(build(&q, k, out, sizeof(out)), (long)wn);
	assert_memory_equal(out, want, wn);
}

static void test_reply_a(void **st)
{
	(void)st;
	const uint8_t want[] = {
		HDR(0x12, 0x34, 0x81, 0x80, 1, 1, 0, 0),
		Q_EXAMPLE(1),
		0xc0,
		0x0c,
		0,
		1,
		0,
		1,
		0,
		0,
		0,
		30,
		0,
		4,
		198,
		18,
		0,
		5,
	};
	check_reply(q_a, sizeof(q_a), DNS_OK, DNS_REPLY_A, want, sizeof(want));

	/* with EDNS: the question echoed in the guest's case, CD echoed, OPT added */
	uint8_t qe[sizeof(q_aaaa_edns)];
	memcpy(qe, q_aaaa_edns, sizeof(qe));
	qe[12 + 14] = 1; /* QTYPE A */
	qe[3] = 0x10;	 /* CD */
	const uint8_t want_e[] = {
		HDR(0xbe, 0xef, 0x81, 0x90, 1, 1, 0, 1),
		Q_EXAMPLE_MIXED(1),
		0xc0,
		0x0c,
		0,
		1,
		0,
		1,
		0,
		0,
		0,
		30,
		0,
		4,
		198,
		18,
		0,
		5,
		OPT(0x04, 0xd0, 0, 0),
	};
	check_reply(qe, sizeof(qe), DNS_OK, DNS_REPLY_A, want_e, sizeof(want_e));
}

static void test_reply_negative(void **st)
{
	(void)st;
	struct dns_query q;
	uint8_t out[DNS_REPLY_MAX];

	/* AAAA: NODATA, NOERROR with no answer */
	const uint8_t nodata[] = {
		HDR(0xbe, 0xef, 0x81, 0x80, 1, 0, 0, 1),
		Q_EXAMPLE_MIXED(28),
		OPT(0x04, 0xd0, 0, 0),
	};
	check_reply(q_aaaa_edns, sizeof(q_aaaa_edns), DNS_OK, DNS_REPLY_NODATA, nodata,
		    sizeof(nodata));
	/* REFUSED with EDNS carries EDE 18 "Prohibited" (RFC 8914) */
	const uint8_t refused[] = {
		HDR(0xbe, 0xef, 0x81, 0x85, 1, 0, 0, 1),
		Q_EXAMPLE_MIXED(28),
		OPT(0x04, 0xd0, 0, 6),
		0,
		15,
		0,
		2,
		0,
		18,
	};
	check_reply(q_aaaa_edns, sizeof(q_aaaa_edns), DNS_OK, DNS_REPLY_REFUSED, refused,
		    sizeof(refused));
	/* an A answer to an AAAA question is never built */
	assert_int_equal(parse(q_aaaa_edns, sizeof(q_aaaa_edns), &q), DNS_OK);
	assert_int_equal(build(&q, DNS_REPLY_A, out, sizeof(out)), -EINVAL);
	assert_int_equal(build(&q, DNS_REPLY_NONE, out, sizeof(out)), -EINVAL);

	/* without EDNS: plain header + question */
	assert_int_equal(parse(q_a, sizeof(q_a), &q), DNS_OK);
	const struct {
		enum dns_reply_kind k;
		uint8_t rcode;
	} plain[] = {
		{ DNS_REPLY_REFUSED, 5 }, { DNS_REPLY_NXDOMAIN, 3 }, { DNS_REPLY_SERVFAIL, 2 },
		{ DNS_REPLY_FORMERR, 1 }, { DNS_REPLY_NODATA, 0 },
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		uint8_t want[] = { HDR(0x12, 0x34, 0x81, 0x80, 1, 0, 0, 0), Q_EXAMPLE(1) };
		want[3] |= plain[i].rcode;
		assert_int_equal(build(&q, plain[i].k, out, sizeof(out)), sizeof(want));
		assert_memory_equal(out, want, sizeof(want));
	}
	/* BADVERS needs EDNS */
	assert_int_equal(build(&q, DNS_REPLY_BADVERS, out, sizeof(out)), -EINVAL);
}

static void test_reply_errors(void **st)
{
	(void)st;
	struct dns_query q;
	uint8_t out[DNS_REPLY_MAX];

	/* FORMERR for a name with a pointer: id kept, no question */
	const uint8_t ptr[] = { HDR(0x55, 0x66, 0x01, 0, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1 };
	const uint8_t formerr[] = { HDR(0x55, 0x66, 0x81, 0x81, 0, 0, 0, 0) };
	check_reply(ptr, sizeof(ptr), DNS_E_POINTER, dns_err_reply(DNS_E_POINTER), formerr,
		    sizeof(formerr));
	/* and no NXDOMAIN/NODATA/A without a question */
	assert_int_equal(parse(ptr, sizeof(ptr), &q), DNS_E_POINTER);
	assert_int_equal(build(&q, DNS_REPLY_A, out, sizeof(out)), -EINVAL);
	assert_int_equal(build(&q, DNS_REPLY_NXDOMAIN, out, sizeof(out)), -EINVAL);
	assert_int_equal(build(&q, DNS_REPLY_NODATA, out, sizeof(out)), -EINVAL);

	/* NOTIMP echoes the opcode */
	uint8_t st2[sizeof(q_a)];
	memcpy(st2, q_a, sizeof(st2));
	st2[2] = 2 << 3 | 1;
	const uint8_t notimp[] = { HDR(0x12, 0x34, 0x91, 0x84, 0, 0, 0, 0) };
	check_reply(st2, sizeof(st2), DNS_E_OPCODE, dns_err_reply(DNS_E_OPCODE), notimp,
		    sizeof(notimp));

	/* BADVERS: RCODE 16 = header 0 + OPT extended RCODE 1 (RFC 6891 §6.1.3) */
	uint8_t v1[sizeof(q_aaaa_edns)];
	edns_version_1(v1);
	const uint8_t badvers[] = {
		HDR(0xbe, 0xef, 0x81, 0x80, 1, 0, 0, 1),
		Q_EXAMPLE_MIXED(28),
		0,
		0,
		41,
		0x04,
		0xd0,
		1,
		0,
		0,
		0,
		0,
		0,
	};
	check_reply(v1, sizeof(v1), DNS_E_BADVERS, DNS_REPLY_BADVERS, badvers, sizeof(badvers));

	/* a malformed OPT: FORMERR echoes the question, without OPT */
	const uint8_t bad_opt[] = {
		HDR(0, 9, 0, 0, 1, 0, 0, 1), Q_EXAMPLE(1), OPT(2, 0, 0, 3), 0, 10, 0
	};
	const uint8_t formerr_q[] = { HDR(0, 9, 0x80, 0x81, 1, 0, 0, 0), Q_EXAMPLE(1) };
	check_reply(bad_opt, sizeof(bad_opt), DNS_E_OPT, DNS_REPLY_FORMERR, formerr_q,
		    sizeof(formerr_q));
}

static void test_reply_truncation(void **st)
{
	(void)st;
	struct dns_query q;
	uint8_t out[DNS_REPLY_MAX];
	const size_t full = 12 + 17 + 16, bare = 12 + 17;

	assert_int_equal(parse(q_a, sizeof(q_a), &q), DNS_OK);
	assert_int_equal(build(&q, DNS_REPLY_A, out, full), full);
	/* one octet short: TC, no answer */
	const uint8_t tc[] = { HDR(0x12, 0x34, 0x83, 0x80, 1, 0, 0, 0), Q_EXAMPLE(1) };
	assert_int_equal(build(&q, DNS_REPLY_A, out, full - 1), sizeof(tc));
	assert_memory_equal(out, tc, sizeof(tc));
	assert_int_equal(build(&q, DNS_REPLY_A, out, bare), bare);
	/* not even the question fits */
	assert_int_equal(build(&q, DNS_REPLY_A, out, bare - 1), -ENOSPC);
	assert_int_equal(build(&q, DNS_REPLY_REFUSED, out, 11), -ENOSPC);

	/* with EDNS the truncated reply keeps its OPT (RFC 6891 §7) */
	uint8_t qe[sizeof(q_aaaa_edns)];
	memcpy(qe, q_aaaa_edns, sizeof(qe));
	qe[12 + 14] = 1;
	const uint8_t tc_e[] = { HDR(0xbe, 0xef, 0x83, 0x80, 1, 0, 0, 1), Q_EXAMPLE_MIXED(1),
				 OPT(0x04, 0xd0, 0, 0) };
	assert_int_equal(parse(qe, sizeof(qe), &q), DNS_OK);
	assert_int_equal(build(&q, DNS_REPLY_A, out, sizeof(tc_e)), sizeof(tc_e));
	assert_memory_equal(out, tc_e, sizeof(tc_e));

	/* the guest's 512 bound: the longest question still gets its answer */
	uint8_t b[300];
	const uint8_t max[] = { 63, 63, 63, 61 };
	size_t n = long_query(b, max, 4);
	assert_int_equal(parse(b, n, &q), DNS_OK);
	assert_int_equal(build(&q, DNS_REPLY_A, out, sizeof(out)), 12 + 259 + 16);
}

static void test_tcp_put_len(void **st)
{
	(void)st;
	uint8_t p[2];
	assert_int_equal(dns_tcp_put_len(p, 0x1234), 0);
	assert_int_equal(p[0], 0x12);
	assert_int_equal(p[1], 0x34);
	assert_int_equal(dns_tcp_put_len(p, 65535), 0);
	assert_int_equal(dns_tcp_put_len(p, 65536), -EMSGSIZE);
}

static void test_tcp_reader_bytewise(void **st)
{
	(void)st;
	struct dns_tcp_reader r;
	uint8_t stream[2 + sizeof(q_a) + 2 + sizeof(q_aaaa_edns)];
	size_t n = 0;
	dns_tcp_put_len(stream, sizeof(q_a));
	memcpy(stream + 2, q_a, sizeof(q_a));
	n = 2 + sizeof(q_a);
	dns_tcp_put_len(stream + n, sizeof(q_aaaa_edns));
	memcpy(stream + n + 2, q_aaaa_edns, sizeof(q_aaaa_edns));
	n += 2 + sizeof(q_aaaa_edns);

	dns_tcp_reader_init(&r);
	assert_true(dns_tcp_reader_idle(&r));
	int got = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *m;
		size_t ml;
		assert_int_equal(dns_tcp_reader_feed(&r, stream + i, 1, &m, &ml), 1);
		if (i == 2 + sizeof(q_a) - 1) {
			assert_non_null(m);
			assert_int_equal(ml, sizeof(q_a));
			assert_memory_equal(m, q_a, sizeof(q_a));
			assert_true(dns_tcp_reader_idle(&r));
			got++;
		} else if (i == n - 1) {
			assert_non_null(m);
			assert_int_equal(ml, sizeof(q_aaaa_edns));
			assert_memory_equal(m, q_aaaa_edns, sizeof(q_aaaa_edns));
			got++;
		} else {
			assert_null(m);
			assert_false(dns_tcp_reader_idle(&r));
		}
	}
	assert_int_equal(got, 2);

	/* whole stream in one buffer: one message per call */
	dns_tcp_reader_init(&r);
	const uint8_t *m;
	size_t ml;
	assert_int_equal(dns_tcp_reader_feed(&r, stream, n, &m, &ml), 2 + sizeof(q_a));
	assert_int_equal(ml, sizeof(q_a));
	assert_int_equal(
		dns_tcp_reader_feed(&r, stream + 2 + sizeof(q_a), n - 2 - sizeof(q_a), &m, &ml),
		2 + sizeof(q_aaaa_edns));
	assert_int_equal(ml, sizeof(q_aaaa_edns));
	assert_int_equal(dns_tcp_reader_feed(&r, stream, 0, &m, &ml), 0);
	assert_null(m);
}

static void test_tcp_reader_rejects(void **st)
{
	(void)st;
	struct dns_tcp_reader r;
	const uint8_t *m;
	size_t ml;
	const uint8_t eleven[] = { 0, 11 }, zero[] = { 0, 0 }, big[] = { 0x04, 0x01 };
	const uint8_t twelve[] = { 0, 12, 1 }, max[] = { 0x04, 0x00 };

	dns_tcp_reader_init(&r);
	assert_int_equal(dns_tcp_reader_feed(&r, eleven, 1, &m, &ml), 1);
	assert_int_equal(dns_tcp_reader_feed(&r, eleven + 1, 1, &m, &ml), -EBADMSG);
	assert_false(dns_tcp_reader_idle(&r));
	/* sticky */
	assert_int_equal(dns_tcp_reader_feed(&r, twelve, 3, &m, &ml), -EBADMSG);
	dns_tcp_reader_init(&r);
	assert_int_equal(dns_tcp_reader_feed(&r, zero, 2, &m, &ml), -EBADMSG);
	dns_tcp_reader_init(&r);
	assert_int_equal(dns_tcp_reader_feed(&r, big, 2, &m, &ml), -EMSGSIZE);
	dns_tcp_reader_init(&r);
	assert_int_equal(dns_tcp_reader_feed(&r, max, 2, &m, &ml), 2);
	dns_tcp_reader_init(&r);
	assert_int_equal(dns_tcp_reader_feed(&r, twelve, 3, &m, &ml), 3);
	assert_null(m);
}

static void test_strerror(void **st)
{
	(void)st;
	for (int e = 0; e < DNS_E_COUNT_; e++)
		assert_non_null(dns_strerror((enum dns_err)e));
	assert_string_equal(dns_strerror(DNS_E_POINTER), "compression pointer in a query name");
	assert_string_equal(dns_strerror((enum dns_err)99), "unknown DNS error");
	assert_string_equal(dns_reply_str(DNS_REPLY_REFUSED), "REFUSED");
	assert_string_equal(dns_reply_str(DNS_REPLY_BADVERS), "BADVERS");
	assert_string_equal(dns_reply_str((enum dns_reply_kind)42), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_a),
		cmocka_unit_test(test_parse_aaaa_edns),
		cmocka_unit_test(test_parse_txt_mx_any_chaos),
		cmocka_unit_test(test_parse_root_and_underscore),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_opt),
		cmocka_unit_test(test_reply_a),
		cmocka_unit_test(test_reply_negative),
		cmocka_unit_test(test_reply_errors),
		cmocka_unit_test(test_reply_truncation),
		cmocka_unit_test(test_tcp_put_len),
		cmocka_unit_test(test_tcp_reader_bytewise),
		cmocka_unit_test(test_tcp_reader_rejects),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
