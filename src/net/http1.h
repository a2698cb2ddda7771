/* http1.h: the client half of an HTTP/1.1 connection, framed request by
 * request so that one header can be set in each (silo-netd's secrets at
 * egress, docs/secrets.md).
 *
 * The broker sits between a guest's client and an API server it trusts,
 * and adds a credential to every request the client sends. It must find
 * where each request's head begins and ends, and so where each body ends,
 * exactly as the server will (RFC 9112 §6: Content-Length, chunked). A
 * framer that read a body one way while the server reads it another way
 * would let the guest send a request the broker never saw (request
 * smuggling), so everything RFC 9112 lets a server reject, or that two
 * servers might read differently, is rejected here and ends the
 * connection: obsolete line folding, bare LF, whitespace before the colon,
 * Content-Length together with Transfer-Encoding, two Content-Lengths, a
 * transfer coding other than "chunked" alone, control bytes. The server's
 * side (responses) is relayed as it is and never parsed.
 *
 * After a request with Upgrade, or a CONNECT, the rest of the connection is
 * relayed as it is: after a 101 it is no longer HTTP. A server that refuses
 * the upgrade then sees later requests without the header (they fail to
 * authenticate; nothing is sent that should not be).
 */
#ifndef SILO_NET_HTTP1_H
#define SILO_NET_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_HEAD_MAX	(64u * 1024) /* a request line and its header fields */
#define HTTP1_LINE_MAX	4096	     /* a chunk-size line, a trailer field */
#define HTTP1_VALUE_MAX 8192	     /* the value the broker sets */

/* Bytes for the server, grown as needed. */
struct http1_buf {
	uint8_t *p;
	size_t len, cap;
};

enum http1_state {
	HTTP1_HEAD,	  /* reading a request head */
	HTTP1_BODY,	  /* left bytes of a Content-Length body */
	HTTP1_CHUNK_SIZE, /* a chunk-size line */
	HTTP1_CHUNK_DATA, /* left bytes of a chunk */
	HTTP1_CHUNK_END,  /* the CRLF after a chunk's data */
	HTTP1_TRAILER,	  /* trailer fields, up to an empty line */
	HTTP1_RAW,	  /* after Upgrade or CONNECT: bytes as they are */
	HTTP1_FAILED,	  /* a rejected request: the connection must end */
};

struct http1_framer {
	/* the field set in every request head: any field of that name the
	 * client sent is removed first */
	const char *name, *value;
	enum http1_state state;
	uint64_t left;
	size_t hlen; /* bytes in line: a head, chunk-size line or trailer */
	char line[HTTP1_HEAD_MAX];
	unsigned requests; /* heads passed */
};

/* A framer that sets "name: value" (a token, and printable text without
 * tabs). 0, or -1 if either is invalid or name is a field that frames or
 * routes the message (Content-Length, Transfer-Encoding, Host, Connection,
 * Upgrade, TE, Trailer). */
int http1_init(struct http1_framer *f, const char *name, const char *value);

/* The client sent in[0..n): append to out what the server gets. 0, or -1
 * with *why (a static string) once the client broke the rules, or out of
 * memory: then the connection ends, and out holds only what came before the
 * bad request. */
int http1_feed(struct http1_framer *f, const uint8_t *in, size_t n, struct http1_buf *out,
	       const char **why);

void http1_buf_free(struct http1_buf *b);

#endif
