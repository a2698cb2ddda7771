/* dns.c: parse guest DNS queries, build the broker's answers, and reassemble
 * DNS-over-TCP frames (see dns.h). RFC 1035 §4.1 for the message format,
 * RFC 6891 for EDNS, RFC 7766 for TCP. Pure code: no I/O, no allocation. */
#include "net/dns.h"

#include <errno.h>
#include <string.h>

/* Header flag bits (RFC 1035 §4.1.1; AD/CD: RFC 4035 §3.2). */
#define F_QR	     0x8000u
#define F_OPCODE     0x7800u
#define F_TC	     0x0200u
#define F_RD	     0x0100u
#define F_RA	     0x0080u
#define F_CD	     0x0010u
#define OPCODE_SHIFT 11

/* Extended DNS Error (RFC 8914 §4): option 15, INFO-CODE 18 "Prohibited". */
#define EDNS_OPT_EDE   15u
#define EDE_PROHIBITED 18u
#define EDE_OPT_LEN    6u		   /* code, length, info-code; no EXTRA-TEXT */
#define OPT_RR_LEN     (1u + NS_RRFIXEDSZ) /* root name + fixed part */
#define A_RR_LEN       (2u + NS_RRFIXEDSZ + 4u)
#define PTR_TO_QNAME   (NS_CMPRSFLGS << 8 | NS_HFIXEDSZ) /* 0xc00c */

static const char *const reasons[DNS_E_COUNT_] = {
	[DNS_OK] = "ok",
	[DNS_E_SHORT] = "message shorter than a DNS header",
	[DNS_E_NOT_QUERY] = "QR=1: a response, not a query",
	[DNS_E_OPCODE] = "opcode is not QUERY",
	[DNS_E_QDCOUNT] = "QDCOUNT is not 1",
	[DNS_E_COUNTS] = "answer/authority records or more than one additional record in a query",
	[DNS_E_POINTER] = "compression pointer in a query name",
	[DNS_E_LABEL_LEN] = "label longer than 63 octets (or an extended label type)",
	[DNS_E_NAME_LEN] = "query name longer than 255 octets",
	[DNS_E_TRUNCATED] = "message ends inside a record",
	[DNS_E_OPT] = "additional record is not a valid EDNS OPT record",
	[DNS_E_TRAILING] = "trailing octets after the last record",
	[DNS_E_BADVERS] = "unsupported EDNS version",
	[DNS_E_NAME_CHARS] = "query name has characters outside letters, digits, '-' and '_'",
};

const char *dns_strerror(enum dns_err e)
{
	if ((unsigned)e >= DNS_E_COUNT_)
		return "unknown DNS error";
	return reasons[e];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

/* Host names are letters, digits and '-' (RFC 952, RFC 1123 §2.1); '_'
 * starts service labels (RFC 8552). Anything else, '.' above all, would
 * make the dotted text ambiguous for the policy matcher. */
static bool name_char_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Read the question name at buf[*pos]. Labels only: a query has one name
 * and nothing earlier to point at, so pointers are refused (and with them
 * any loop). Each step consumes at least one octet, and the 255-octet
 * limit stops the walk before 128 steps. */
static enum dns_err parse_qname(const uint8_t *buf, size_t len, size_t *pos, struct dns_query *q,
				bool *bad_chars)
{
	size_t p = *pos, wire = 0, t = 0;

	for (;;) {
		if (p >= len)
			return DNS_E_TRUNCATED;
		uint8_t l = buf[p];
		if ((l & NS_CMPRSFLGS) == NS_CMPRSFLGS)
			return DNS_E_POINTER;
		/* 0x40 and 0x80 prefixes were extended label types, now
                 * retired (RFC 6891 §5); as lengths they exceed the 63
                 * octets a label may have (RFC 1035 §2.3.4). */
		if (l > NS_MAXLABEL)
			return DNS_E_LABEL_LEN;
		/* RFC 1035 §3.1: the whole name, length octets and the
                 * final zero included, is at most 255 octets. */
		wire += 1u + l;
		if (wire > NS_MAXCDNAME)
			return DNS_E_NAME_LEN;
		if (l == 0)
			break;
		if (l > len - p - 1)
			return DNS_E_TRUNCATED;
		if (t > 0)
			q->name[t++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = buf[p + 1 + i];
			/* '?' keeps the text printable and unambiguous
                         * for the log line that reports the refusal. */
			if (!name_char_ok(c)) {
				*bad_chars = true;
				c = '?';
			}
			q->name[t++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
		}
		p += 1u + l;
	}
	/* wire ≤ 255 bounds t at 253: the name fits DNS_NAME_TEXT_MAX. */
	if (t == 0)
		q->name[t++] = '.';
	q->name[t] = '\0';
	q->name_len = t;
	*pos = p + 1;
	return DNS_OK;
}

/* The single additional record a query may carry: an OPT pseudo-RR
 * (RFC 6891 §6.1.2: root owner name, TYPE 41, CLASS = UDP payload size,
 * TTL = extended RCODE, VERSION, DO and Z; RDATA = options). */
static enum dns_err parse_opt(const uint8_t *buf, size_t len, size_t *pos, struct dns_query *q)
{
	size_t p = *pos;

	if (len - p < OPT_RR_LEN)
		return DNS_E_TRUNCATED;
	if (buf[p] != 0 || get16(buf + p + 1) != ns_t_opt)
		return DNS_E_OPT;
	uint16_t size = get16(buf + p + 3);
	uint8_t version = buf[p + 6];
	uint16_t rdlen = get16(buf + p + 9);
	p += OPT_RR_LEN;
	if (rdlen > len - p)
		return DNS_E_TRUNCATED;
	/* The options must tile RDATA exactly (RFC 6891 §6.1.2). At most
         * rdlen / 4 steps. */
	size_t o = 0;
	while (o < rdlen) {
		if (rdlen - o < 4)
			return DNS_E_OPT;
		uint16_t olen = get16(buf + p + o + 2);
		if (olen > rdlen - o - 4)
			return DNS_E_OPT;
		o += 4u + olen;
	}
	q->has_edns = true;
	q->edns_version = version;
	/* Sizes below 512 are treated as 512 (RFC 6891 §6.2.5). */
	q->udp_size = size < NS_PACKETSZ ? NS_PACKETSZ : size;
	*pos = p + rdlen;
	return DNS_OK;
}

enum dns_err dns_query_parse(const uint8_t *buf, size_t len, struct dns_query *q)
{
	memset(q, 0, sizeof(*q));
	q->udp_size = NS_PACKETSZ;
	if (len < NS_HFIXEDSZ)
		return DNS_E_SHORT;

	uint16_t flags = get16(buf + 2);
	q->id = get16(buf);
	q->opcode = (uint8_t)((flags & F_OPCODE) >> OPCODE_SHIFT);
	q->rd = flags & F_RD;
	q->cd = flags & F_CD;
	if (flags & F_QR)
		return DNS_E_NOT_QUERY;
	if (q->opcode != ns_o_query)
		return DNS_E_OPCODE;
	if (get16(buf + 4) != 1)
		return DNS_E_QDCOUNT;
	uint16_t arcount = get16(buf + 10);
	if (get16(buf + 6) != 0 || get16(buf + 8) != 0 || arcount > 1)
		return DNS_E_COUNTS;

	size_t pos = NS_HFIXEDSZ;
	bool bad_chars = false;
	enum dns_err e = parse_qname(buf, len, &pos, q, &bad_chars);
	if (e != DNS_OK) {
		q->name[0] = '\0'; /* no half names in the log */
		return e;
	}
	if (len - pos < NS_QFIXEDSZ)
		return DNS_E_TRUNCATED;
	q->qtype = get16(buf + pos);
	q->qclass = get16(buf + pos + 2);
	pos += NS_QFIXEDSZ;
	q->question_len = pos - NS_HFIXEDSZ;
	memcpy(q->question, buf + NS_HFIXEDSZ, q->question_len);

	if (arcount == 1) {
		e = parse_opt(buf, len, &pos, q);
		if (e != DNS_OK)
			return e;
	}
	if (pos != len)
		return DNS_E_TRAILING;
	if (q->has_edns && q->edns_version != 0)
		return DNS_E_BADVERS;
	/* Last: the message is well-formed, so REFUSED can echo it whole. */
	return bad_chars ? DNS_E_NAME_CHARS : DNS_OK;
}

const char *dns_reply_str(enum dns_reply_kind k)
{
	static const char *const names[] = {
		[DNS_REPLY_NONE] = "no reply",	 [DNS_REPLY_A] = "A",
		[DNS_REPLY_NODATA] = "NODATA",	 [DNS_REPLY_NXDOMAIN] = "NXDOMAIN",
		[DNS_REPLY_REFUSED] = "REFUSED", [DNS_REPLY_SERVFAIL] = "SERVFAIL",
		[DNS_REPLY_FORMERR] = "FORMERR", [DNS_REPLY_NOTIMP] = "NOTIMP",
		[DNS_REPLY_BADVERS] = "BADVERS",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

enum dns_reply_kind dns_err_reply(enum dns_err e)
{
	switch (e) {
	case DNS_OK:
	case DNS_E_SHORT:     /* no id to answer to */
	case DNS_E_NOT_QUERY: /* answering responses invites loops */
	case DNS_E_COUNT_:
		return DNS_REPLY_NONE;
	case DNS_E_OPCODE:
		return DNS_REPLY_NOTIMP;
	case DNS_E_NAME_CHARS:
		return DNS_REPLY_REFUSED;
	case DNS_E_BADVERS:
		return DNS_REPLY_BADVERS;
	case DNS_E_QDCOUNT:
	case DNS_E_COUNTS:
	case DNS_E_POINTER:
	case DNS_E_LABEL_LEN:
	case DNS_E_NAME_LEN:
	case DNS_E_TRUNCATED:
	case DNS_E_OPT:
	case DNS_E_TRAILING:
		break;
	}
	return DNS_REPLY_FORMERR;
}

enum dns_plan dns_query_plan(const struct dns_query *q)
{
	if (q->qclass != ns_c_in)
		return DNS_PLAN_REFUSE;
	if (q->qtype == ns_t_a)
		return DNS_PLAN_A;
	/* TYPE 0 is reserved, OPT (41) is a meta-type and 128-255 are
         * query and meta types: ANY, AXFR, IXFR, TSIG... (RFC 6895 §3.1). */
	if (q->qtype == 0 || q->qtype == ns_t_opt || (q->qtype >= 128 && q->qtype <= 255))
		return DNS_PLAN_REFUSE;
	return DNS_PLAN_NODATA;
}

/* RCODE of each kind; BADVERS is 12 bits wide: its upper 8 bits go in the
 * OPT record's TTL (RFC 6891 §6.1.3). */
static int kind_rcode(enum dns_reply_kind k)
{
	switch (k) {
	case DNS_REPLY_A:
	case DNS_REPLY_NODATA:
		return ns_r_noerror;
	case DNS_REPLY_NXDOMAIN:
		return ns_r_nxdomain;
	case DNS_REPLY_REFUSED:
		return ns_r_refused;
	case DNS_REPLY_SERVFAIL:
		return ns_r_servfail;
	case DNS_REPLY_FORMERR:
		return ns_r_formerr;
	case DNS_REPLY_NOTIMP:
		return ns_r_notimpl;
	case DNS_REPLY_BADVERS:
		return ns_r_badvers;
	case DNS_REPLY_NONE:
		break;
	}
	return -1;
}

long dns_reply_build(const struct dns_query *q, const struct dns_answer *a, uint8_t *out,
		     size_t cap)
{
	int rcode = kind_rcode(a->kind);
	if (rcode < 0)
		return -EINVAL;
	bool need_q = a->kind == DNS_REPLY_A || a->kind == DNS_REPLY_NODATA ||
		      a->kind == DNS_REPLY_NXDOMAIN;
	if (need_q && q->question_len == 0)
		return -EINVAL;
	if (a->kind == DNS_REPLY_A && (q->qtype != ns_t_a || q->qclass != ns_c_in))
		return -EINVAL;
	if (a->kind == DNS_REPLY_BADVERS && !q->has_edns)
		return -EINVAL;

	size_t ede = (q->has_edns && a->kind == DNS_REPLY_REFUSED) ? EDE_OPT_LEN : 0;
	size_t opt = q->has_edns ? OPT_RR_LEN + ede : 0;
	size_t ans = a->kind == DNS_REPLY_A ? A_RR_LEN : 0;
	size_t base = NS_HFIXEDSZ + q->question_len + opt;
	size_t limit = cap < q->udp_size ? cap : q->udp_size;
	bool tc = false;
	if (base + ans > limit) {
		if (base > limit)
			return -ENOSPC;
		tc = true;
		ans = 0;
	}

	uint16_t flags = F_QR | F_RA | (uint16_t)(q->opcode << OPCODE_SHIFT) | (rcode & 0xf);
	if (q->rd)
		flags |= F_RD;
	if (q->cd)
		flags |= F_CD;
	if (tc)
		flags |= F_TC;
	uint8_t *p = put16(out, q->id);
	p = put16(p, flags);
	p = put16(p, q->question_len ? 1 : 0);
	p = put16(p, ans ? 1 : 0);
	p = put16(p, 0);
	p = put16(p, opt ? 1 : 0);
	memcpy(p, q->question, q->question_len);
	p += q->question_len;
	if (ans) {
		/* The owner is the question's name, by pointer: compression
                 * is fine in responses (RFC 1035 §4.1.4). */
		p = put16(p, PTR_TO_QNAME);
		p = put16(p, ns_t_a);
		p = put16(p, ns_c_in);
		p = put32(p, a->ttl);
		p = put16(p, sizeof(a->addr));
		memcpy(p, &a->addr, sizeof(a->addr)); /* already network order */
		p += sizeof(a->addr);
	}
	if (opt) {
		*p++ = 0; /* root owner */
		p = put16(p, ns_t_opt);
		p = put16(p, DNS_EDNS_UDP_SIZE);
		/* TTL: extended RCODE, VERSION 0, DO 0 (we do not sign), Z */
		p = put32(p, (uint32_t)(rcode >> 4) << 24);
		p = put16(p, (uint16_t)ede);
		if (ede) {
			p = put16(p, EDNS_OPT_EDE);
			p = put16(p, 2);
			p = put16(p, EDE_PROHIBITED);
		}
	}
	return p - out;
}

int dns_tcp_put_len(uint8_t out[DNS_TCP_PREFIX], size_t len)
{
	if (len > UINT16_MAX)
		return -EMSGSIZE;
	put16(out, (uint16_t)len);
	return 0;
}

void dns_tcp_reader_init(struct dns_tcp_reader *r)
{
	r->prefix_have = 0;
	r->need = 0;
	r->have = 0;
	r->err = 0;
}

bool dns_tcp_reader_idle(const struct dns_tcp_reader *r)
{
	return r->err == 0 && r->prefix_have == 0;
}

long dns_tcp_reader_feed(struct dns_tcp_reader *r, const uint8_t *in, size_t len,
			 const uint8_t **msg, size_t *msg_len)
{
	size_t used = 0;

	*msg = NULL;
	*msg_len = 0;
	if (r->err)
		return r->err;
	while (used < len && r->prefix_have < DNS_TCP_PREFIX) {
		r->prefix[r->prefix_have++] = in[used++];
		if (r->prefix_have < DNS_TCP_PREFIX)
			continue;
		r->need = get16(r->prefix);
		r->have = 0;
		/* Shorter than a header cannot be a message; longer than
                 * DNS_QUERY_MAX is no query a stub sends (dns.h). */
		if (r->need < NS_HFIXEDSZ)
			return r->err = -EBADMSG;
		if (r->need > DNS_QUERY_MAX)
			return r->err = -EMSGSIZE;
	}
	if (r->prefix_have < DNS_TCP_PREFIX)
		return (long)used;
	size_t n = r->need - r->have;
	if (n > len - used)
		n = len - used;
	memcpy(r->buf + r->have, in + used, n);
	r->have += n;
	used += n;
	if (r->have == r->need) {
		*msg = r->buf;
		*msg_len = r->need;
		r->prefix_have = 0;
	}
	return (long)used;
}
