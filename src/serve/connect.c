/* connect.c: the Connect RPC protocol with its JSON codec, the half of it
 * E2B's SDK uses (docs/api-e2b.md 4.2; connectrpc.com/docs/protocol).
 *
 * Unary: the body is one JSON message; the reply 200 application/json, or
 * an error status with {"code": NAME, "message": ...}. Server streaming:
 * the request and the reply are envelopes, a flag byte and a 4-byte
 * big-endian length before each JSON message; the reply always ends with
 * an envelope of flag 2 that holds the error if there is one, and its HTTP
 * status is 200 even then (a client reads a stream's status as the code
 * when it is not, and loses the message).
 */
#include "serve/e2b.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_END 0x02

static const struct {
	const char *name;
	unsigned status;
} codes[] = {
	[0] = { "ok", 200 },
	[1] = { "canceled", 499 },
	[2] = { "unknown", 500 },
	[CONNECT_INVALID_ARGUMENT] = { "invalid_argument", 400 },
	[4] = { "deadline_exceeded", 504 },
	[CONNECT_NOT_FOUND] = { "not_found", 404 },
	[CONNECT_ALREADY_EXISTS] = { "already_exists", 409 },
	[CONNECT_PERMISSION_DENIED] = { "permission_denied", 403 },
	[8] = { "resource_exhausted", 429 },
	[9] = { "failed_precondition", 400 },
	[10] = { "aborted", 409 },
	[11] = { "out_of_range", 400 },
	[CONNECT_UNIMPLEMENTED] = { "unimplemented", 501 },
	[CONNECT_INTERNAL] = { "internal", 500 },
	[CONNECT_UNAVAILABLE] = { "unavailable", 503 },
	[15] = { "data_loss", 500 },
	[16] = { "unauthenticated", 401 },
};

const char *connect_code_name(int code)
{
	return code > 0 && code < 17 ? codes[code].name : "unknown";
}

enum MHD_Result connect_reply(struct MHD_Connection *c, json_t *msg)
{
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!text)
		return MHD_NO;
	return serve_reply(c, MHD_HTTP_OK, "application/json", text, strlen(text));
}

enum MHD_Result connect_error(struct MHD_Connection *c, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e =
		json_pack("{s:s,s:o}", "code", connect_code_name(code), "message", serve_str(msg));
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (!text)
		return MHD_NO;
	return serve_reply(c, code > 0 && code < 17 ? codes[code].status : 500, "application/json",
			   text, strlen(text));
}

json_t *connect_unwrap(const char *body, size_t len)
{
	if (!body || len < 5 || body[0] != 0)
		return NULL;
	const unsigned char *b = (const unsigned char *)body;
	size_t n = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
	if (n != len - 5)
		return NULL;
	return json_loadb(body + 5, n, 0, NULL);
}

static size_t frame(char *buf, size_t n, unsigned char flag, json_t *msg)
{
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!text)
		return 0;
	size_t len = strlen(text);
	if (len + 5 > n) {
		free(text);
		return 0;
	}
	buf[0] = (char)flag;
	buf[1] = (char)(len >> 24);
	buf[2] = (char)(len >> 16);
	buf[3] = (char)(len >> 8);
	buf[4] = (char)len;
	memcpy(buf + 5, text, len);
	free(text);
	return len + 5;
}

size_t connect_frame(char *buf, size_t n, json_t *msg)
{
	return frame(buf, n, 0, msg);
}

size_t connect_end_frame(char *buf, size_t n, int code, const char *message)
{
	if (!code)
		return frame(buf, n, FLAG_END, json_object());
	return frame(buf, n, FLAG_END,
		     json_pack("{s:{s:s,s:o}}", "error", "code", connect_code_name(code), "message",
			       serve_str(message)));
}

enum MHD_Result connect_stream_error(struct MHD_Connection *c, int code, const char *fmt, ...)
{
	char msg[1024], *buf = malloc(2048);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!buf)
		return MHD_NO;
	size_t len = connect_end_frame(buf, 2048, code, msg);
	return serve_reply(c, MHD_HTTP_OK, "application/connect+json", buf, len);
}
