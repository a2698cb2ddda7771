/* serve.h: `silo serve`, an HTTP API over the sandbox library (docs/api.md).
 *
 * libmicrohttpd runs one thread per connection, so a handler may block
 * (a sandbox start, a command's output) without holding up the others; the
 * sandbox library is safe from many threads (issue 21 item 1). Sandboxes
 * are daemonless: the server only drives them, and stopping it (SIGTERM,
 * SIGINT) leaves every sandbox as it is. Every request but GET /health
 * carries the API key (auth.c). JSON is jansson's, base64 and the key's
 * randomness and comparison libsodium's.
 */
#ifndef SILO_SERVE_H
#define SILO_SERVE_H

#include "sandbox/sandbox.h"

#include "client/client.h"

#include <jansson.h>
#include <pthread.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

#define SERVE_LISTEN_DEFAULT "127.0.0.1:7411"
#define SERVE_TOKEN_FILE     "serve.token" /* in <data>, 0600 */
/* A JSON request body larger than this is refused (413) unread. */
#define SERVE_BODY_MAX	     (1u << 20)

struct serve_opts {
	const char *listen;	/* "ADDR:PORT", "[V6ADDR]:PORT"; NULL: the default */
	const char *token_file; /* NULL: <data>/SERVE_TOKEN_FILE, made on first start */
	unsigned max_conns;	/* open connections; more are refused by the listener */
	unsigned max_busy;	/* requests at work at once (start, exec...); more: 429 */
	int grace_s;		/* on SIGTERM: how long requests at work may finish */
	int ready_fd;		/* >= 0: "ADDR:PORT\n" written here once listening */
};

/* What every request handler sees. */
struct serve {
	const struct sb_paths *paths;
	const struct serve_opts *opts;
	unsigned char key_hash[32];   /* BLAKE2b of the API key (auth.c) */
	atomic_uint busy;	      /* requests at work now */
	atomic_bool stopping;	      /* SIGTERM: new work refused, waits cancelled */
	volatile sig_atomic_t cancel; /* what a sandbox start polls (sb_opts) */
};

/* Run the server until SIGTERM or SIGINT: the exit status for main. */
int serve_main(const struct sb_paths *p, const struct serve_opts *o);

/* `silo mcp`: an MCP server on stdin/stdout until EOF (mcp.c). */
int mcp_main(const struct sb_paths *p, const char *version);

/* --- auth.c ---------------------------------------------------------------- */
/* The key from o->token_file, else from <data>/serve.token, made (random,
 * 0600) and printed once on stderr when missing. Its hash into s. */
int serve_key_load(struct serve *s);
/* Whether the request carries the key: "Authorization: Bearer KEY" or
 * "X-API-Key: KEY" (E2B's header). Compared in constant time. */
bool serve_authorized(const struct serve *s, struct MHD_Connection *c);

/* --- one request ------------------------------------------------------------ */
struct serve_req {
	struct serve *srv;
	char *body;
	size_t len;
	bool too_big, counted; /* counted: holds one of s->busy */
	int kind;	       /* 0 silo's own, 1 E2B's API, 2 E2B's envd (e2b.h) */
	/* A body streamed as it arrives instead of kept (E2B's POST /files,
	 * PUT /v1/.../files): set by the route at the first call */
	void *upload;
	void (*sink)(struct serve_req *r, const char *data, size_t len);
	void (*sink_free)(struct serve_req *r);
};

/* Reply with body (malloc'd, stolen) of type; 429 and 503 say Retry-After,
 * 401 WWW-Authenticate. */
enum MHD_Result serve_reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
			    size_t len);
/* 200 with a body that read(cls) makes as it goes (size, or
 * MHD_SIZE_UNKNOWN: chunked); done(cls) when MHD is through with it, also
 * here when the reply cannot be made. */
enum MHD_Result serve_stream(struct MHD_Connection *c, uint64_t size, const char *type,
			     MHD_ContentReaderCallback read, void *cls,
			     MHD_ContentReaderFreeCallback done);
/* For a read callback: hand MHD what is left of frame (len bytes, *off of
 * them already handed), at most max of it, into buf. */
ssize_t serve_pending(char *buf, size_t max, const void *frame, size_t len, size_t *off);
/* Command output as base64 (RFC 4648 section 4, padded) into dst, which
 * holds SERVE_B64_LEN(n) bytes: the length written, NUL not counted. */
#define SERVE_B64_LEN(n) (((n) + 2) / 3 * 4 + 1)
size_t serve_b64(char *dst, const void *src, size_t n);
/* Reply with a JSON value (stolen) or an error {"code": status, "message"}. */
enum MHD_Result serve_json(struct MHD_Connection *c, unsigned status, json_t *v);
enum MHD_Result serve_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Take one of the busy slots for a request that works (start, exec): false
 * when all are taken or the server is stopping (the caller answers 429 or
 * 503). Given back when the request completes. */
bool serve_take_slot(struct serve_req *r);
/* A JSON string of text a guest or a user may have chosen: escaped to
 * printable UTF-8 (sb_escape), which jansson requires. */
json_t *serve_str(const char *s);

/* --- v1.c: the native API (/v1/...) ------------------------------------------ */
/* Create sandbox name (NULL: a generated one) from cfg, of template tmpl if
 * not NULL (given: the SB_GIVEN_* flags it must agree with), and start it,
 * as `silo run` does: a sandbox that does not come up is removed. 0 and
 * its name in made (SB_NAME_MAX + 1); -1, sb_errmsg() and the HTTP status
 * for it in *status. Takes a busy slot. */
int serve_start_new(struct serve_req *r, const char *name, struct sb_config *cfg, const char *tmpl,
		    unsigned given, char *made, unsigned *status);
enum MHD_Result v1_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			 const char *path);

/* --- run.c: a command whose output a request streams ------------------------- */
struct run {
	/* what to run (malloc'd; run_free frees them), as aclient_exec_opts */
	char addr[SB_PATH_MAX + 32];
	char **argv, **env; /* NULL-terminated */
	char *cwd, *user;
	bool tty;
	uint16_t rows, cols;
	uint32_t timeout_ms;
	int in_fd, tty_fd; /* -1: none */
	int out[2], err[2], sig[2];
	pthread_t th;
	bool started, joined, out_eof, err_eof;
	/* how it ended, once run_next said RUN_ENDED */
	int rc;
	struct proto_exit x;
	struct aclient_err e;
};
enum { RUN_GONE = -1, RUN_IDLE = 0, RUN_DATA = 1, RUN_ENDED = 2 };
void run_init(struct run *r);
/* variables of a command: the run's and the sandbox's, and up to 128 a request adds */
#define RUN_ENV_MAX (SB_ENV_MAX + 256)
/* r->env: the run's and the sandbox's variables (sb_exec_env), then those
 * of the request's object env (NULL: none): 0, or -1 with the reason. */
int run_env(struct run *r, const struct sandbox *sb, json_t *env);
int run_start(struct run *r);
/* Wait at most timeout_ms (-1: for ever) for output, the command's end or
 * a hangup on sock (-1: none). RUN_DATA: *len bytes of stream *which
 * (1 stdout, 2 stderr) in buf; RUN_ENDED: joined, rc/x/e hold the end;
 * RUN_IDLE: nothing yet; RUN_GONE: the client hung up. */
int run_next(struct run *r, int sock, int timeout_ms, void *buf, size_t cap, size_t *len,
	     int *which);
/* One signal for the command (SIGWINCH: the size of tty_fd). */
int run_signal(struct run *r, int sig);
/* Read and drop output until the command ends (a client that left). */
void run_drain(struct run *r);
/* SIGKILL it and wait for the worker. */
void run_kill(struct run *r);
void run_finish(struct run *r);
/* Kill it if it still runs, close and free everything. */
void run_free(struct run *r);

/* --- v1_files.c: files as tar, and the console log --------------------------- */
/* PUT /v1/sandboxes/NAME/files?path=DIR: at the first call (0, or -1 with
 * the reply queued); the tar body streams into the guest; then its end. */
int v1_files_put_begin(struct serve_req *r, struct MHD_Connection *c, const char *name);
enum MHD_Result v1_files_put_end(struct serve_req *r, struct MHD_Connection *c);
enum MHD_Result v1_files_get(struct MHD_Connection *c, struct sandbox *sb);
/* 200 with what rx streams (size, or MHD_SIZE_UNKNOWN), first the n bytes
 * at first already read from it; rx is the response's from now on. */
enum MHD_Result serve_rx_reply(struct MHD_Connection *c, struct aclient_rx *rx, uint64_t size,
			       const char *type, const void *first, size_t n);
enum MHD_Result v1_logs(struct MHD_Connection *c, struct sandbox *sb);

/* --- exec.c: a command's output as NDJSON ------------------------------------ */
/* POST /v1/sandboxes/NAME/exec with body b (validated here). */
enum MHD_Result v1_exec(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			json_t *b);

#endif
