/* test_net_http1.c: request framing and the header set in each request
 * (src/net/http1.c): what the server gets, split at every byte, and every
 * request a server could read differently refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http1.h"

#define KEY "x-api-key: sk-real\r\n"

/* What the server gets for the client's bytes, fed in pieces of step
 * bytes; NULL and *why when the framer refused them. */
static char *frame(const char *in, size_t n, size_t step, const char **why)
{
	static struct http1_framer f;
	struct http1_buf out = { 0 };
	assert_int_equal(http1_init(&f, "x-api-key", "sk-real"), 0);
	*why = NULL;
	for (size_t i = 0; i < n; i += step) {
		size_t k = n - i < step ? n - i : step;
		if (http1_feed(&f, (const uint8_t *)in + i, k, &out, why) < 0) {
			assert_non_null(*why);
			http1_buf_free(&out);
			return NULL;
		}
	}
	char *s = calloc(1, out.len + 1);
	memcpy(s, out.p, out.len);
	http1_buf_free(&out);
	return s;
}

/* The same output whatever the pieces: one call, and byte by byte. */
static void expect(const char *in, const char *want)
{
	const char *why;
	for (size_t step = 1; step <= strlen(in); step = step == 1 ? 7 : step * 3) {
		char *got = frame(in, strlen(in), step, &why);
		if (!got)
			fail_msg("refused (%s) at step %zu: %s", why, step, in);
		assert_string_equal(got, want);
		free(got);
	}
	char *got = frame(in, strlen(in), strlen(in), &why);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void refused(const char *in, const char *reason)
{
	const char *why;
	for (size_t step = 1; step <= strlen(in); step = step == 1 ? 5 : step * 2) {
		char *got = frame(in, strlen(in), step, &why);
		if (got)
			fail_msg("accepted at step %zu: %s -> %s", step, in, got);
		assert_non_null(strstr(why, reason));
	}
}

static void test_header_added(void **st)
{
	(void)st;
	expect("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n" KEY "\r\n");
	/* HTTP/1.0, no fields at all */
	expect("GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\n" KEY "\r\n");
	/* an empty line before a request is ignored (RFC 9112 §2.2) */
	expect("\r\nGET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n" KEY "\r\n");
}

static void test_client_value_replaced(void **st)
{
	(void)st;
	/* the placeholder the client sends, in any case, every copy of it */
	expect("POST /v1/messages HTTP/1.1\r\nX-API-Key: placeholder\r\nA: 1\r\n"
	       "x-api-key:other\r\nContent-Length: 2\r\n\r\nhi",
	       "POST /v1/messages HTTP/1.1\r\nA: 1\r\nContent-Length: 2\r\n" KEY "\r\nhi");
	/* a field that only starts with the name is another field */
	expect("GET / HTTP/1.1\r\nx-api-key-id: 7\r\n\r\n",
	       "GET / HTTP/1.1\r\nx-api-key-id: 7\r\n" KEY "\r\n");
}

static void test_bodies_are_not_heads(void **st)
{
	(void)st;
	/* a body that looks like a request is passed as it is */
	const char *body = "GET /x HTTP/1.1\r\nx-api-key: no\r\n\r\n";
	char in[512], want[512];
	snprintf(in, sizeof(in),
		 "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%sGET /2 HTTP/1.1\r\n\r\n",
		 strlen(body), body);
	snprintf(want, sizeof(want),
		 "POST / HTTP/1.1\r\nContent-Length: %zu\r\n" KEY "\r\n%sGET /2 HTTP/1.1\r\n" KEY
		 "\r\n",
		 strlen(body), body);
	expect(in, want);
	/* chunked: sizes in hex, extensions, a trailer, then the next request */
	expect("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "5\r\nhello\r\n18;ext=1\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n\r\n0\r\nT: 1\r\n\r\n"
	       "GET /3 HTTP/1.1\r\n\r\n",
	       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" KEY "\r\n"
	       "5\r\nhello\r\n18;ext=1\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n\r\n0\r\nT: 1\r\n\r\n"
	       "GET /3 HTTP/1.1\r\n" KEY "\r\n");
}

static void test_upgrade_and_connect_pass_the_rest(void **st)
{
	(void)st;
	expect("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	       "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n" KEY "\r\nGET / HTTP/1.1\r\n\r\n");
	expect("CONNECT a:443 HTTP/1.1\r\n\r\n\x01\x02",
	       "CONNECT a:443 HTTP/1.1\r\n" KEY "\r\n\x01\x02");
}

static void test_ambiguous_requests_refused(void **st)
{
	(void)st;
	refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"both");
	refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"Content-Length");
	refused("POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n", "Content-Length");
	refused("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", "Content-Length");
	refused("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "Content-Length");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"Transfer-Encoding");
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding");
	refused("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "folding");
	refused("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", "malformed");
	refused("GET / HTTP/1.1\r\nA\r\n\r\n", "malformed");
	refused("GET / HTTP/1.1\nA: b\r\n\r\n", "bare");
	refused("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "bare");
	refused("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "control");
	refused("GET  / HTTP/1.1\r\n\r\n", "request line");
	refused("GET / HTTP/2.0\r\n\r\n", "HTTP/1.x");
	refused("\x16\x03\x01\x02\x01\r\n\r\n", "request line");
	/* chunk framing */
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
		"chunk size");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\n", "chunk size");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "chunk size");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "CRLF");
	refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n bad\r\n\r\n",
		"folding");
}

static void test_limits_and_after_failure(void **st)
{
	(void)st;
	struct http1_framer f;
	struct http1_buf out = { 0 };
	const char *why = NULL;
	size_t big = HTTP1_HEAD_MAX + 10;
	char *in = malloc(big);
	memcpy(in, "GET / HTTP/1.1\r\nA: ", 19);
	memset(in + 19, 'a', big - 19);
	assert_int_equal(http1_init(&f, "authorization", "Bearer k"), 0);
	assert_int_equal(http1_feed(&f, (uint8_t *)in, big, &out, &why), -1);
	assert_string_equal(why, "request head too large");
	assert_int_equal(out.len, 0);
	/* and nothing more is taken */
	assert_int_equal(http1_feed(&f, (const uint8_t *)"GET", 3, &out, &why), -1);
	assert_int_equal(out.len, 0);
	free(in);
	/* what came before a bad request still goes */
	assert_int_equal(http1_init(&f, "authorization", "Bearer k"), 0);
	const char *two = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nA : b\r\n\r\n";
	assert_int_equal(http1_feed(&f, (const uint8_t *)two, strlen(two), &out, &why), -1);
	assert_int_equal(out.len, strlen("GET / HTTP/1.1\r\nauthorization: Bearer k\r\n\r\n"));
	assert_int_equal(f.requests, 1);
	http1_buf_free(&out);
}

static void test_init_refuses(void **st)
{
	(void)st;
	struct http1_framer f;
	assert_int_equal(http1_init(&f, "x-api-key", "ok"), 0);
	assert_int_equal(http1_init(&f, "", "v"), -1);
	assert_int_equal(http1_init(&f, "bad name", "v"), -1);
	assert_int_equal(http1_init(&f, "a:b", "v"), -1);
	assert_int_equal(http1_init(&f, "x", "a\r\nInjected: 1"), -1);
	assert_int_equal(http1_init(&f, "x", "tab\there"), -1);
	assert_int_equal(http1_init(&f, "Content-Length", "1"), -1);
	assert_int_equal(http1_init(&f, "host", "evil"), -1);
	assert_int_equal(http1_init(&f, "Transfer-Encoding", "chunked"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_added),
		cmocka_unit_test(test_client_value_replaced),
		cmocka_unit_test(test_bodies_are_not_heads),
		cmocka_unit_test(test_upgrade_and_connect_pass_the_rest),
		cmocka_unit_test(test_ambiguous_requests_refused),
		cmocka_unit_test(test_limits_and_after_failure),
		cmocka_unit_test(test_init_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
