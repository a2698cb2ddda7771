/* fuzz_net_dns.c: libFuzzer target for the broker's DNS front end (src/net/dns.c).
 *
 * The input is used three ways:
 *  1. as one guest message: dns_query_parse() must stay in bounds and give
 *     a sane query; for every reply kind the builder accepts, the reply is
 *     checked by a minimal response reader written here, independently of
 *     dns.c (header bits, echoed question, answer and OPT records, sizes),
 *     and dns_query_parse() must see it as a response (QR=1); an accepted
 *     query rebuilt from the parsed fields parses to the same fields;
 *  2. as a DNS-over-TCP stream: the incremental reader, fed in chunk sizes
 *     drawn from the input, must yield exactly the messages (and the same
 *     error) as a whole-buffer splitter written here;
 *  3. every message the splitter finds goes through step 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "net/dns.h"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The question's wire length in a message that dns_query_parse() took:
 * labels up to the zero octet, then QTYPE and QCLASS. */
static size_t question_len(const uint8_t *m, size_t len)
{
	size_t p = 12;
	while (p < len && m[p] != 0)
		p += 1u + m[p];
	return p + 1 + 4 - 12;
}

struct expect {
	const uint8_t *query; /* the guest's message */
	size_t qlen;	      /* its question length, 0 if none */
	bool edns;	      /* the query had a valid OPT */
	uint16_t room;	      /* max(512, the query's EDNS size) */
	uint8_t rcode;	      /* the 12-bit RCODE of the kind */
	bool answer;	      /* an A record is due */
};

/* Read a reply as a resolver would, knowing only what it asked. */
static void check_response(const uint8_t *r, size_t n, size_t cap, const struct expect *x)
{
	CHECK(n >= 12 && n <= cap && n <= x->room && n <= 512);
	uint16_t flags = be16(r + 2), qf = be16(x->query + 2);
	CHECK(be16(r) == be16(x->query));	      /* id */
	CHECK(flags & 0x8000);			      /* QR */
	CHECK((flags & 0x7800) == (qf & 0x7800));     /* opcode */
	CHECK((flags & 0x0100) == (qf & 0x0100));     /* RD */
	CHECK((flags & 0x0010) == (qf & 0x0010));     /* CD */
	CHECK(!(flags & 0x0400) && (flags & 0x0080)); /* AA=0, RA=1 */
	CHECK((flags & 0xf) == (x->rcode & 0xf));
	bool tc = flags & 0x0200;
	uint16_t qd = be16(r + 4), an = be16(r + 6), ns = be16(r + 8), ar = be16(r + 10);
	CHECK(qd == (x->qlen ? 1 : 0) && ns == 0 && ar == (x->edns ? 1 : 0));
	CHECK(an == (x->answer && !tc ? 1 : 0));
	CHECK(!tc || x->answer); /* only an answer can be dropped */
	size_t p = 12;
	CHECK(n - p >= x->qlen);
	CHECK(memcmp(r + p, x->query + 12, x->qlen) == 0); /* echoed exactly */
	p += x->qlen;
	if (an) {
		CHECK(n - p >= 16);
		CHECK(be16(r + p) == 0xc00c); /* the question's name */
		CHECK(be16(r + p + 2) == 1 && be16(r + p + 4) == 1);
		CHECK(be16(r + p + 10) == 4);
		CHECK(r[p + 12] == 198 && (r[p + 13] & 0xfe) == 18);
		p += 16;
	}
	if (ar) {
		CHECK(n - p >= 11);
		CHECK(r[p] == 0 && be16(r + p + 1) == 41);
		CHECK(r[p + 5] == x->rcode >> 4 && r[p + 6] == 0); /* ext RCODE, version 0 */
		size_t rdlen = be16(r + p + 9);
		p += 11;
		CHECK(n - p == rdlen);
		if (rdlen) { /* EDE, REFUSED only */
			CHECK(x->rcode == 5 && rdlen == 6);
			CHECK(be16(r + p) == 15 && be16(r + p + 2) == 2 && be16(r + p + 4) == 18);
		}
		p += rdlen;
	}
	CHECK(p == n);
}

static const struct {
	enum dns_reply_kind kind;
	uint8_t rcode;
} kinds[] = {
	{ DNS_REPLY_A, 0 },	  { DNS_REPLY_NODATA, 0 },   { DNS_REPLY_NXDOMAIN, 3 },
	{ DNS_REPLY_REFUSED, 5 }, { DNS_REPLY_SERVFAIL, 2 }, { DNS_REPLY_FORMERR, 1 },
	{ DNS_REPLY_NOTIMP, 4 },  { DNS_REPLY_BADVERS, 16 },
};

static void build_all(const struct dns_query *q, const uint8_t *m, size_t len, size_t small_cap)
{
	struct expect x = {
		.query = m,
		.qlen = q->question_len,
		.edns = q->has_edns,
		.room = q->udp_size,
	};
	if (q->question_len)
		CHECK(q->question_len == question_len(m, len));
	struct dns_answer none = { .kind = DNS_REPLY_NONE };
	uint8_t scratch[DNS_REPLY_MAX];
	CHECK(dns_reply_build(q, &none, scratch, sizeof(scratch)) == -EINVAL);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct dns_answer a = { .kind = kinds[k].kind, .ttl = DNS_SYNTH_TTL };
		inet_pton(AF_INET, "198.19.1.2", &a.addr);
		x.rcode = kinds[k].rcode;
		x.answer = a.kind == DNS_REPLY_A;
		size_t caps[2] = { DNS_REPLY_MAX, small_cap };
		for (int c = 0; c < 2; c++) {
			uint8_t out[DNS_REPLY_MAX];
			long n = dns_reply_build(q, &a, out, caps[c]);
			bool need_q = a.kind == DNS_REPLY_A || a.kind == DNS_REPLY_NODATA ||
				      a.kind == DNS_REPLY_NXDOMAIN;
			if ((need_q && !q->question_len) ||
			    (a.kind == DNS_REPLY_BADVERS && !q->has_edns) ||
			    (a.kind == DNS_REPLY_A && (q->qtype != 1 || q->qclass != 1))) {
				CHECK(n == -EINVAL);
				continue;
			}
			size_t opt = q->has_edns ? 11 + (a.kind == DNS_REPLY_REFUSED ? 6 : 0) : 0;
			if (n == -ENOSPC) {
				CHECK(caps[c] < 12 + q->question_len + opt);
				continue;
			}
			CHECK(n > 0);
			check_response(out, (size_t)n, caps[c], &x);
			/* the reply is never taken for a query */
			struct dns_query r;
			CHECK(dns_query_parse(out, (size_t)n, &r) == DNS_E_NOT_QUERY);
		}
	}
}

/* Rebuild an accepted query from its parsed fields. */
static void requery(const struct dns_query *q, const uint8_t *m)
{
	uint8_t b[12 + DNS_QUESTION_MAX + 11];
	size_t n = 12;
	memcpy(b, m, 4); /* id, flags */
	b[4] = 0, b[5] = 1;
	memset(b + 6, 0, 6);
	memcpy(b + n, q->question, q->question_len);
	n += q->question_len;
	if (q->has_edns) {
		const uint8_t opt[] = {
			0, 0, 41, (uint8_t)(q->udp_size >> 8), (uint8_t)q->udp_size, 0, 0, 0,
			0, 0, 0
		};
		b[11] = 1;
		memcpy(b + n, opt, sizeof(opt));
		n += sizeof(opt);
	}
	struct dns_query r;
	CHECK(dns_query_parse(b, n, &r) == DNS_OK);
	CHECK(r.id == q->id && r.qtype == q->qtype && r.qclass == q->qclass);
	CHECK(r.has_edns == q->has_edns && r.udp_size == q->udp_size);
	CHECK(!strcmp(r.name, q->name) && r.name_len == q->name_len);
}

static void one_message(const uint8_t *m, size_t len, size_t small_cap)
{
	struct dns_query q;
	enum dns_err e = dns_query_parse(m, len, &q);
	CHECK((unsigned)e < DNS_E_COUNT_);
	CHECK(dns_strerror(e) != NULL);
	CHECK(q.udp_size >= 512);
	if (q.name_len) /* printable, NUL-free: it may be logged */
		for (size_t i = 0; i < q.name_len; i++)
			CHECK(q.name[i] > ' ' && q.name[i] < 0x7f);
	CHECK(q.name_len == strlen(q.name));
	CHECK(dns_reply_str(dns_err_reply(e)) != NULL);
	if (e == DNS_OK) {
		CHECK(q.name_len <= 253 && q.name_len > 0);
		CHECK(q.question_len >= 5 && q.question_len <= DNS_QUESTION_MAX);
		for (size_t i = 0; i < q.name_len; i++) {
			char c = q.name[i];
			CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_' || c == '.');
		}
		CHECK(!strstr(q.name, "..") && (q.name_len == 1 || q.name[0] != '.'));
		(void)dns_query_plan(&q);
		requery(&q, m);
	}
	if (e == DNS_E_SHORT || e == DNS_E_NOT_QUERY)
		CHECK(dns_err_reply(e) == DNS_REPLY_NONE);
	if (len >= 12 && e != DNS_E_NOT_QUERY)
		build_all(&q, m, len, small_cap);
}

/* Splitter over the whole buffer: the reference for the reader. */
struct frames {
	size_t off[64], len[64], n;
	int err;      /* 0, -EBADMSG or -EMSGSIZE */
	bool partial; /* a frame started but not finished */
};

static void split(const uint8_t *s, size_t size, struct frames *f)
{
	size_t p = 0;
	memset(f, 0, sizeof(*f));
	while (p < size && f->n < 64) {
		if (size - p < 2) {
			f->partial = true;
			return;
		}
		size_t l = be16(s + p);
		if (l < 12 || l > DNS_QUERY_MAX) {
			f->err = l < 12 ? -EBADMSG : -EMSGSIZE;
			return;
		}
		if (size - p - 2 < l) {
			f->partial = true;
			return;
		}
		f->off[f->n] = p + 2;
		f->len[f->n++] = l;
		p += 2 + l;
	}
}

static void stream(const uint8_t *s, size_t size)
{
	struct frames f;
	struct dns_tcp_reader r;
	size_t p = 0, got = 0;
	uint32_t rng = 0x9e3779b9u ^ (uint32_t)size;
	int err = 0;

	split(s, size, &f);
	dns_tcp_reader_init(&r);
	if (f.n == 64) /* the splitter stopped early; compare that far */
		size = f.off[63] + f.len[63];
	while (p < size) {
		rng = rng * 1103515245u + 12345u;
		size_t chunk = 1 + (rng >> 16) % 40;
		if (chunk > size - p)
			chunk = size - p;
		size_t c_off = 0;
		while (c_off < chunk) {
			const uint8_t *m;
			size_t ml;
			long n = dns_tcp_reader_feed(&r, s + p + c_off, chunk - c_off, &m, &ml);
			if (n < 0) {
				err = (int)n;
				break;
			}
			CHECK(n >= 1 && (size_t)n <= chunk - c_off);
			c_off += (size_t)n;
			if (m) {
				uint8_t pre[DNS_TCP_PREFIX];
				CHECK(got < f.n && ml == f.len[got]);
				CHECK(memcmp(m, s + f.off[got], ml) == 0);
				/* framing it again gives the prefix it came with */
				CHECK(dns_tcp_put_len(pre, ml) == 0);
				CHECK(memcmp(pre, s + f.off[got] - 2, 2) == 0);
				got++;
			}
		}
		if (err)
			break;
		p += chunk;
	}
	CHECK(got == f.n);
	CHECK(err == f.err);
	if (err) { /* the error sticks */
		const uint8_t *m;
		size_t ml;
		CHECK(dns_tcp_reader_feed(&r, s, size, &m, &ml) == err && m == NULL);
	}
	CHECK(dns_tcp_reader_idle(&r) == (!f.err && !f.partial));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a reply room below the full reply, drawn from the input, so
         * truncation and ENOSPC are reached too */
	size_t small_cap = size ? data[size - 1] % (DNS_REPLY_MAX + 1) : 0;

	one_message(data, size, small_cap);
	stream(data, size);
	struct frames f;
	split(data, size, &f);
	for (size_t i = 0; i < f.n; i++)
		one_message(data + f.off[i], f.len[i], small_cap);
	return 0;
}
