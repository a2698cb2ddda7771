/* proto.c: encoders/decoders for the agent wire format (pure, no I/O).
 * The fd-level reader/writer lives in proto_io.c. Layout: docs/agent-protocol.md. */
#include "proto/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- little-endian helpers: explicit byte order, no unaligned access ------ */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}
static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- pbuf ------------------------------------------------------------------ */
void pbuf_init(struct pbuf *b)
{
	memset(b, 0, sizeof(*b));
}
void pbuf_free(struct pbuf *b)
{
	free(b->p);
	pbuf_init(b);
}
void pbuf_reset(struct pbuf *b)
{
	b->len = 0;
	b->err = 0;
}

static uint8_t *pbuf_grow(struct pbuf *b, size_t n)
{
	if (b->err)
		return NULL;
	/* Nothing legitimate is bigger than one maximal frame plus a queue of
         * data frames; refusing here keeps a runaway encoder bounded. */
	if (n > 64u * 1024 * 1024 || b->len + n > 64u * 1024 * 1024) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	uint8_t *at = b->p + b->len;
	b->len += n;
	return at;
}

void pbuf_put(struct pbuf *b, const void *src, size_t n)
{
	uint8_t *p = pbuf_grow(b, n);
	if (p && n)
		memcpy(p, src, n);
}
void pbuf_u16(struct pbuf *b, uint16_t v)
{
	uint8_t *p = pbuf_grow(b, 2);
	if (p)
		put16(p, v);
}
void pbuf_u32(struct pbuf *b, uint32_t v)
{
	uint8_t *p = pbuf_grow(b, 4);
	if (p)
		put32(p, v);
}
void pbuf_u64(struct pbuf *b, uint64_t v)
{
	pbuf_u32(b, (uint32_t)v);
	pbuf_u32(b, (uint32_t)(v >> 32));
}
void pbuf_str(struct pbuf *b, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	if (n > UINT32_MAX) {
		b->err = -EMSGSIZE;
		return;
	}
	pbuf_u32(b, (uint32_t)n);
	pbuf_put(b, s ? s : "", n);
}

/* ---- frame header ----------------------------------------------------------- */
const char *proto_type_name(uint16_t t)
{
	switch (t) {
	case PT_HELLO:
		return "HELLO";
	case PT_PING:
		return "PING";
	case PT_PONG:
		return "PONG";
	case PT_DONE:
		return "DONE";
	case PT_ERROR:
		return "ERROR";
	case PT_EXEC:
		return "EXEC";
	case PT_STDIN:
		return "STDIN";
	case PT_STDIN_EOF:
		return "STDIN_EOF";
	case PT_STDOUT:
		return "STDOUT";
	case PT_STDERR:
		return "STDERR";
	case PT_RESIZE:
		return "RESIZE";
	case PT_SIGNAL:
		return "SIGNAL";
	case PT_EXIT:
		return "EXIT";
	case PT_STARTED:
		return "STARTED";
	case PT_EXEC_FAILED:
		return "EXEC_FAILED";
	case PT_PUT_TAR:
		return "PUT_TAR";
	case PT_GET_TAR:
		return "GET_TAR";
	case PT_PUT_FILE:
		return "PUT_FILE";
	case PT_GET_FILE:
		return "GET_FILE";
	case PT_STAT:
		return "STAT";
	case PT_LIST:
		return "LIST";
	case PT_MKDIR:
		return "MKDIR";
	case PT_REMOVE:
		return "REMOVE";
	case PT_STAT_REPLY:
		return "STAT_REPLY";
	case PT_DATA:
		return "DATA";
	case PT_END:
		return "END";
	case PT_SHUTDOWN:
		return "SHUTDOWN";
	case PT_RESTORED:
		return "RESTORED";
	}
	return "?";
}

#define STR_MAX(n) (4u + (n)) /* u32 length + bytes incl. NUL */

uint32_t proto_max_len(uint16_t t)
{
	switch (t) {
	case PT_DONE:
	case PT_STDIN_EOF:
	case PT_END:
	case PT_SHUTDOWN:
		return 0;
	case PT_HELLO:
	case PT_PING:
		return 8;
	case PT_PONG:
	case PT_EXIT:
		return t == PT_PONG ? 12 : 8;
	case PT_RESIZE:
	case PT_SIGNAL:
	case PT_STARTED:
		return 4;
	case PT_ERROR:
		return 4 + STR_MAX(PROTO_MSG_MAX);
	case PT_EXEC_FAILED:
		return 8 + STR_MAX(PROTO_MSG_MAX);
	case PT_EXEC:
		return PROTO_REQ_MAX;
	case PT_STDIN:
	case PT_STDOUT:
	case PT_STDERR:
	case PT_DATA:
		return PROTO_DATA_MAX;
	case PT_PUT_TAR:
	case PT_GET_TAR:
	case PT_GET_FILE:
	case PT_LIST:
		return STR_MAX(PROTO_PATH_MAX);
	case PT_PUT_FILE:
	case PT_STAT:
	case PT_REMOVE:
		return 4 + STR_MAX(PROTO_PATH_MAX);
	case PT_MKDIR:
		return 8 + STR_MAX(PROTO_PATH_MAX);
	case PT_STAT_REPLY:
		return 36 + 2 * STR_MAX(PROTO_PATH_MAX);
	case PT_RESTORED:
		return sizeof(struct proto_wire_restored);
	}
	return 0;
}

static bool type_known(uint16_t t)
{
	return proto_type_name(t)[0] != '?';
}

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], uint16_t type, uint32_t len)
{
	put32(out, PROTO_MAGIC_WORD);
	put16(out + 4, type);
	put16(out + 6, 0);
	put32(out + 8, len);
}

int proto_hdr_decode(const uint8_t *buf, size_t n, struct proto_hdr *h)
{
	if (n < PROTO_HDR_SIZE)
		return -EPIPE;
	uint32_t magic = get32(buf);
	if ((magic & 0xffffffu) != PROTO_MAGIC)
		return PROTO_ERR_MAGIC;
	if (magic >> 24 != PROTO_VERSION)
		return PROTO_ERR_VER;
	h->type = get16(buf + 4);
	h->flags = get16(buf + 6);
	h->len = get32(buf + 8);
	if (!type_known(h->type) || h->flags != 0)
		return PROTO_ERR_TYPE;
	if (h->len > proto_max_len(h->type))
		return PROTO_ERR_SIZE;
	return 0;
}

long proto_frame_parse(const uint8_t *buf, size_t n, struct proto_frame *f)
{
	struct proto_hdr h;
	if (n < PROTO_HDR_SIZE)
		return 0;
	int rc = proto_hdr_decode(buf, n, &h);
	if (rc < 0)
		return rc;
	if (n - PROTO_HDR_SIZE < h.len)
		return 0;
	f->type = h.type;
	f->len = h.len;
	f->payload = buf + PROTO_HDR_SIZE;
	return (long)(PROTO_HDR_SIZE + h.len);
}

/* ---- encoders: header is written first with a placeholder length ------------ */
static size_t begin(struct pbuf *b, uint16_t type)
{
	size_t at = b->len;
	uint8_t *p = pbuf_grow(b, PROTO_HDR_SIZE);
	if (p)
		proto_hdr_encode(p, type, 0);
	return at;
}

static void end(struct pbuf *b, size_t at)
{
	if (b->err)
		return;
	size_t len = b->len - at - PROTO_HDR_SIZE;
	uint16_t type = get16(b->p + at + 4);
	if (len > proto_max_len(type)) {
		b->err = -EMSGSIZE; /* never emit what the peer must reject */
		return;
	}
	put32(b->p + at + 8, (uint32_t)len);
}

void proto_enc_empty(struct pbuf *b, uint16_t type)
{
	end(b, begin(b, type));
}

void proto_enc_bytes(struct pbuf *b, uint16_t type, const void *data, uint32_t len)
{
	size_t at = begin(b, type);
	pbuf_put(b, data, len);
	end(b, at);
}

void proto_enc_hello(struct pbuf *b, uint32_t version, uint32_t features)
{
	size_t at = begin(b, PT_HELLO);
	pbuf_u32(b, version);
	pbuf_u32(b, features);
	end(b, at);
}

void proto_enc_ping(struct pbuf *b, uint16_t type, uint64_t nonce, uint32_t version)
{
	size_t at = begin(b, type);
	pbuf_u64(b, nonce);
	if (type == PT_PONG)
		pbuf_u32(b, version);
	end(b, at);
}

/* ERROR and EXEC_FAILED: EXEC_FAILED has the step first. */
static void enc_failure(struct pbuf *b, uint16_t type, uint32_t step, int32_t code, const char *msg)
{
	char m[PROTO_MSG_MAX];
	/* Truncate rather than fail: an error about an error helps nobody. */
	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	size_t at = begin(b, type);
	if (type == PT_EXEC_FAILED)
		pbuf_u32(b, step);
	pbuf_u32(b, (uint32_t)code);
	pbuf_str(b, m);
	end(b, at);
}

void proto_enc_error(struct pbuf *b, int32_t code, const char *msg)
{
	enc_failure(b, PT_ERROR, 0, code, msg);
}

void proto_enc_exec_failed(struct pbuf *b, uint32_t step, int32_t code, const char *msg)
{
	enc_failure(b, PT_EXEC_FAILED, step, code, msg);
}

void proto_enc_exec(struct pbuf *b, const struct proto_exec *e)
{
	size_t at = begin(b, PT_EXEC);
	pbuf_u32(b, e->flags);
	pbuf_u16(b, e->rows);
	pbuf_u16(b, e->cols);
	pbuf_u32(b, e->timeout_ms);
	pbuf_u32(b, e->argc);
	pbuf_u32(b, e->envc);
	pbuf_str(b, e->cwd);
	pbuf_str(b, e->user);
	for (uint32_t i = 0; i < e->argc; i++)
		pbuf_str(b, e->argv[i]);
	for (uint32_t i = 0; i < e->envc; i++)
		pbuf_str(b, e->env[i]);
	end(b, at);
}

void proto_enc_resize(struct pbuf *b, uint16_t rows, uint16_t cols)
{
	size_t at = begin(b, PT_RESIZE);
	pbuf_u16(b, rows);
	pbuf_u16(b, cols);
	end(b, at);
}

void proto_enc_u32(struct pbuf *b, uint16_t type, uint32_t v)
{
	size_t at = begin(b, type);
	pbuf_u32(b, v);
	end(b, at);
}

void proto_enc_exit(struct pbuf *b, const struct proto_exit *x)
{
	size_t at = begin(b, PT_EXIT);
	pbuf_u32(b, x->flags);
	pbuf_u32(b, (uint32_t)x->code);
	end(b, at);
}

void proto_enc_path(struct pbuf *b, uint16_t type, const char *path)
{
	size_t at = begin(b, type);
	pbuf_str(b, path);
	end(b, at);
}

void proto_enc_path1(struct pbuf *b, uint16_t type, uint32_t a, const char *path)
{
	size_t at = begin(b, type);
	pbuf_u32(b, a);
	pbuf_str(b, path);
	end(b, at);
}

void proto_enc_mkdir(struct pbuf *b, uint32_t mode, uint32_t flags, const char *path)
{
	size_t at = begin(b, PT_MKDIR);
	pbuf_u32(b, mode);
	pbuf_u32(b, flags);
	pbuf_str(b, path);
	end(b, at);
}

void proto_enc_stat(struct pbuf *b, const struct proto_stat *s)
{
	size_t at = begin(b, PT_STAT_REPLY);
	pbuf_u32(b, s->mode);
	pbuf_u32(b, s->uid);
	pbuf_u32(b, s->gid);
	pbuf_u32(b, s->nlink);
	pbuf_u64(b, s->size);
	pbuf_u64(b, (uint64_t)s->mtime_sec);
	pbuf_u32(b, s->mtime_nsec);
	pbuf_str(b, s->name);
	pbuf_str(b, s->link);
	end(b, at);
}

/* ---- decoders: a bounds-checked cursor; the first failure sticks ----------- */
struct cur {
	const uint8_t *p;
	size_t n, off;
	int err;
};

static struct cur cur_of(const struct proto_frame *f)
{
	return (struct cur){ .p = f->payload, .n = f->len };
}

static const uint8_t *take(struct cur *c, size_t n)
{
	if (c->err || c->n - c->off < n) {
		c->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = c->p + c->off;
	c->off += n;
	return p;
}
static uint16_t c16(struct cur *c)
{
	const uint8_t *p = take(c, 2);
	return p ? get16(p) : 0;
}
static uint32_t c32(struct cur *c)
{
	const uint8_t *p = take(c, 4);
	return p ? get32(p) : 0;
}
static uint64_t c64(struct cur *c)
{
	const uint8_t *p = take(c, 8);
	return p ? get64(p) : 0;
}

/* A string is u32 n (1..max, counting the NUL), then n bytes ending in the
 * only NUL: decoded strings can be used in place as C strings. */
static const char *cstr(struct cur *c, uint32_t max)
{
	uint32_t n = c32(c);
	if (c->err)
		return "";
	if (n == 0 || n > max) {
		c->err = -EBADMSG;
		return "";
	}
	const uint8_t *p = take(c, n);
	if (!p)
		return "";
	if (p[n - 1] != 0 || memchr(p, 0, n - 1)) {
		c->err = -EBADMSG;
		return "";
	}
	return (const char *)p;
}

/* Success only if no field failed and nothing trails the last field. */
static int done(struct cur *c)
{
	if (!c->err && c->off != c->n)
		c->err = -EBADMSG;
	return c->err;
}

static int want(const struct proto_frame *f, uint16_t type)
{
	return f->type == type && f->len <= proto_max_len(type) ? 0 : -EPROTO;
}

int proto_dec_empty(const struct proto_frame *f)
{
	if (proto_max_len(f->type) != 0 || !type_known(f->type))
		return -EPROTO;
	return f->len == 0 ? 0 : -EBADMSG;
}

int proto_dec_hello(const struct proto_frame *f, uint32_t *version, uint32_t *features)
{
	if (want(f, PT_HELLO))
		return -EPROTO;
	struct cur c = cur_of(f);
	*version = c32(&c);
	*features = c32(&c);
	return done(&c);
}

int proto_dec_ping(const struct proto_frame *f, uint64_t *nonce, uint32_t *version)
{
	if (f->type != PT_PING && f->type != PT_PONG)
		return -EPROTO;
	struct cur c = cur_of(f);
	*nonce = c64(&c);
	*version = f->type == PT_PONG ? c32(&c) : 0;
	return done(&c);
}

static int dec_failure(const struct proto_frame *f, uint16_t type, uint32_t *step, int32_t *code,
		       const char **msg)
{
	if (want(f, type))
		return -EPROTO;
	struct cur c = cur_of(f);
	if (type == PT_EXEC_FAILED)
		*step = c32(&c);
	*code = (int32_t)c32(&c);
	*msg = cstr(&c, PROTO_MSG_MAX);
	return done(&c);
}

int proto_dec_error(const struct proto_frame *f, int32_t *code, const char **msg)
{
	return dec_failure(f, PT_ERROR, NULL, code, msg);
}

int proto_dec_exec_failed(const struct proto_frame *f, uint32_t *step, int32_t *code,
			  const char **msg)
{
	return dec_failure(f, PT_EXEC_FAILED, step, code, msg);
}

void proto_exec_free(struct proto_exec *e)
{
	free(e->argv);
	free(e->env);
	e->argv = e->env = NULL;
}

int proto_dec_exec(const struct proto_frame *f, struct proto_exec *e)
{
	memset(e, 0, sizeof(*e));
	if (want(f, PT_EXEC))
		return -EPROTO;
	struct cur c = cur_of(f);
	e->flags = c32(&c);
	e->rows = c16(&c);
	e->cols = c16(&c);
	e->timeout_ms = c32(&c);
	e->argc = c32(&c);
	e->envc = c32(&c);
	e->cwd = cstr(&c, PROTO_PATH_MAX);
	e->user = cstr(&c, 256);
	/* Bound counts before allocating: each entry needs >= 5 payload bytes,
         * so counts beyond the remaining payload are lies. */
	if (c.err || e->argc == 0 || e->argc > PROTO_ARGS_MAX || e->envc > PROTO_ARGS_MAX ||
	    e->argc + e->envc > (c.n - c.off) / 5 || (e->flags & ~(EXEC_F_TTY | EXEC_F_STDIN)))
		return -EBADMSG;
	e->argv = calloc(e->argc + 1, sizeof(char *));
	e->env = calloc(e->envc + 1, sizeof(char *));
	if (!e->argv || !e->env) {
		proto_exec_free(e);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < e->argc; i++)
		e->argv[i] = cstr(&c, PROTO_REQ_MAX);
	for (uint32_t i = 0; i < e->envc; i++) {
		e->env[i] = cstr(&c, PROTO_REQ_MAX);
		/* "K=V", K non-empty; an empty string has no byte after its NUL to search */
		if (!c.err && (!e->env[i][0] || !strchr(e->env[i] + 1, '=')))
			c.err = -EBADMSG;
	}
	int rc = done(&c);
	if (rc)
		proto_exec_free(e);
	return rc;
}

int proto_dec_resize(const struct proto_frame *f, uint16_t *rows, uint16_t *cols)
{
	if (want(f, PT_RESIZE))
		return -EPROTO;
	struct cur c = cur_of(f);
	*rows = c16(&c);
	*cols = c16(&c);
	return done(&c);
}

int proto_dec_u32(const struct proto_frame *f, uint32_t *v)
{
	if (f->type != PT_SIGNAL && f->type != PT_STARTED)
		return -EPROTO;
	struct cur c = cur_of(f);
	*v = c32(&c);
	return done(&c);
}

int proto_dec_exit(const struct proto_frame *f, struct proto_exit *x)
{
	if (want(f, PT_EXIT))
		return -EPROTO;
	struct cur c = cur_of(f);
	x->flags = c32(&c);
	x->code = (int32_t)c32(&c);
	return done(&c);
}

int proto_dec_path(const struct proto_frame *f, const char **path)
{
	switch (f->type) {
	case PT_PUT_TAR:
	case PT_GET_TAR:
	case PT_GET_FILE:
	case PT_LIST:
		break;
	default:
		return -EPROTO;
	}
	struct cur c = cur_of(f);
	*path = cstr(&c, PROTO_PATH_MAX);
	return done(&c);
}

int proto_dec_path1(const struct proto_frame *f, uint32_t *a, const char **path)
{
	switch (f->type) {
	case PT_PUT_FILE:
	case PT_STAT:
	case PT_REMOVE:
		break;
	default:
		return -EPROTO;
	}
	struct cur c = cur_of(f);
	*a = c32(&c);
	*path = cstr(&c, PROTO_PATH_MAX);
	return done(&c);
}

int proto_dec_mkdir(const struct proto_frame *f, uint32_t *mode, uint32_t *flags, const char **path)
{
	if (want(f, PT_MKDIR))
		return -EPROTO;
	struct cur c = cur_of(f);
	*mode = c32(&c);
	*flags = c32(&c);
	*path = cstr(&c, PROTO_PATH_MAX);
	return done(&c);
}

int proto_dec_stat(const struct proto_frame *f, struct proto_stat *s)
{
	if (want(f, PT_STAT_REPLY))
		return -EPROTO;
	struct cur c = cur_of(f);
	s->mode = c32(&c);
	s->uid = c32(&c);
	s->gid = c32(&c);
	s->nlink = c32(&c);
	s->size = c64(&c);
	s->mtime_sec = (int64_t)c64(&c);
	s->mtime_nsec = c32(&c);
	s->name = cstr(&c, PROTO_PATH_MAX);
	s->link = cstr(&c, PROTO_PATH_MAX);
	return done(&c);
}
