/* dns.h: the broker's DNS front end: guest queries in, synthetic answers out.
 *
 * The guest's DNS stub forwards every query, UDP or TCP, over vsock with the
 * DNS-over-TCP framing (RFC 7766 §8: a 2-byte big-endian length, then the
 * message). silo-netd reads frames with struct dns_tcp_reader, parses each
 * with dns_query_parse(), asks the policy about q.name, and answers with
 * dns_reply_build(). Nothing here resolves, decides policy or allocates:
 * the caller does, between parse and build:
 *
 *   struct dns_query q;
 *   enum dns_err e = dns_query_parse(msg, len, &q);
 *   struct dns_answer a = { .kind = dns_err_reply(e) };
 *   if (e == DNS_OK) {
 *           switch (dns_query_plan(&q)) {          // what the question asks for
 *           case DNS_PLAN_REFUSE: a.kind = DNS_REPLY_REFUSED; break;
 *           case DNS_PLAN_NODATA: a.kind = allowed(q.name) ? DNS_REPLY_NODATA : DNS_REPLY_REFUSED; break;
 *           case DNS_PLAN_A:      // denied: REFUSED; the host's resolver says
 *                                 // no such name: NXDOMAIN; it failed: SERVFAIL;
 *                                 // else pool_lookup_or_add(q.name, &a.addr),
 *                                 a.kind = DNS_REPLY_A, a.ttl = DNS_SYNTH_TTL;
 *           }
 *   }
 *   if (a.kind != DNS_REPLY_NONE) n = dns_reply_build(&q, &a, out, sizeof(out));
 *
 * Every message is hostile input: parsing is bounded by the buffer and by
 * the 255-octet name limit, never recursive, and compression pointers are
 * refused in queries (a stub never compresses its only name).
 */
#ifndef SILO_NET_DNS_H
#define SILO_NET_DNS_H

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A name as dotted text: at most NS_MAXCDNAME (255) wire octets, which is
 * 253 characters without the trailing dot (RFC 1035 §2.3.4, §3.1), + NUL. */
#define DNS_NAME_TEXT_MAX 254u
/* The question section as sent: the wire name (≤ 255) + QTYPE + QCLASS. */
#define DNS_QUESTION_MAX  (NS_MAXCDNAME + NS_QFIXEDSZ)
/* The longest query frame the TCP reader accepts. A stub's query is at most
 * 12 + 259 + 11 = 282 octets plus EDNS options (a cookie is ≤ 40 octets,
 * RFC 7873 §4; padding rounds to 128-octet blocks, RFC 8467 §4.1). Longer
 * frames are not queries and close the stream. */
#define DNS_QUERY_MAX	  1024u
/* The UDP payload size we advertise in our OPT record (RFC 6891 §6.2.5);
 * 1232 is the DNS Flag Day 2020 value. Our replies never come near it. */
#define DNS_EDNS_UDP_SIZE 1232u
/* The TTL of a synthetic A record: short, so a guest that caches answers
 * asks again soon and refreshes its pool entry (see pool.h on eviction). */
#define DNS_SYNTH_TTL	  30u
/* The largest reply dns_reply_build() writes: header, question, one A
 * record by pointer (2 + 10 + 4), an OPT record with one Extended DNS Error
 * (11 + 6). It fits in 512 octets, so no answer of ours is ever truncated
 * for lack of EDNS; TC only happens when the caller's buffer is smaller. */
#define DNS_REPLY_MAX	  (NS_HFIXEDSZ + DNS_QUESTION_MAX + 16u + 17u)
_Static_assert(DNS_REPLY_MAX <= NS_PACKETSZ, "every reply fits a plain UDP message");

/* Why a query was not accepted. The reason strings (dns_strerror) go into
 * `silo net log` as they are. */
enum dns_err {
	DNS_OK = 0,
	DNS_E_SHORT,	  /* fewer than 12 octets: no header, no id */
	DNS_E_NOT_QUERY,  /* QR=1: a response, never answered */
	DNS_E_OPCODE,	  /* OPCODE is not QUERY (0) */
	DNS_E_QDCOUNT,	  /* QDCOUNT is not 1 */
	DNS_E_COUNTS,	  /* ANCOUNT or NSCOUNT not 0, or ARCOUNT > 1 */
	DNS_E_POINTER,	  /* a compression pointer in the question */
	DNS_E_LABEL_LEN,  /* length octet over 63: an extended label type (RFC 6891 §5) */
	DNS_E_NAME_LEN,	  /* name longer than 255 octets */
	DNS_E_TRUNCATED,  /* the message ends inside the question or OPT */
	DNS_E_OPT,	  /* the additional record is not a well-formed OPT */
	DNS_E_TRAILING,	  /* octets after the last record */
	DNS_E_BADVERS,	  /* EDNS version other than 0 (RFC 6891 §6.1.3) */
	DNS_E_NAME_CHARS, /* a label byte outside [A-Za-z0-9_-] */
	DNS_E_COUNT_
};

/* A parsed query. Filled as far as parsing got: id and opcode once the
 * header is there, the question once it parsed (question_len > 0), EDNS
 * once the OPT record parsed. */
struct dns_query {
	uint16_t id;
	uint8_t opcode;
	bool rd;	 /* recursion desired: echoed */
	bool cd;	 /* checking disabled: echoed (RFC 6840 §5.9) */
	uint16_t qtype;	 /* ns_t_* */
	uint16_t qclass; /* ns_c_* */
	bool has_edns;	 /* a valid OPT record was present */
	uint8_t edns_version;
	uint16_t udp_size; /* room for our reply: 512 without EDNS, else max(512, advertised) */
	/* lowercase, dotted, no trailing dot; the root is "."; with
         * DNS_E_NAME_CHARS each refused byte shows as '?' (safe to log) */
	char name[DNS_NAME_TEXT_MAX];
	size_t name_len;
	/* the question section exactly as the guest sent it (case kept, for
         * resolvers that randomise case, draft-vixie-dnsext-dns0x20) */
	uint8_t question[DNS_QUESTION_MAX];
	size_t question_len;
};

/* Parse one guest query (a whole message, without the TCP length prefix).
 * Compression pointers are refused and octets after the last record are
 * an error (a stub never sends them; the frame length says where the
 * message ends). */
enum dns_err dns_query_parse(const uint8_t *buf, size_t len, struct dns_query *q);
const char *dns_strerror(enum dns_err e);

enum dns_reply_kind {
	DNS_REPLY_NONE = 0, /* send nothing */
	DNS_REPLY_A,	    /* one synthetic A record */
	DNS_REPLY_NODATA,   /* NOERROR, no answer (RFC 2308 §2.2) */
	DNS_REPLY_NXDOMAIN,
	DNS_REPLY_REFUSED,  /* policy said no; carries EDE 18 "Prohibited" with EDNS */
	DNS_REPLY_SERVFAIL, /* the host's resolver failed */
	DNS_REPLY_FORMERR,
	DNS_REPLY_NOTIMP,
	DNS_REPLY_BADVERS, /* needs EDNS: extended RCODE 16 */
};

/* The reply for a query that dns_query_parse() did not accept (DNS_OK
 * maps to NONE: the caller decides). Responses and header-less scraps get
 * no reply; unknown opcodes NOTIMP; bad structure FORMERR; odd characters
 * in a name REFUSED (the question is well-formed, we just do not serve
 * such names); EDNS version > 0 BADVERS. */
enum dns_reply_kind dns_err_reply(enum dns_err e);

/* "REFUSED", "NXDOMAIN"...: for the log. */
const char *dns_reply_str(enum dns_reply_kind k);

/* What a well-formed question asks of the broker. */
enum dns_plan {
	DNS_PLAN_A,	 /* A/IN: resolve (if the policy allows) and answer synthetic */
	DNS_PLAN_NODATA, /* any other data type in class IN, AAAA included */
	DNS_PLAN_REFUSE, /* class other than IN, or a meta/query type (ANY, AXFR, OPT...) */
};
/* AAAA gets NODATA for allowed names: the guest is IPv4-only (every
 * destination is a synthetic IPv4 address), and NXDOMAIN would tell a stub
 * that queries A and AAAA in parallel that the name does not exist at all.
 * MX, TXT, SRV, HTTPS... get NODATA too: the broker forwards nothing
 * upstream but the host's address lookups. */
enum dns_plan dns_query_plan(const struct dns_query *q);

struct dns_answer {
	enum dns_reply_kind kind;
	struct in_addr addr; /* DNS_REPLY_A: the synthetic address */
	uint32_t ttl;	     /* DNS_REPLY_A: seconds, DNS_SYNTH_TTL */
};

/* Write the reply to q into out[0..cap). The question is echoed byte for
 * byte when it parsed (QDCOUNT 0 otherwise); an OPT record is added when
 * the query had one (RFC 6891 §6.1.1). The reply is bounded by
 * min(cap, q->udp_size); when the answer would not fit, TC is set and the
 * answer dropped (RFC 2181 §9; the header, question and OPT remain, RFC
 * 6891 §7). No SOA goes with NXDOMAIN/NODATA on purpose: without one a
 * resolver does not cache the negative answer (RFC 2308 §5), so a rule
 * added with `silo policy --allow` takes effect at once.
 * Returns the length, or -EINVAL (NONE; A for a question that is not
 * A/IN; an answer kind without a parsed question; BADVERS without EDNS),
 * or -ENOSPC (not even the truncated reply fits). */
long dns_reply_build(const struct dns_query *q, const struct dns_answer *a, uint8_t *out,
		     size_t cap);

/* DNS over TCP framing (RFC 7766 §8, RFC 1035 §4.2.2). */
#define DNS_TCP_PREFIX 2u
/* out[0..1] = len, big-endian. -EMSGSIZE if len does not fit 16 bits. */
int dns_tcp_put_len(uint8_t out[DNS_TCP_PREFIX], size_t len);

/* Reassembles length-prefixed messages from a stream read in any chunks.
 * Frames shorter than a header or longer than DNS_QUERY_MAX are an error
 * that sticks: the caller closes the stream. */
struct dns_tcp_reader {
	uint8_t prefix[DNS_TCP_PREFIX];
	size_t prefix_have;
	size_t need; /* message length, once the prefix is in */
	size_t have;
	int err; /* 0 or the sticky error */
	uint8_t buf[DNS_QUERY_MAX];
};

void dns_tcp_reader_init(struct dns_tcp_reader *r);
/* Consume bytes from in[0..len). Returns how many were consumed (≥ 1 when
 * len > 0, stopping right after a completed message), or -EBADMSG (a
 * length < 12) / -EMSGSIZE (> DNS_QUERY_MAX). When a message completes,
 * *msg and *msg_len point at it inside r (valid until the next call);
 * otherwise *msg is NULL. */
long dns_tcp_reader_feed(struct dns_tcp_reader *r, const uint8_t *in, size_t len,
			 const uint8_t **msg, size_t *msg_len);
/* True when the stream may end here (no partial frame). */
bool dns_tcp_reader_idle(const struct dns_tcp_reader *r);

#endif
