/* exec.c: POST /v1/sandboxes/NAME/exec, a command's output streamed as
 * NDJSON while it runs (docs/api.md "exec").
 *
 *   request  {"cmd": ["sh", "-c", "..."], "env": {"K": "V"}, "cwd": "/workspace",
 *             "user": "agent", "stdin": BASE64, "timeout": SECONDS}
 *   response one JSON object per line, in the order the guest wrote:
 *            {"stdout": BASE64}  {"stderr": BASE64}  ...
 *            then {"exit_code": N, "signal": S, "timed_out": BOOL}
 *            or, if it could not run, {"exit_code": 126|127, "error": "..."}
 *   or, with Accept: application/vnd.docker.multiplexed-stream, Docker's
 *            framing (8-byte header: stream 1|2, 0, 0, 0, big-endian length)
 *            with raw bytes, and a last frame of stream 3 holding that line
 *
 * The command runs as run.c runs it; the response's reader, on the
 * connection's own thread, turns its output into lines. A client that goes
 * away (its socket hung up, or a write to it failed) ends the command:
 * SIGKILL, and the agent kills whatever a dropped connection leaves
 * (src/agent/exec.c).
 * The HTTP status is 200 once the stream starts: the command's outcome is
 * its last line.
 */
#include "serve/serve.h"
#include "client/exec_fe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK	     (48 * 1024) /* raw bytes per line: 64 KiB of base64 */
#define OUT_LINE_MAX (SERVE_B64_LEN(CHUNK) + 64)
/* Accept: this, and the output comes as Docker's multiplexed stream (its
 * attach API's framing) with the bytes as they are, no base64: what a
 * client that moves much output wants */
#define RAW_TYPE     "application/vnd.docker.multiplexed-stream"

struct job {
	struct run run;
	int sock;
	bool ended, raw; /* raw: multiplexed frames, not NDJSON */
	/* what the reader formatted and has not handed to MHD yet */
	char line[OUT_LINE_MAX];
	size_t len, off;
};

/* The response is done with (sent, or the client gone): the command is
 * killed if it still runs, then everything goes. */
static void on_free(void *cls)
{
	struct job *j = cls;
	run_free(&j->run);
	free(j);
}

/* Docker's multiplexed stream header: the stream (1 stdout, 2 stderr; 3,
 * silo's, the end), three zero bytes, the payload's length big-endian. */
static void frame_header(char *h, int stream, size_t n)
{
	h[0] = (char)stream;
	h[1] = h[2] = h[3] = 0;
	h[4] = (char)(n >> 24);
	h[5] = (char)(n >> 16);
	h[6] = (char)(n >> 8);
	h[7] = (char)n;
}

static void put_line(struct job *j, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	j->len = j->off = 0;
	if (!text)
		return;
	if (j->raw) {
		/* the end frame: stream 3, the same JSON */
		size_t n = strlen(text);
		n = n < sizeof(j->line) - 8 ? n : sizeof(j->line) - 8;
		frame_header(j->line, 3, n);
		memcpy(j->line + 8, text, n);
		j->len = n + 8;
		free(text);
		return;
	}
	j->len = (size_t)snprintf(j->line, sizeof(j->line), "%s\n", text);
	if (j->len >= sizeof(j->line))
		j->len = 0;
	free(text);
}

/* The last line: how the command ended. */
static void end_line(struct job *j)
{
	struct run *r = &j->run;
	j->ended = true;
	if (r->rc < 0) {
		put_line(j, json_pack("{s:i,s:o}", "exit_code",
				      aclient_exit_status(r->rc, &r->x, &r->e), "error",
				      serve_str(r->e.msg)));
		return;
	}
	bool sig = r->x.flags & EXIT_F_SIGNALED;
	put_line(j, json_pack("{s:i,s:i,s:b}", "exit_code", aclient_exit_status(0, &r->x, &r->e),
			      "signal", sig ? r->x.code : 0, "timed_out",
			      (r->x.flags & EXIT_F_TIMEOUT) != 0));
}

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct job *j = cls;
	unsigned char raw[CHUNK];
	size_t len;
	int which;
	(void)pos;
	/* Read no more than one call of ours can hand MHD whole (max: what is
	 * free of its buffer, ~64 KiB less the request's headers): a line cut
	 * in two costs a chunk and a send() of its own for a few bytes. */
	size_t fit = j->raw ? max - 8 : (max - 16) / 4 * 3;
	size_t cap = max < 64 || fit > sizeof(raw) ? sizeof(raw) : fit;

	while (j->off == j->len) {
		if (j->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		switch (run_next(&j->run, j->sock, -1, raw, cap, &len, &which)) {
		case RUN_DATA: {
			if (j->raw) {
				frame_header(j->line, which, len);
				memcpy(j->line + 8, raw, len);
				j->len = len + 8;
				j->off = 0;
				break;
			}
			/* base64 needs no JSON escaping: the line is written as it
			 * is, not through jansson (which would check and escape
			 * every byte of it again) */
			int n = snprintf(j->line, sizeof(j->line), "{\"%s\":\"",
					 which == 1 ? "stdout" : "stderr");
			n += (int)serve_b64(j->line + n, raw, len);
			memcpy(j->line + n, "\"}\n", 3);
			j->len = (size_t)n + 3;
			j->off = 0;
			break;
		}
		case RUN_ENDED:
			end_line(j);
			break;
		case RUN_GONE:
			/* the client went away: on_free ends the command */
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	return serve_pending(buf, max, j->line, j->len, &j->off);
}

static char *dup_str(json_t *v, const char *def)
{
	const char *s = v ? json_string_value(v) : def;
	return s ? strdup(s) : NULL;
}

/* The request into r: 0, or -1 with the reason in sb_errmsg(). */
static int parse(struct run *j, const struct sandbox *sb, json_t *b)
{
	json_t *cmd = json_object_get(b, "cmd"), *v;
	const char *k;
	size_t i;

	json_object_foreach(b, k, v)
	{
		if (strcmp(k, "cmd") && strcmp(k, "env") && strcmp(k, "cwd") && strcmp(k, "user") &&
		    strcmp(k, "stdin") && strcmp(k, "timeout"))
			return sb_fail("unknown field '%s'", k);
	}
	if (!json_is_array(cmd) || !json_array_size(cmd) || json_array_size(cmd) > 4096)
		return sb_fail("invalid cmd: use a list of strings, the program first");
	if (!(j->argv = calloc(json_array_size(cmd) + 1, sizeof(char *))))
		return sb_fail("out of memory");
	json_array_foreach(cmd, i, v)
	{
		if (!json_is_string(v) || !(j->argv[i] = strdup(json_string_value(v))))
			return sb_fail("invalid cmd: use a list of strings");
	}
	if (run_env(j, sb, json_object_get(b, "env")) < 0)
		return -1;
	if ((v = json_object_get(b, "cwd")) && !json_is_string(v))
		return sb_fail("invalid cwd: use a path");
	if ((v = json_object_get(b, "user")) && !json_is_string(v))
		return sb_fail("invalid user: use a name");
	/* as `silo exec`: the agent user in /workspace */
	j->cwd = dup_str(json_object_get(b, "cwd"), "/workspace");
	j->user = dup_str(json_object_get(b, "user"), "agent");
	v = json_object_get(b, "timeout");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 86400))
		return sb_fail("invalid timeout: use seconds, 1..86400");
	j->timeout_ms = v ? (uint32_t)json_integer_value(v) * 1000 : 0;
	/* stdin: the bytes given, from a memfd the agent reads to its end */
	v = json_object_get(b, "stdin");
	if (v) {
		const char *s = json_string_value(v);
		size_t cap = s ? strlen(s) : 0, len;
		unsigned char *raw = malloc(cap + 1);
		if (!s || !raw ||
		    sodium_base642bin(raw, cap + 1, s, cap, NULL, &len, NULL,
				      sodium_base64_VARIANT_ORIGINAL) < 0) {
			free(raw);
			return sb_fail("invalid stdin: use base64");
		}
		j->in_fd = memfd_create("silo-stdin", MFD_CLOEXEC);
		bool ok = j->in_fd >= 0 && write(j->in_fd, raw, len) == (ssize_t)len &&
			  lseek(j->in_fd, 0, SEEK_SET) == 0;
		free(raw);
		if (!ok)
			return sb_fail("stdin: %s", strerror(errno));
	}
	return 0;
}

enum MHD_Result v1_exec(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			json_t *b)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return MHD_NO;
	run_init(&j->run);
	snprintf(j->run.addr, sizeof(j->run.addr), "%s", sb->addr);
	if (parse(&j->run, sb, b) < 0) {
		on_free(j);
		return serve_error(c, MHD_HTTP_BAD_REQUEST, "%s", sb_errmsg());
	}
	struct sb_status st;
	if (sb_status(sb, &st) < 0 || st.state != SB_RUNNING) {
		on_free(j);
		return serve_error(c, 409, "sandbox %s is not running: start it first", sb->name);
	}
	if (!serve_take_slot(r)) {
		on_free(j);
		return serve_error(c, MHD_HTTP_TOO_MANY_REQUESTS,
				   "too many requests at work: retry later");
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	j->sock = ci ? ci->connect_fd : -1;
	const char *accept =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	j->raw = accept && strstr(accept, RAW_TYPE);
	if (run_start(&j->run) < 0) {
		on_free(j);
		return serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg());
	}
	return serve_stream(c, MHD_SIZE_UNKNOWN, j->raw ? RAW_TYPE : "application/x-ndjson",
			    on_read, j, on_free);
}
