/* http1.c: request framing and one header set in each (http1.h). Section
 * numbers are RFC 9112's (HTTP/1.1) and RFC 9110's (semantics). */
#include "net/http1.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2: tchar */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 9110 §5.5: field-vchar, SP and HTAB; obs-text (0x80..) is allowed in
 * a value, every other control byte (NUL, CR, LF, DEL) is not. */
static bool value_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int http1_init(struct http1_framer *f, const char *name, const char *value)
{
	memset(f, 0, sizeof(*f));
	if (!name || !value || !name[0] || strlen(value) > HTTP1_VALUE_MAX)
		return -1;
	for (const char *p = name; *p; p++)
		if (!tchar((unsigned char)*p))
			return -1;
	/* fields that frame the message or route it are not ours to set */
	static const char *const framing[] = { "content-length", "transfer-encoding", "host",
					       "connection",	 "upgrade",	      "te",
					       "trailer" };
	for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
		if (!strcasecmp(name, framing[i]))
			return -1;
	for (const char *p = value; *p; p++)
		if (!value_byte((unsigned char)*p) || *p == '\t')
			return -1;
	f->name = name;
	f->value = value;
	f->state = HTTP1_HEAD;
	return 0;
}

void http1_buf_free(struct http1_buf *b)
{
	free(b->p);
	*b = (struct http1_buf){ 0 };
}

static int put(struct http1_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int fail(struct http1_framer *f, const char **why, const char *what)
{
	f->state = HTTP1_FAILED;
	*why = what;
	return -1;
}

/* The field value of line [p, end) after its colon, without the optional
 * whitespace around it (§5.1): [*v, *vend). */
static void field_value(const char *colon, const char *end, const char **v, const char **vend)
{
	const char *a = colon + 1, *z = end;
	while (a < z && (*a == ' ' || *a == '\t'))
		a++;
	while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
		z--;
	*v = a;
	*vend = z;
}

/* One field line [p, end) without its CRLF (§5): a token, a colon, a
 * value. NULL, or why it is refused. *colon: the colon. */
static const char *check_field(const char *p, const char *end, const char **colon)
{
	if (p < end && (*p == ' ' || *p == '\t'))
		return "obsolete line folding"; /* §5.2: may be rejected */
	const char *c = p;
	while (c < end && tchar((unsigned char)*c))
		c++;
	if (c == p || c == end || *c != ':')
		/* §5.1: no whitespace between name and colon */
		return "malformed header field";
	for (const char *q = c + 1; q < end; q++)
		if (!value_byte((unsigned char)*q))
			return "control byte in a header field";
	*colon = c;
	return NULL;
}

static bool named(const char *p, const char *colon, const char *name)
{
	size_t n = strlen(name);
	return (size_t)(colon - p) == n && !strncasecmp(p, name, n);
}

/* §3: method SP request-target SP HTTP-version. *raw: CONNECT. */
static const char *check_request_line(const char *p, const char *end, bool *raw, bool *http10)
{
	const char *m = p;
	while (p < end && tchar((unsigned char)*p))
		p++;
	if (p == m || p == end || *p != ' ')
		return "malformed request line";
	*raw = p - m == 7 && !memcmp(m, "CONNECT", 7);
	const char *t = ++p;
	while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == t || p == end || *p != ' ')
		return "malformed request line";
	p++;
	if (end - p != 8 || (memcmp(p, "HTTP/1.1", 8) && memcmp(p, "HTTP/1.0", 8)))
		return "not an HTTP/1.x request";
	*http10 = p[7] == '0';
	return NULL;
}

/* A whole head in f->line (ending CRLF CRLF): checked, rewritten into out,
 * and the state for what follows it. */
static int head_rewrite(struct http1_framer *f, struct http1_buf *out, const char **why)
{
	const char *p = f->line, *end = f->line + f->hlen - 2; /* the last CRLF */
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	bool raw = false, http10 = false, chunked = false, has_len = false;
	uint64_t len = 0;
	const char *w;

	if ((w = check_request_line(p, eol, &raw, &http10)))
		return fail(f, why, w);
	if (put(out, p, (size_t)(eol - p) + 2) < 0)
		return fail(f, why, "out of memory");
	for (p = eol + 2; p < end; p = eol + 2) {
		const char *colon, *v, *vend;
		eol = memmem(p, (size_t)(end - p + 2), "\r\n", 2);
		if ((w = check_field(p, eol, &colon)))
			return fail(f, why, w);
		field_value(colon, eol, &v, &vend);
		if (named(p, colon, "content-length")) {
			/* §6.3: two lengths (even equal ones) read differently by
			 * different servers: refuse */
			if (has_len || vend == v || vend - v > 18)
				return fail(f, why, "bad Content-Length");
			for (const char *d = v; d < vend; d++) {
				if (*d < '0' || *d > '9')
					return fail(f, why, "bad Content-Length");
				len = len * 10 + (uint64_t)(*d - '0');
			}
			has_len = true;
		} else if (named(p, colon, "transfer-encoding")) {
			/* §6.1: only chunked, once; never in HTTP/1.0 */
			if (chunked || http10 || vend - v != 7 || strncasecmp(v, "chunked", 7))
				return fail(f, why, "unsupported Transfer-Encoding");
			chunked = true;
		} else if (named(p, colon, "upgrade")) {
			raw = true;
		}
		if (named(p, colon, f->name))
			continue; /* the client's own: replaced below */
		if (put(out, p, (size_t)(eol - p) + 2) < 0)
			return fail(f, why, "out of memory");
	}
	if (chunked && has_len)
		/* §6.1: "ought to be handled as an error" */
		return fail(f, why, "both Content-Length and Transfer-Encoding");
	if (put(out, f->name, strlen(f->name)) < 0 || put(out, ": ", 2) < 0 ||
	    put(out, f->value, strlen(f->value)) < 0 || put(out, "\r\n\r\n", 4) < 0)
		return fail(f, why, "out of memory");
	f->requests++;
	f->hlen = 0;
	f->left = len;
	f->state = raw ? HTTP1_RAW : chunked ? HTTP1_CHUNK_SIZE : len ? HTTP1_BODY : HTTP1_HEAD;
	return 0;
}

/* head_rewrite, and on failure nothing of this head in out */
static int head_done(struct http1_framer *f, struct http1_buf *out, const char **why)
{
	size_t mark = out->len;
	int r = head_rewrite(f, out, why);
	if (r < 0)
		out->len = mark;
	return r;
}

/* §7.1: chunk-size [ chunk-ext ] CRLF, in f->line. */
static int chunk_size_done(struct http1_framer *f, struct http1_buf *out, const char **why)
{
	const char *p = f->line, *end = f->line + f->hlen - 2;
	uint64_t size = 0;
	int digits = 0;

	for (; p < end && digits <= 15; p++, digits++) {
		int d = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
						 : -1;
		if (d < 0)
			break;
		size = size << 4 | (uint64_t)d;
	}
	/* 15 hex digits (2^60 bytes) is more than any body: more is an
	 * overflow some server would wrap */
	if (!digits || digits > 15 || (p < end && *p != ';'))
		return fail(f, why, "bad chunk size");
	for (; p < end; p++)
		if (!value_byte((unsigned char)*p))
			return fail(f, why, "bad chunk extension");
	if (put(out, f->line, f->hlen) < 0)
		return fail(f, why, "out of memory");
	f->hlen = 0;
	f->left = size;
	f->state = size ? HTTP1_CHUNK_DATA : HTTP1_TRAILER;
	return 0;
}

/* §7.1.2: a trailer field line, or the empty line that ends the message. */
static int trailer_done(struct http1_framer *f, struct http1_buf *out, const char **why)
{
	const char *colon, *w;
	if (f->hlen > 2 && (w = check_field(f->line, f->line + f->hlen - 2, &colon)))
		return fail(f, why, w);
	if (put(out, f->line, f->hlen) < 0)
		return fail(f, why, "out of memory");
	if (f->hlen == 2)
		f->state = HTTP1_HEAD;
	f->hlen = 0;
	return 0;
}

/* One byte of a CRLF-terminated line into f->line (max bytes): 1 when the
 * line is complete, 0 for more, -1 for a bare CR or LF (§2.2). */
static int line_byte(struct http1_framer *f, unsigned char c, size_t max, const char **why)
{
	bool cr = f->hlen && f->line[f->hlen - 1] == '\r';
	if ((c == '\n') != cr)
		return fail(f, why, "bare CR or LF");
	if (f->hlen == max)
		return fail(f, why,
			    f->state == HTTP1_HEAD ? "request head too large" : "line too long");
	f->line[f->hlen++] = (char)c;
	return c == '\n';
}

int http1_feed(struct http1_framer *f, const uint8_t *in, size_t n, struct http1_buf *out,
	       const char **why)
{
	size_t i = 0;
	while (i < n) {
		switch (f->state) {
		case HTTP1_FAILED:
			*why = "connection already failed";
			return -1;
		case HTTP1_RAW:
			return put(out, in + i, n - i) < 0 ? fail(f, why, "out of memory") : 0;
		case HTTP1_BODY:
		case HTTP1_CHUNK_DATA: {
			size_t k = n - i < f->left ? n - i : (size_t)f->left;
			if (put(out, in + i, k) < 0)
				return fail(f, why, "out of memory");
			i += k;
			f->left -= k;
			if (!f->left)
				f->state = f->state == HTTP1_BODY ? HTTP1_HEAD : HTTP1_CHUNK_END;
			break;
		}
		case HTTP1_CHUNK_END: {
			unsigned char c = in[i++];
			if (c != "\r\n"[f->hlen])
				return fail(f, why, "no CRLF after chunk data");
			if (++f->hlen == 2) {
				if (put(out, "\r\n", 2) < 0)
					return fail(f, why, "out of memory");
				f->hlen = 0;
				f->state = HTTP1_CHUNK_SIZE;
			}
			break;
		}
		case HTTP1_HEAD: {
			int r = line_byte(f, in[i++], HTTP1_HEAD_MAX, why);
			if (r < 0)
				return -1;
			if (r && f->hlen == 2) {
				f->hlen = 0; /* §2.2: an empty line before a request */
			} else if (r && f->hlen >= 4 &&
				   !memcmp(f->line + f->hlen - 4, "\r\n\r\n", 4)) {
				if (head_done(f, out, why) < 0)
					return -1;
			}
			break;
		}
		case HTTP1_CHUNK_SIZE:
		case HTTP1_TRAILER: {
			int r = line_byte(f, in[i++], HTTP1_LINE_MAX, why);
			if (r < 0)
				return -1;
			if (r && (f->state == HTTP1_CHUNK_SIZE ? chunk_size_done(f, out, why)
							       : trailer_done(f, out, why)) < 0)
				return -1;
			break;
		}
		}
	}
	return 0;
}
