/* fuzz_net_http1.c: libFuzzer target for request framing (src/net/http1.c).
 *
 * The first byte picks where the input is split in two; the rest is what a
 * guest's client sends. Framing must not depend on how the bytes arrive
 * (that is what read() gives the broker), so the split input must give the
 * same verdict and the same bytes for the server as the whole input; and
 * whatever is accepted must hold the broker's field once per request head,
 * with the field the client sent under that name never passed on.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "net/http1.h"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static struct http1_framer a, b;

static size_t count(const struct http1_buf *o, const char *s)
{
	size_t n = 0, k = strlen(s);
	for (size_t i = 0; o->len >= k && i <= o->len - k; i++)
		n += !memcmp(o->p + i, s, k);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = d[0] % (size);
	d++;
	size--;
	cut = cut > size ? size : cut;

	struct http1_buf whole = { 0 }, parts = { 0 };
	const char *why;
	CHECK(http1_init(&a, "x-k", "SECRET") == 0);
	CHECK(http1_init(&b, "x-k", "SECRET") == 0);
	int ra = http1_feed(&a, d, size, &whole, &why);
	int rb = http1_feed(&b, d, cut, &parts, &why);
	if (rb == 0)
		rb = http1_feed(&b, d + cut, size - cut, &parts, &why);
	CHECK(ra == rb && a.state == b.state && a.requests == b.requests);
	CHECK(whole.len == parts.len && (!whole.len || !memcmp(whole.p, parts.p, whole.len)));
	/* the field is ours: in every head, never the client's value */
	if (!memmem(d, size, "SECRET", 6))
		CHECK(count(&whole, "x-k: SECRET\r\n") == a.requests);
	http1_buf_free(&whole);
	http1_buf_free(&parts);
	return 0;
}
