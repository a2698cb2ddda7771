/* proto.h: the host <-> guest-agent wire format (docs/agent-protocol.md).
 *
 * One stream (vsock connection) per operation. Every message is a frame:
 * a 12-byte little-endian header followed by a payload whose length is
 * bounded per frame type. Both sides decode everything through the pure
 * functions below; a decoder error means "send ERROR and close this stream",
 * never an abort. Shared by silo-init (musl, static) and the host client.
 */
#ifndef SILO_PROTO_H
#define SILO_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header word 0: bytes 'S' 'L' 'O' <version> on the wire, so a hexdump reads "SLO\1". */
#define PROTO_MAGIC	 0x004f4c53u
#define PROTO_VERSION	 1u
#define PROTO_MAGIC_WORD (PROTO_MAGIC | (PROTO_VERSION << 24))

#define PROTO_HDR_SIZE	12u
#define PROTO_DATA_MAX	(64u * 1024)  /* STDIN/STDOUT/STDERR/DATA payloads */
#define PROTO_REQ_MAX	(256u * 1024) /* EXEC, the largest request */
#define PROTO_PATH_MAX	4096u	      /* PATH_MAX, including the NUL */
#define PROTO_MSG_MAX	1024u	      /* ERROR message, including the NUL */
#define PROTO_ARGS_MAX	8192u	      /* argv + env entries in one EXEC */
#define PROTO_FRAME_MAX (PROTO_HDR_SIZE + PROTO_REQ_MAX)

/* struct proto_hdr as laid out on the wire (all little-endian). */
struct proto_wire_hdr {
	uint32_t magic; /* PROTO_MAGIC_WORD */
	uint16_t type;	/* enum proto_type */
	uint16_t flags; /* reserved, must be 0 */
	uint32_t len;	/* payload bytes that follow */
};
_Static_assert(sizeof(struct proto_wire_hdr) == PROTO_HDR_SIZE, "wire header is 12 bytes");

enum proto_type {
	/* session / health */
	PT_HELLO = 0x01, /* {u32 version, u32 features}; answered with HELLO */
	PT_PING = 0x02,	 /* {u64 nonce} */
	PT_PONG = 0x03,	 /* {u64 nonce, u32 version} */
	PT_DONE = 0x04,	 /* {} : operation succeeded */
	PT_ERROR = 0x05, /* {i32 code (errno), str message} ; stream closes */
	/* exec */
	PT_EXEC = 0x10,	       /* struct proto_exec */
	PT_STDIN = 0x11,       /* bytes */
	PT_STDIN_EOF = 0x12,   /* {} */
	PT_STDOUT = 0x13,      /* bytes */
	PT_STDERR = 0x14,      /* bytes */
	PT_RESIZE = 0x15,      /* {u16 rows, u16 cols} */
	PT_SIGNAL = 0x16,      /* {u32 signo} */
	PT_EXIT = 0x17,	       /* {u32 flags, i32 code} */
	PT_STARTED = 0x18,     /* {u32 pid} : the command is running */
	PT_EXEC_FAILED = 0x19, /* {u32 step, i32 code (errno), str message}; stream closes */
	/* files */
	PT_PUT_TAR = 0x20,    /* {str dest_dir} then DATA* END -> DONE */
	PT_GET_TAR = 0x21,    /* {str path} -> DATA* END */
	PT_PUT_FILE = 0x22,   /* {u32 mode, str path} then DATA* END -> DONE */
	PT_GET_FILE = 0x23,   /* {str path} -> STAT_REPLY DATA* END */
	PT_STAT = 0x24,	      /* {u32 flags, str path} -> STAT_REPLY */
	PT_LIST = 0x25,	      /* {str path} -> STAT_REPLY* END */
	PT_MKDIR = 0x26,      /* {u32 mode, u32 flags, str path} -> DONE */
	PT_REMOVE = 0x27,     /* {u32 flags, str path} -> DONE */
	PT_STAT_REPLY = 0x28, /* struct proto_stat */
	PT_DATA = 0x30,	      /* bytes */
	PT_END = 0x31,	      /* {} : end of a DATA stream */
	/* lifecycle */
	PT_SHUTDOWN = 0x40, /* {} -> DONE, then sync, unmount, power off */
	PT_RESTORED = 0x41, /* struct proto_wire_restored -> DONE: new entropy, clock, identity */
};

/* Decoder / reader results: negative errno values so callers can put them
 * straight into an ERROR frame. */
#define PROTO_EOF	0 /* clean end of stream at a frame boundary */
#define PROTO_ERR_MAGIC (-EBADMSG)
#define PROTO_ERR_VER	(-EPROTONOSUPPORT)
#define PROTO_ERR_TYPE	(-EPROTO)
#define PROTO_ERR_SIZE	(-EMSGSIZE)

#define EXEC_F_TTY	   0x1u /* run on a pty; stdout carries both streams */
#define EXEC_F_STDIN	   0x2u /* the client will send stdin; else /dev/null */
#define EXIT_F_SIGNALED	   0x1u /* code is the terminating signal */
#define EXIT_F_TIMEOUT	   0x2u /* killed by the agent: timeout_ms passed */
#define EXIT_F_CORE	   0x4u /* a core was dumped */
/* EXEC_FAILED step: what stopped the command from starting. Front ends
 * tell "not found" (EXEC_STEP_EXEC with ENOENT: exit 127) from every
 * other failure (126), as Docker does; a missing working directory and a
 * missing program are both ENOENT, so the errno alone cannot. */
#define EXEC_STEP_SETUP	   1u	/* the agent: pipes, pty, fork, session, stdio */
#define EXEC_STEP_USER	   2u	/* resolving or switching to the user */
#define EXEC_STEP_CWD	   3u	/* chdir to the requested working directory */
#define EXEC_STEP_EXEC	   4u	/* finding or executing argv[0] */
#define STAT_F_FOLLOW	   0x1u /* stat() instead of lstat() */
#define MKDIR_F_PARENTS	   0x1u /* like mkdir -p */
#define REMOVE_F_RECURSIVE 0x1u /* like rm -r */

struct proto_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
};

/* A decoded frame: payload points into the reader's (or caller's) buffer. */
struct proto_frame {
	uint16_t type;
	uint32_t len;
	const uint8_t *payload;
};

struct proto_exec {
	uint32_t flags;	     /* EXEC_F_* */
	uint16_t rows, cols; /* initial pty size (tty only; 0 = default) */
	uint32_t timeout_ms; /* 0 = none */
	const char *cwd;     /* "" = agent default */
	const char *user;    /* "" = agent's own; "name", "uid", "uid:gid", "name:group" */
	uint32_t argc, envc;
	const char **argv; /* argc entries + NULL (decoder allocates the array) */
	const char **env;  /* envc entries "K=V" + NULL */
};

struct proto_exit {
	uint32_t flags; /* EXIT_F_* */
	int32_t code;	/* exit status, or signal number if SIGNALED */
};

struct proto_stat {
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *name; /* LIST: entry name; STAT/GET_FILE: "" */
	const char *link; /* symlink target, or "" */
};

/* RESTORED: sent once to a guest restored from a snapshot, whose kernel RNG,
 * clock and identity are those of every other clone of that snapshot. Fixed
 * layout (all little-endian, no padding); the payload is exactly this long.
 * Hostnames are silo's sandbox names, which may hold '_' (not an RFC 1123
 * hostname, but one the kernel and every boot of the sandbox already use). */
#define PROTO_ENTROPY_LEN    64u /* bytes of the host's getrandom() */
#define PROTO_MACHINE_ID_LEN 32u /* machine-id(5): 32 lowercase hex digits */
#define PROTO_HOSTNAME_MAX   64u /* the kernel's HOST_NAME_MAX, without a NUL */
struct proto_wire_restored {
	uint32_t flags;			       /* reserved, must be 0 */
	uint32_t realtime_nsec;		       /* < 1e9 */
	int64_t realtime_sec;		       /* the host's CLOCK_REALTIME, >= 0 */
	uint8_t entropy[PROTO_ENTROPY_LEN];    /* credited to the guest's RNG */
	char machine_id[PROTO_MACHINE_ID_LEN]; /* no NUL */
	char hostname[PROTO_HOSTNAME_MAX];     /* 1..64 bytes, NUL-padded */
};
_Static_assert(sizeof(struct proto_wire_restored) == 176, "RESTORED payload is 176 bytes");

/* RESTORED decoded: strings NUL-terminated. */
struct proto_restored {
	uint32_t flags;
	uint32_t realtime_nsec;
	int64_t realtime_sec;
	uint8_t entropy[PROTO_ENTROPY_LEN];
	char machine_id[PROTO_MACHINE_ID_LEN + 1];
	char hostname[PROTO_HOSTNAME_MAX + 1];
};
/* 1..64 bytes of [A-Za-z0-9_.-], starting with a letter or digit. */
bool proto_hostname_valid(const char *s);
/* 32 lowercase hex digits, not all zero (machine-id(5)). */
bool proto_machine_id_valid(const char *s);
/* Every field as the decoder requires it: 0 or -EINVAL. */
int proto_restored_check(const struct proto_restored *r);

/* ---- growable output buffer for encoders --------------------------------- */
struct pbuf {
	uint8_t *p;
	size_t len, cap;
	int err; /* sticky -ENOMEM / -EMSGSIZE: check once at the end */
};

void pbuf_init(struct pbuf *b);
void pbuf_free(struct pbuf *b);
void pbuf_reset(struct pbuf *b);
void pbuf_put(struct pbuf *b, const void *src, size_t n);
void pbuf_u16(struct pbuf *b, uint16_t v);
void pbuf_u32(struct pbuf *b, uint32_t v);
void pbuf_u64(struct pbuf *b, uint64_t v);
void pbuf_str(struct pbuf *b, const char *s); /* u32 len incl NUL, bytes, NUL */

/* ---- pure codec ----------------------------------------------------------- */
const char *proto_type_name(uint16_t type);
uint32_t proto_max_len(uint16_t type); /* 0 = unknown type */
void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], uint16_t type, uint32_t len);
int proto_hdr_decode(const uint8_t *buf, size_t n, struct proto_hdr *h);
/* Parse one whole frame from buf: returns bytes consumed (>0), 0 if more
 * bytes are needed, or a negative PROTO_ERR_*. */
long proto_frame_parse(const uint8_t *buf, size_t n, struct proto_frame *f);

/* Encoders append one complete frame (header + payload) to b. */
void proto_enc_empty(struct pbuf *b, uint16_t type);
void proto_enc_bytes(struct pbuf *b, uint16_t type, const void *data, uint32_t len);
void proto_enc_hello(struct pbuf *b, uint32_t version, uint32_t features);
void proto_enc_ping(struct pbuf *b, uint16_t type, uint64_t nonce, uint32_t version);
void proto_enc_error(struct pbuf *b, int32_t code, const char *msg);
void proto_enc_exec_failed(struct pbuf *b, uint32_t step, int32_t code, const char *msg);
void proto_enc_exec(struct pbuf *b, const struct proto_exec *e);
void proto_enc_resize(struct pbuf *b, uint16_t rows, uint16_t cols);
void proto_enc_u32(struct pbuf *b, uint16_t type, uint32_t v); /* SIGNAL, STARTED */
void proto_enc_exit(struct pbuf *b, const struct proto_exit *x);
void proto_enc_path(struct pbuf *b, uint16_t type,
		    const char *path); /* PUT_TAR GET_TAR GET_FILE LIST */
void proto_enc_path1(struct pbuf *b, uint16_t type, uint32_t a,
		     const char *path); /* PUT_FILE STAT REMOVE */
void proto_enc_mkdir(struct pbuf *b, uint32_t mode, uint32_t flags, const char *path);
void proto_enc_stat(struct pbuf *b, const struct proto_stat *s);
/* An invalid r (proto_restored_check) sets b->err to -EINVAL: never sent. */
void proto_enc_restored(struct pbuf *b, const struct proto_restored *r);

/* Decoders check the frame type, every length and that nothing trails.
 * Strings point into f->payload. Return 0 or a negative errno. */
int proto_dec_empty(const struct proto_frame *f);
int proto_dec_hello(const struct proto_frame *f, uint32_t *version, uint32_t *features);
int proto_dec_ping(const struct proto_frame *f, uint64_t *nonce, uint32_t *version);
int proto_dec_error(const struct proto_frame *f, int32_t *code, const char **msg);
int proto_dec_exec_failed(const struct proto_frame *f, uint32_t *step, int32_t *code,
			  const char **msg);
int proto_dec_exec(const struct proto_frame *f, struct proto_exec *e); /* proto_exec_free after */
void proto_exec_free(struct proto_exec *e);
int proto_dec_resize(const struct proto_frame *f, uint16_t *rows, uint16_t *cols);
int proto_dec_u32(const struct proto_frame *f, uint32_t *v);
int proto_dec_exit(const struct proto_frame *f, struct proto_exit *x);
int proto_dec_path(const struct proto_frame *f, const char **path);
int proto_dec_path1(const struct proto_frame *f, uint32_t *a, const char **path);
int proto_dec_mkdir(const struct proto_frame *f, uint32_t *mode, uint32_t *flags,
		    const char **path);
int proto_dec_stat(const struct proto_frame *f, struct proto_stat *s);
/* Also checks every field (proto_restored_check): -EBADMSG when one is bad. */
int proto_dec_restored(const struct proto_frame *f, struct proto_restored *r);

/* ---- buffered frame I/O over an fd (blocking or O_NONBLOCK) -------------- */
struct proto_reader {
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
};

int proto_reader_init(struct proto_reader *r, int fd);
void proto_reader_free(struct proto_reader *r);
/* One read(2) into the buffer: >0 bytes, 0 EOF, -EAGAIN, or -errno. */
long proto_reader_fill(struct proto_reader *r);
/* Next buffered frame without I/O: 1 = frame (valid until the next call),
 * 0 = need more bytes, <0 = malformed (PROTO_ERR_*). */
int proto_reader_next(struct proto_reader *r, struct proto_frame *f);
/* Blocking: 1 = frame, 0 = EOF at a frame boundary, <0 error (-EPIPE on
 * EOF mid-frame). Waits with poll(2) if the fd is non-blocking. */
int proto_read_frame(struct proto_reader *r, struct proto_frame *f);
bool proto_reader_buffered(const struct proto_reader *r);

/* Write all of buf, retrying partial writes and EINTR (polls on EAGAIN). */
int proto_write_all(int fd, const void *buf, size_t n);
/* Header + payload via writev, no copy: for DATA-sized frames. */
int proto_write_frame(int fd, uint16_t type, const void *payload, uint32_t len);
/* Flush an encoded pbuf (and reset it). Returns 0 or -errno. */
int proto_write_pbuf(int fd, struct pbuf *b);
/* Encode-and-send helpers for the common small frames. */
int proto_send_error(int fd, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for EXEC_FAILED: the command never ran, at step `step`. */
int proto_send_exec_failed(int fd, uint32_t step, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int proto_send_empty(int fd, uint16_t type);

/* Outgoing frame queue for event loops that must never block on the peer
 * (exec sessions on both sides read and write the stream at once). */
struct proto_wq {
	struct pbuf b; /* encode frames straight into b */
	size_t off;    /* bytes of b already written */
};
void proto_wq_init(struct proto_wq *q);
void proto_wq_free(struct proto_wq *q);
size_t proto_wq_pending(const struct proto_wq *q);
/* Write what the fd takes without blocking: 0 (maybe partial) or -errno. */
int proto_wq_flush(struct proto_wq *q, int fd);

#endif
