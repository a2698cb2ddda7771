/* test_proto.c: the agent wire format (src/proto): round trips for every
 * frame type, size bounds, truncated / oversized / garbage input, and the
 * buffered fd reader/writer over real sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/proto.h"

/* Parse the single frame in b; fail the test unless it is whole. */
static struct proto_frame one(const struct pbuf *b)
{
	struct proto_frame f;
	assert_int_equal(b->err, 0);
	assert_int_equal(proto_frame_parse(b->p, b->len, &f), (long)b->len);
	return f;
}

static void test_header_layout(void **st)
{
	(void)st;
	uint8_t h[PROTO_HDR_SIZE];
	struct proto_hdr d;
	proto_hdr_encode(h, PT_EXEC, 0x01020304);
	/* "SLO" + version, then type, flags, len: all little-endian */
	const uint8_t want[] = { 'S', 'L', 'O', 1, 0x10, 0, 0, 0, 4, 3, 2, 1 };
	assert_memory_equal(h, want, sizeof(want));
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_SIZE);
	proto_hdr_encode(h, PT_EXEC, 100);
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), 0);
	assert_int_equal(d.type, PT_EXEC);
	assert_int_equal(d.len, 100);
}

static void test_header_garbage(void **st)
{
	(void)st;
	uint8_t h[PROTO_HDR_SIZE];
	struct proto_hdr d;
	proto_hdr_encode(h, PT_PING, 8);
	h[0] = 'X';
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_MAGIC);
	proto_hdr_encode(h, PT_PING, 8);
	h[3] = 2; /* future version */
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_VER);
	proto_hdr_encode(h, 0x7777, 0);
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_TYPE);
	proto_hdr_encode(h, PT_PING, 8);
	h[6] = 1; /* reserved flags */
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_TYPE);
	assert_int_equal(proto_hdr_decode(h, 11, &d), -EPIPE);
	/* ASCII garbage, as from a client speaking the wrong protocol */
	struct proto_frame f;
	const char *junk = "GET / HTTP/1.1\r\n\r\n";
	assert_true(proto_frame_parse((const uint8_t *)junk, strlen(junk), &f) < 0);
}

static void test_every_type_bounded(void **st)
{
	(void)st;
	for (unsigned t = 0; t < 0x100; t++) {
		uint8_t h[PROTO_HDR_SIZE];
		struct proto_hdr d;
		if (proto_type_name((uint16_t)t)[0] == '?')
			continue;
		uint32_t max = proto_max_len((uint16_t)t);
		assert_true(max <= PROTO_REQ_MAX);
		proto_hdr_encode(h, (uint16_t)t, max);
		assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), 0);
		proto_hdr_encode(h, (uint16_t)t, max + 1);
		assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_SIZE);
		proto_hdr_encode(h, (uint16_t)t, 0xffffffffu);
		assert_int_equal(proto_hdr_decode(h, sizeof(h), &d), PROTO_ERR_SIZE);
	}
}

static void test_small_frames(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	uint32_t v, feat;
	uint64_t n;
	uint16_t r, c;
	pbuf_init(&b);

	proto_enc_hello(&b, 1, 7);
	f = one(&b);
	assert_int_equal(proto_dec_hello(&f, &v, &feat), 0);
	assert_int_equal(v, 1);
	assert_int_equal(feat, 7);
	pbuf_reset(&b);

	proto_enc_ping(&b, PT_PONG, 0x1122334455667788ull, PROTO_VERSION);
	f = one(&b);
	assert_int_equal(proto_dec_ping(&f, &n, &v), 0);
	assert_true(n == 0x1122334455667788ull);
	assert_int_equal(v, PROTO_VERSION);
	pbuf_reset(&b);

	proto_enc_resize(&b, 50, 132);
	f = one(&b);
	assert_int_equal(proto_dec_resize(&f, &r, &c), 0);
	assert_int_equal(r, 50);
	assert_int_equal(c, 132);
	assert_int_equal(proto_dec_u32(&f, &v), -EPROTO); /* wrong type */
	pbuf_reset(&b);

	proto_enc_u32(&b, PT_SIGNAL, 15);
	f = one(&b);
	assert_int_equal(proto_dec_u32(&f, &v), 0);
	assert_int_equal(v, 15);
	pbuf_reset(&b);

	struct proto_exit x = { EXIT_F_SIGNALED | EXIT_F_TIMEOUT, 9 }, y;
	proto_enc_exit(&b, &x);
	f = one(&b);
	assert_int_equal(proto_dec_exit(&f, &y), 0);
	assert_int_equal(y.flags, x.flags);
	assert_int_equal(y.code, 9);
	pbuf_reset(&b);

	for (uint16_t t = PT_DONE; t <= PT_SHUTDOWN; t++) {
		if (proto_type_name(t)[0] == '?' || proto_max_len(t) != 0)
			continue;
		proto_enc_empty(&b, t);
		f = one(&b);
		assert_int_equal(proto_dec_empty(&f), 0);
		pbuf_reset(&b);
	}
	pbuf_free(&b);
}

static void test_error_frame(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	int32_t code;
	const char *msg;
	char big[5000];
	pbuf_init(&b);
	proto_enc_error(&b, ENOENT, "no such thing");
	f = one(&b);
	assert_int_equal(proto_dec_error(&f, &code, &msg), 0);
	assert_int_equal(code, ENOENT);
	assert_string_equal(msg, "no such thing");
	pbuf_reset(&b);
	/* Messages are truncated to the bound, never refused. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	proto_enc_error(&b, EIO, big);
	f = one(&b);
	assert_int_equal(proto_dec_error(&f, &code, &msg), 0);
	assert_int_equal(strlen(msg), PROTO_MSG_MAX - 1);
	pbuf_reset(&b);
	/* EXEC_FAILED: the step first; truncated to the same bound */
	uint32_t step;
	proto_enc_exec_failed(&b, EXEC_STEP_CWD, ENOENT, "no cwd");
	f = one(&b);
	assert_int_equal(proto_dec_exec_failed(&f, &step, &code, &msg), 0);
	assert_int_equal(step, EXEC_STEP_CWD);
	assert_int_equal(code, ENOENT);
	assert_string_equal(msg, "no cwd");
	assert_int_equal(proto_dec_error(&f, &code, &msg), -EPROTO);
	pbuf_reset(&b);
	proto_enc_exec_failed(&b, EXEC_STEP_EXEC, EIO, big);
	f = one(&b);
	assert_true(f.len == proto_max_len(PT_EXEC_FAILED));
	assert_int_equal(proto_dec_exec_failed(&f, &step, &code, &msg), 0);
	assert_int_equal(strlen(msg), PROTO_MSG_MAX - 1);
	pbuf_free(&b);
}

static void test_exec_roundtrip(void **st)
{
	(void)st;
	const char *argv[] = { "sh", "-c", "echo hi", "", NULL };
	const char *env[] = { "A=1", "EMPTY=", NULL };
	struct proto_exec e = {
                .flags = EXEC_F_TTY | EXEC_F_STDIN, .rows = 40, .cols = 120,
                .timeout_ms = 5000, .cwd = "/work", .user = "1000:1000",
                .argc = 4, .envc = 2, .argv = argv, .env = env,
        }, d;
	struct pbuf b;
	struct proto_frame f;
	pbuf_init(&b);
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), 0);
	assert_int_equal(d.flags, e.flags);
	assert_int_equal(d.rows, 40);
	assert_int_equal(d.cols, 120);
	assert_int_equal(d.timeout_ms, 5000);
	assert_string_equal(d.cwd, "/work");
	assert_string_equal(d.user, "1000:1000");
	assert_int_equal(d.argc, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(d.argv[i], argv[i]);
	assert_null(d.argv[4]);
	assert_string_equal(d.env[1], "EMPTY=");
	assert_null(d.env[2]);
	proto_exec_free(&d);

	/* Every strict prefix of the payload is malformed, never a crash. */
	for (uint32_t len = 0; len < f.len; len++) {
		struct proto_frame t = f;
		t.len = len;
		assert_int_equal(proto_dec_exec(&t, &d), -EBADMSG);
		assert_null(d.argv);
	}
	pbuf_free(&b);
}

static void test_exec_rejects(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	struct proto_exec d;
	const char *argv[] = { "true", NULL };
	const char *bad_env[] = { "NOEQUALS", NULL };
	const char *empty_key[] = { "=v", NULL };
	const char *empty_entry[] = { "", NULL }; /* found by fuzz_proto: read past the NUL */
	struct proto_exec e = { .cwd = "", .user = "", .argc = 1, .argv = argv };
	pbuf_init(&b);

	e.argc = 0; /* no command */
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_reset(&b);

	e.argc = 1, e.envc = 1, e.env = bad_env;
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_reset(&b);

	e.env = empty_key;
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_reset(&b);

	e.env = empty_entry;
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_reset(&b);

	e.envc = 0, e.flags = 0x80; /* unknown flag */
	proto_enc_exec(&b, &e);
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_reset(&b);

	/* argc that the payload cannot hold: rejected before allocating */
	e.flags = 0;
	proto_enc_exec(&b, &e);
	uint8_t *argc_field = b.p + PROTO_HDR_SIZE + 12;
	argc_field[0] = 0xff, argc_field[1] = 0x1f; /* 8191 */
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	argc_field[3] = 0x7f; /* absurd */
	f = one(&b);
	assert_int_equal(proto_dec_exec(&f, &d), -EBADMSG);
	pbuf_free(&b);
}

static void test_strings(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	const char *path;
	uint8_t *s;
	pbuf_init(&b);
	proto_enc_path(&b, PT_GET_FILE, "/etc/hosts");
	f = one(&b);
	assert_int_equal(proto_dec_path(&f, &path), 0);
	assert_string_equal(path, "/etc/hosts");
	s = b.p + PROTO_HDR_SIZE + 4;
	s[4] = 0; /* interior NUL */
	assert_int_equal(proto_dec_path(&f, &path), -EBADMSG);
	s[4] = 'x';
	s[10] = 'x'; /* no terminating NUL */
	assert_int_equal(proto_dec_path(&f, &path), -EBADMSG);
	s[10] = 0;
	s[-4] = 0; /* zero length */
	assert_int_equal(proto_dec_path(&f, &path), -EBADMSG);
	s[-4] = 200; /* longer than the payload */
	assert_int_equal(proto_dec_path(&f, &path), -EBADMSG);
	pbuf_reset(&b);

	/* Trailing bytes after the last field are an error. */
	proto_enc_path(&b, PT_LIST, "/");
	pbuf_u32(&b, 0);
	uint8_t *len = b.p + 8;
	len[0] += 4;
	f = one(&b);
	assert_int_equal(proto_dec_path(&f, &path), -EBADMSG);
	pbuf_reset(&b);

	/* Paths longer than PATH_MAX cannot be encoded. */
	char *long_path = malloc(PROTO_PATH_MAX + 10);
	memset(long_path, 'a', PROTO_PATH_MAX + 9);
	long_path[PROTO_PATH_MAX + 9] = 0;
	proto_enc_path(&b, PT_STAT, long_path);
	assert_int_equal(b.err, -EMSGSIZE);
	free(long_path);
	pbuf_free(&b);
}

static void test_file_frames(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	const char *path;
	uint32_t a, c;
	pbuf_init(&b);
	proto_enc_path1(&b, PT_PUT_FILE, 0100755, "/bin/x");
	f = one(&b);
	assert_int_equal(proto_dec_path1(&f, &a, &path), 0);
	assert_int_equal(a, 0100755);
	assert_string_equal(path, "/bin/x");
	assert_int_equal(proto_dec_path(&f, &path), -EPROTO);
	pbuf_reset(&b);

	proto_enc_mkdir(&b, 0700, MKDIR_F_PARENTS, "/a/b");
	f = one(&b);
	assert_int_equal(proto_dec_mkdir(&f, &a, &c, &path), 0);
	assert_int_equal(a, 0700);
	assert_int_equal(c, MKDIR_F_PARENTS);
	pbuf_reset(&b);

	struct proto_stat s = { .mode = 0120777,
				.uid = 1,
				.gid = 2,
				.nlink = 1,
				.size = 1ull << 40,
				.mtime_sec = -5,
				.mtime_nsec = 999,
				.name = "ln",
				.link = "target" },
			  d;
	proto_enc_stat(&b, &s);
	f = one(&b);
	assert_int_equal(proto_dec_stat(&f, &d), 0);
	assert_int_equal(d.mode, s.mode);
	assert_true(d.size == s.size);
	assert_true(d.mtime_sec == -5);
	assert_string_equal(d.name, "ln");
	assert_string_equal(d.link, "target");
	pbuf_free(&b);
}

static void test_data_bounds(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	uint8_t *data = calloc(1, PROTO_DATA_MAX + 1);
	pbuf_init(&b);
	proto_enc_bytes(&b, PT_STDOUT, data, PROTO_DATA_MAX);
	f = one(&b);
	assert_int_equal(f.len, PROTO_DATA_MAX);
	pbuf_reset(&b);
	proto_enc_bytes(&b, PT_STDOUT, data, PROTO_DATA_MAX + 1);
	assert_int_equal(b.err, -EMSGSIZE); /* encoders never emit oversize */
	pbuf_free(&b);
	free(data);
}

/* Frames stream: partial input asks for more, never misparses. */
static void test_partial_parse(void **st)
{
	(void)st;
	struct pbuf b;
	struct proto_frame f;
	pbuf_init(&b);
	proto_enc_path(&b, PT_GET_TAR, "/home");
	proto_enc_empty(&b, PT_END);
	size_t first = b.len - PROTO_HDR_SIZE;
	for (size_t n = 0; n < first; n++)
		assert_int_equal(proto_frame_parse(b.p, n, &f), 0);
	assert_int_equal(proto_frame_parse(b.p, b.len, &f), (long)first);
	assert_int_equal(f.type, PT_GET_TAR);
	pbuf_free(&b);
}

static void test_random_garbage(void **st)
{
	(void)st;
	uint8_t buf[512];
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (n >= PROTO_HDR_SIZE && (i & 1)) /* valid header, random body */
			proto_hdr_encode(buf, (uint16_t)(rand_r(&seed) % 0x42),
					 (uint32_t)(n - PROTO_HDR_SIZE));
		struct proto_frame f = { .type = (uint16_t)(rand_r(&seed) % 0x42),
					 .len = (uint32_t)n,
					 .payload = buf };
		struct proto_exec e;
		struct proto_stat s;
		const char *p;
		uint32_t a, c;
		if (proto_dec_exec(&f, &e) == 0)
			proto_exec_free(&e);
		(void)proto_dec_stat(&f, &s);
		(void)proto_dec_mkdir(&f, &a, &c, &p);
		(void)proto_frame_parse(buf, n, &f);
	}
}

/* ---- fd reader/writer -------------------------------------------------- */
struct dribble {
	int fd;
	const uint8_t *p;
	size_t n;
};

static void *dribble_writer(void *arg)
{
	struct dribble *d = arg;
	for (size_t i = 0; i < d->n; i++) /* one byte per write: worst case */
		assert_int_equal(proto_write_all(d->fd, d->p + i, 1), 0);
	close(d->fd);
	return NULL;
}

static void test_reader_partial_and_large(void **st)
{
	(void)st;
	int sv[2];
	struct pbuf b;
	struct proto_reader r;
	struct proto_frame f;
	struct proto_exec e;
	pthread_t t;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pbuf_init(&b);
	proto_enc_ping(&b, PT_PING, 42, 0);
	/* An EXEC bigger than the reader's initial buffer: it must grow. */
	static char arg[200 * 1024];
	memset(arg, 'a', sizeof(arg) - 1);
	const char *argv[] = { "echo", arg, NULL };
	struct proto_exec big = { .cwd = "", .user = "", .argc = 2, .argv = argv };
	proto_enc_exec(&b, &big);
	proto_enc_bytes(&b, PT_STDIN, "xyz", 3);
	assert_int_equal(b.err, 0);
	size_t whole = b.len;
	proto_enc_ping(&b, PT_PING, 1, 0);
	b.len -= 3; /* the last frame is cut short */
	struct dribble d = { sv[1], b.p, b.len };
	assert_int_equal(proto_reader_init(&r, sv[0]), 0);
	/* Byte-at-a-time for the first part is slow under ASan; write the
         * large frame whole and only dribble the tail. */
	assert_int_equal(proto_write_all(sv[1], b.p, whole - 15), 0);
	d.p += whole - 15;
	d.n -= whole - 15;
	assert_int_equal(pthread_create(&t, NULL, dribble_writer, &d), 0);
	assert_int_equal(proto_read_frame(&r, &f), 1);
	assert_int_equal(f.type, PT_PING);
	assert_int_equal(proto_read_frame(&r, &f), 1);
	assert_int_equal(proto_dec_exec(&f, &e), 0);
	assert_int_equal(strlen(e.argv[1]), sizeof(arg) - 1);
	proto_exec_free(&e);
	assert_int_equal(proto_read_frame(&r, &f), 1);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.payload, "xyz", 3);
	assert_int_equal(proto_read_frame(&r, &f), -EPIPE); /* EOF mid-frame */
	pthread_join(t, NULL);
	proto_reader_free(&r);
	close(sv[0]);
	pbuf_free(&b);
}

static void test_reader_eof_and_garbage(void **st)
{
	(void)st;
	int sv[2];
	struct proto_reader r;
	struct proto_frame f;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proto_reader_init(&r, sv[0]), 0);
	assert_int_equal(proto_write_frame(sv[1], PT_END, NULL, 0), 0);
	assert_int_equal(proto_write_frame(sv[1], PT_DATA, NULL, PROTO_DATA_MAX + 1), -EMSGSIZE);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(proto_read_frame(&r, &f), 1);
	assert_int_equal(proto_read_frame(&r, &f), PROTO_EOF);
	proto_reader_free(&r);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proto_reader_init(&r, sv[0]), 0);
	/* An oversized length is refused from the header alone: the reader
         * never waits for (or buffers) the 4 GiB it announces. */
	uint8_t h[PROTO_HDR_SIZE];
	proto_hdr_encode(h, PT_DATA, 0xfffffff0u);
	assert_int_equal(proto_write_all(sv[1], h, sizeof(h)), 0);
	assert_int_equal(proto_read_frame(&r, &f), PROTO_ERR_SIZE);
	proto_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
}

static void test_write_queue(void **st)
{
	(void)st;
	int sv[2];
	struct proto_wq q;
	static uint8_t chunk[PROTO_DATA_MAX];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	proto_wq_init(&q);
	for (int i = 0; i < 64; i++) /* 4 MiB: more than the socket holds */
		proto_enc_bytes(&q.b, PT_DATA, chunk, sizeof(chunk));
	size_t total = q.b.len, got = 0;
	assert_int_equal(proto_wq_flush(&q, sv[1]), 0);
	assert_true(proto_wq_pending(&q) > 0); /* EAGAIN is not an error */
	static uint8_t sink[1 << 16];
	while (got < total) {
		ssize_t n = read(sv[0], sink, sizeof(sink));
		if (n > 0)
			got += (size_t)n;
		assert_int_equal(proto_wq_flush(&q, sv[1]), 0);
	}
	assert_int_equal(proto_wq_pending(&q), 0);
	close(sv[0]);
	assert_int_equal(proto_write_all(sv[1], "x", 1), -EPIPE); /* no SIGPIPE */
	proto_wq_free(&q);
	close(sv[1]);
}

/* ---- RESTORED -------------------------------------------------------------- */
static struct proto_restored restored_sample(void)
{
	struct proto_restored r = { .realtime_sec = 0x0102030405060708ll,
				    .realtime_nsec = 999999999u };
	for (unsigned i = 0; i < PROTO_ENTROPY_LEN; i++)
		r.entropy[i] = (uint8_t)(i * 7 + 1);
	strcpy(r.machine_id, "0123456789abcdef0123456789abcdef");
	strcpy(r.hostname, "clone-1.example_x");
	return r;
}

static void test_restored_roundtrip(void **st)
{
	(void)st;
	struct proto_restored r = restored_sample(), d;
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_restored(&b, &r);
	struct proto_frame f = one(&b);
	assert_int_equal(f.type, PT_RESTORED);
	assert_int_equal(f.len, sizeof(struct proto_wire_restored));
	assert_int_equal(proto_max_len(PT_RESTORED), 176);
	assert_string_equal(proto_type_name(PT_RESTORED), "RESTORED");
	/* the wire layout: flags, nsec, sec (LE), entropy, id, NUL-padded name */
	const uint8_t head[] = { 0, 0, 0, 0, 0xff, 0xc9, 0x9a, 0x3b, 8, 7, 6, 5, 4, 3, 2, 1 };
	assert_memory_equal(f.payload, head, sizeof(head));
	assert_memory_equal(f.payload + 16, r.entropy, PROTO_ENTROPY_LEN);
	assert_memory_equal(f.payload + 80, r.machine_id, 32);
	assert_memory_equal(f.payload + 112, "clone-1.example_x\0\0", 19);
	assert_int_equal(f.payload[175], 0);
	assert_int_equal(proto_dec_restored(&f, &d), 0);
	assert_memory_equal(&d, &r, sizeof(r));
	/* other decoders refuse it, it refuses other frames */
	const char *p;
	assert_int_equal(proto_dec_path(&f, &p), -EPROTO);
	assert_int_equal(proto_dec_empty(&f), -EPROTO);
	pbuf_reset(&b);
	proto_enc_empty(&b, PT_SHUTDOWN);
	f = one(&b);
	assert_int_equal(proto_dec_restored(&f, &d), -EPROTO);
	/* a 64-byte hostname fills the field with no NUL */
	memset(r.hostname, 'h', PROTO_HOSTNAME_MAX);
	r.hostname[PROTO_HOSTNAME_MAX] = 0;
	pbuf_reset(&b);
	proto_enc_restored(&b, &r);
	f = one(&b);
	assert_int_equal(proto_dec_restored(&f, &d), 0);
	assert_int_equal(strlen(d.hostname), PROTO_HOSTNAME_MAX);
	pbuf_free(&b);
}

static void test_restored_validation(void **st)
{
	(void)st;
	const char *good_hosts[] = { "a", "sandbox", "my_box-2.lan", "9", "A-" };
	const char *bad_hosts[] = { "", "-a", ".a", "_a", "a b", "a/b", "a\n", "a;rm", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(good_hosts) / sizeof(*good_hosts); i++)
		assert_true(proto_hostname_valid(good_hosts[i]));
	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(*bad_hosts); i++)
		assert_false(proto_hostname_valid(bad_hosts[i]));
	char longname[PROTO_HOSTNAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_false(proto_hostname_valid(longname));
	longname[PROTO_HOSTNAME_MAX] = 0;
	assert_true(proto_hostname_valid(longname));

	assert_true(proto_machine_id_valid("00000000000000000000000000000001"));
	assert_false(proto_machine_id_valid("00000000000000000000000000000000"));
	assert_false(proto_machine_id_valid("0123456789ABCDEF0123456789abcdef"));
	assert_false(proto_machine_id_valid("0123456789abcdef0123456789abcde"));
	assert_false(proto_machine_id_valid("0123456789abcdef0123456789abcdef0"));
	assert_false(proto_machine_id_valid("0123456789abcdef-123456789abcdef"));

	/* the encoder never emits what the decoder would refuse */
	struct proto_restored bad[5];
	for (int i = 0; i < 5; i++)
		bad[i] = restored_sample();
	bad[0].flags = 1;
	bad[1].realtime_nsec = 1000000000u;
	bad[2].realtime_sec = -1;
	strcpy(bad[3].hostname, "a b");
	strcpy(bad[4].machine_id, "xyz");
	for (int i = 0; i < 5; i++) {
		struct pbuf b;
		pbuf_init(&b);
		assert_int_equal(proto_restored_check(&bad[i]), -EINVAL);
		proto_enc_restored(&b, &bad[i]);
		assert_int_equal(b.err, -EINVAL);
		pbuf_free(&b);
	}
}

/* Byte-level corruptions of a good payload: each must be refused. */
static void test_restored_rejects(void **st)
{
	(void)st;
	struct proto_restored r = restored_sample(), d;
	struct pbuf b;
	pbuf_init(&b);
	proto_enc_restored(&b, &r);
	struct proto_frame good = one(&b);
	uint8_t p[176];
	memcpy(p, good.payload, sizeof(p));
	struct proto_frame f = { .type = PT_RESTORED, .len = 176, .payload = p };
	struct {
		size_t off;
		uint8_t v;
	} cases[] = {
		{ 0, 1 },      /* reserved flags */
		{ 7, 0x40 },   /* nsec >= 1e9 */
		{ 15, 0x80 },  /* negative seconds */
		{ 80, 'G' },   /* machine-id not hex */
		{ 95, 0 },     /* NUL inside the machine-id */
		{ 112, 0 },    /* empty hostname */
		{ 112, '-' },  /* hostname starting with '-' */
		{ 114, '/' },  /* bad character */
		{ 114, '\n' }, /* control character */
		{ 140, 'x' },  /* bytes after the NUL padding started */
		{ 175, 'x' },  /* ... at the very end */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		uint8_t keep = p[cases[i].off];
		p[cases[i].off] = cases[i].v;
		assert_int_equal(proto_dec_restored(&f, &d), -EBADMSG);
		p[cases[i].off] = keep;
	}
	assert_int_equal(proto_dec_restored(&f, &d), 0);
	/* short and long payloads */
	f.len = 175;
	assert_int_equal(proto_dec_restored(&f, &d), -EBADMSG);
	f.len = 0;
	assert_int_equal(proto_dec_restored(&f, &d), -EBADMSG);
	/* the header alone refuses a longer one, before any payload is read */
	uint8_t h[PROTO_HDR_SIZE];
	struct proto_hdr hd;
	proto_hdr_encode(h, PT_RESTORED, 177);
	assert_int_equal(proto_hdr_decode(h, sizeof(h), &hd), PROTO_ERR_SIZE);
	pbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_header_garbage),
		cmocka_unit_test(test_every_type_bounded),
		cmocka_unit_test(test_small_frames),
		cmocka_unit_test(test_error_frame),
		cmocka_unit_test(test_exec_roundtrip),
		cmocka_unit_test(test_exec_rejects),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_file_frames),
		cmocka_unit_test(test_data_bounds),
		cmocka_unit_test(test_partial_parse),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_reader_partial_and_large),
		cmocka_unit_test(test_reader_eof_and_garbage),
		cmocka_unit_test(test_write_queue),
		cmocka_unit_test(test_restored_roundtrip),
		cmocka_unit_test(test_restored_validation),
		cmocka_unit_test(test_restored_rejects),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
