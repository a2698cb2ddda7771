/* fuzz_proto.c: libFuzzer target for the agent wire format (src/proto).
 *
 * The input is a byte stream as a peer could send it. Every frame the
 * parser accepts goes through the decoder of its own type and, to reach the
 * field parsers with any payload, through every other decoder too. Frames
 * that decode are re-encoded and must decode to the same values: the codec
 * may reject, but never crash, leak, read out of bounds or disagree with
 * itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* The codec is compiled into this file rather than linked: scripts/fuzz.sh
 * builds each tests/fuzz/fuzz_*.c with a per-target source list that
 * defaults to the virtio sources, and this keeps the target self-contained
 * under any such list (so the list must not name src/proto/ for it). */
#include "proto/proto.c"
#include "proto/proto_restored.c"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static void exec_roundtrip(const struct proto_exec *e)
{
	struct pbuf b;
	struct proto_frame f;
	struct proto_exec d;
	pbuf_init(&b);
	proto_enc_exec(&b, e);
	CHECK(b.err == 0);
	CHECK(proto_frame_parse(b.p, b.len, &f) == (long)b.len);
	CHECK(proto_dec_exec(&f, &d) == 0);
	CHECK(d.argc == e->argc && d.envc == e->envc && d.flags == e->flags);
	CHECK(!strcmp(d.cwd, e->cwd) && !strcmp(d.user, e->user));
	for (uint32_t i = 0; i < d.argc; i++)
		CHECK(!strcmp(d.argv[i], e->argv[i]));
	for (uint32_t i = 0; i < d.envc; i++)
		CHECK(!strcmp(d.env[i], e->env[i]));
	proto_exec_free(&d);
	pbuf_free(&b);
}

static void stat_roundtrip(const struct proto_stat *s)
{
	struct pbuf b;
	struct proto_frame f;
	struct proto_stat d;
	pbuf_init(&b);
	proto_enc_stat(&b, s);
	CHECK(b.err == 0);
	CHECK(proto_frame_parse(b.p, b.len, &f) == (long)b.len);
	CHECK(proto_dec_stat(&f, &d) == 0);
	CHECK(d.mode == s->mode && d.size == s->size && d.mtime_sec == s->mtime_sec);
	CHECK(!strcmp(d.name, s->name) && !strcmp(d.link, s->link));
	pbuf_free(&b);
}

/* RESTORED: what decodes is valid, and encodes back to the same bytes. */
static void restored_roundtrip(const struct proto_frame *f)
{
	struct proto_restored r;
	struct pbuf b;
	struct proto_frame g;
	if (proto_dec_restored(f, &r) != 0)
		return;
	CHECK(proto_restored_check(&r) == 0 && proto_hostname_valid(r.hostname));
	pbuf_init(&b);
	proto_enc_restored(&b, &r);
	CHECK(b.err == 0);
	CHECK(proto_frame_parse(b.p, b.len, &g) == (long)b.len);
	CHECK(g.len == f->len && !memcmp(g.payload, f->payload, f->len));
	pbuf_free(&b);
}

static void decode_all(const struct proto_frame *f)
{
	struct proto_exec e;
	struct proto_stat s;
	struct proto_exit x;
	const char *p;
	uint32_t a, c;
	uint64_t n;
	uint16_t r, w;
	int32_t code;
	if (proto_dec_exec(f, &e) == 0) {
		CHECK(f->type == PT_EXEC && e.argc >= 1 && e.argv[e.argc] == NULL);
		exec_roundtrip(&e);
		proto_exec_free(&e);
	}
	if (proto_dec_stat(f, &s) == 0)
		stat_roundtrip(&s);
	(void)proto_dec_empty(f);
	(void)proto_dec_hello(f, &a, &c);
	(void)proto_dec_ping(f, &n, &a);
	if (proto_dec_error(f, &code, &p) == 0)
		CHECK(strlen(p) < PROTO_MSG_MAX);
	if (proto_dec_exec_failed(f, &a, &code, &p) == 0)
		CHECK(strlen(p) < PROTO_MSG_MAX);
	(void)proto_dec_resize(f, &r, &w);
	(void)proto_dec_u32(f, &a);
	(void)proto_dec_exit(f, &x);
	if (proto_dec_path(f, &p) == 0)
		CHECK(strlen(p) < PROTO_PATH_MAX);
	(void)proto_dec_path1(f, &a, &p);
	(void)proto_dec_mkdir(f, &a, &c, &p);
	restored_roundtrip(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_frame f;
	size_t off = 0;
	/* As a stream of frames, the way proto_reader sees it. */
	while (off < size) {
		long n = proto_frame_parse(data + off, size - off, &f);
		if (n <= 0)
			break;
		CHECK(f.len <= proto_max_len(f.type) && (size_t)n == PROTO_HDR_SIZE + f.len);
		decode_all(&f);
		off += (size_t)n;
	}
	/* As a bare payload of a type chosen by the first bytes, so the
         * fuzzer need not learn the header to reach the field decoders. */
	if (size >= 2) {
		f.type = (uint16_t)(data[0] | data[1] << 8) % 0x48;
		f.payload = data + 2;
		f.len = (uint32_t)(size - 2);
		decode_all(&f);
	}
	return 0;
}
