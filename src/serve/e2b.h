/* e2b.h: what `silo serve` speaks to E2B's SDKs (docs/api-e2b.md).
 *
 * Two halves at one address, as the SDK allows (E2B_API_URL and
 * E2B_SANDBOX_URL may be the same URL):
 *   e2b_api.c      the control plane: /sandboxes, /v2/sandboxes (API key)
 *   e2b_process.c  envd's process.Process over the Connect protocol
 *   e2b_fs.c       envd's filesystem.Filesystem and GET/POST /files
 *   connect.c      the Connect protocol's JSON codec framing and errors
 * envd calls name their sandbox with E2b-Sandbox-Id and carry its own
 * access token (X-Access-Token), never the API key.
 *
 * An E2B sandbox is a silo sandbox (its sandboxID is the silo name) plus
 * what E2B adds, kept by the server in <data>/e2b/<name>.json: the access
 * token, metadata, the template asked for and when it is to be removed.
 */
#ifndef SILO_SERVE_E2B_H
#define SILO_SERVE_E2B_H

#include "serve/serve.h"

/* What the SDK checks features against (docs/api-e2b.md 4.7): 0.5.2 has
 * the server's default user and closeStdin, and multipart uploads only. */
#define E2B_ENVD_VERSION "0.5.2"
#define E2B_USER	 "user" /* and its home, the default cwd */
#define E2B_HOME	 "/home/user"
#define E2B_TIMEOUT_S	 300 /* a sandbox's life when create gives none */
#define E2B_TOKEN_HEX	 48

struct e2b_state {
	char id[SB_NAME_MAX + 1];
	char token[E2B_TOKEN_HEX + 1];
	char template[SB_NAME_MAX + 1]; /* as asked: "base" is the default image */
	int64_t started_ms, end_ms;	/* unix ms */
	json_t *metadata;		/* {string: string}, owned */
};

/* <data>/e2b/<id>.json: 0 (s filled), 1 when there is none, -1 on error. */
int e2b_state_load(const struct serve *srv, const char *id, struct e2b_state *s);
int e2b_state_save(const struct serve *srv, const struct e2b_state *s);
void e2b_state_remove(const struct serve *srv, const char *id);
void e2b_state_free(struct e2b_state *s);

/* Remove sandboxes whose time is up: a thread of the server's. */
int e2b_reaper_start(struct serve *srv);
void e2b_reaper_stop(void);

/* Which half a request is for: 0 neither, 1 the API, 2 envd. */
int e2b_kind(struct MHD_Connection *c, const char *url);
enum MHD_Result e2b_api_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			      const char *url);

/* --- envd ------------------------------------------------------------------- */
/* The sandbox an envd request is for, checked: its E2b-Sandbox-Id (or,
 * from older SDKs, the sandbox whose token it carries) and that token,
 * compared in constant time (need_token false: /health, which needs
 * none). 0 and sb opened; else the reply is queued
 * (401, or 502 for a sandbox that is not there or not running) and
 * *ret holds it. */
int e2b_envd_sandbox(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
		     bool need_token, enum MHD_Result *ret);
/* The user a call acts as: Authorization: Basic base64("USER:"), or
 * ?username=, else E2B_USER. */
void e2b_user(struct MHD_Connection *c, char *user, size_t n);
/* A path as E2B means it: relative to the user's home. */
int e2b_path(const char *user, const char *path, char *out, size_t n);

enum MHD_Result e2b_envd_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			       const char *url);
/* process.Process/METHOD, filesystem.Filesystem/METHOD with the body (one
 * message, unary or enveloped) already read. */
enum MHD_Result e2b_process(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			    const char *method, json_t *msg, bool stream);
enum MHD_Result e2b_filesystem(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			       const char *method, json_t *msg, bool stream);
/* GET /files (the body needs no reading) and POST /files, whose multipart
 * body is streamed into the guest as it arrives (serve_req.upload). */
enum MHD_Result e2b_files_get(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb);
int e2b_upload_begin(struct serve_req *r, struct MHD_Connection *c);
void e2b_upload_data(struct serve_req *r, const char *data, size_t size);
enum MHD_Result e2b_upload_end(struct serve_req *r, struct MHD_Connection *c);
void e2b_upload_free(struct serve_req *r);

/* --- connect.c: Connect protocol, JSON codec --------------------------------- */
/* Connect's codes (docs/api-e2b.md 4.2) */
enum {
	CONNECT_INVALID_ARGUMENT = 3,
	CONNECT_NOT_FOUND = 5,
	CONNECT_ALREADY_EXISTS = 6,
	CONNECT_PERMISSION_DENIED = 7,
	CONNECT_UNIMPLEMENTED = 12,
	CONNECT_INTERNAL = 13,
	CONNECT_UNAVAILABLE = 14
};
/* A unary reply (msg stolen), or a unary error with its HTTP status. */
enum MHD_Result connect_reply(struct MHD_Connection *c, json_t *msg);
enum MHD_Result connect_error(struct MHD_Connection *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The request message of a streaming call: one envelope (flag 0). */
json_t *connect_unwrap(const char *body, size_t len);
/* An envelope into buf (flag 0: msg, stolen; 2: the end, with code 0 or
 * an error): its length, or 0 when it does not fit or msg is NULL. */
size_t connect_frame(char *buf, size_t n, json_t *msg);
size_t connect_end_frame(char *buf, size_t n, int code, const char *message);
/* A whole stream that is only its end: how a streaming call fails
 * (errors never go in the HTTP status of a stream). */
enum MHD_Result connect_stream_error(struct MHD_Connection *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *connect_code_name(int code);

#endif
