/* fuzz_net_wire.c: libFuzzer target for the network vsock headers (src/net/wire.c).
 *
 * The input is decoded as each of the three headers. The format is strict
 * (one encoding per value), so whatever a decoder accepts must re-encode to
 * exactly the bytes it read; whatever it rejects must break a rule checked
 * here independently (magic, version, field values, zero padding), and the
 * encoder must agree with the decoder about invalid values.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "net/wire.h"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The rules of wire.h, spelled out byte by byte. */
static bool head_ok(const uint8_t *d, size_t size, size_t want, char m)
{
	return size >= want && d[0] == 'S' && d[1] == 'N' && d[2] == m && d[3] == WIRE_VERSION;
}

static void fuzz_connect(const uint8_t *d, size_t size)
{
	struct wire_connect c;
	enum wire_err e = wire_connect_decode(d, size, &c);
	bool ok = head_ok(d, size, 32, 'C') && (d[4] == AF_INET || d[4] == AF_INET6) &&
		  d[5] == IPPROTO_TCP && (d[6] | d[7]) != 0 &&
		  (d[4] == AF_INET6 || zero(d + 12, 12)) && zero(d + 24, 8);
	CHECK((e == WIRE_OK) == ok);
	CHECK(wire_strerror(e) != NULL);
	if (e != WIRE_OK)
		return;
	CHECK(c.port == (d[6] | d[7] << 8));
	uint8_t out[WIRE_CONNECT_SIZE];
	CHECK(wire_connect_encode(&c, out) == WIRE_OK);
	CHECK(memcmp(out, d, sizeof(out)) == 0);
	struct wire_connect again;
	CHECK(wire_connect_decode(out, sizeof(out), &again) == WIRE_OK);
	CHECK(again.family == c.family && again.port == c.port &&
	      !memcmp(&again.addr, &c.addr, c.family == AF_INET ? 4 : 16));
}

static void fuzz_reply(const uint8_t *d, size_t size)
{
	enum wire_status s;
	enum wire_err e = wire_reply_decode(d, size, &s);
	bool ok = head_ok(d, size, 8, 'R') && d[4] < WIRE_STATUS_COUNT_ && zero(d + 5, 3);
	CHECK((e == WIRE_OK) == ok);
	if (e != WIRE_OK)
		return;
	CHECK(wire_status_str(s) != NULL);
	uint8_t out[WIRE_REPLY_SIZE];
	CHECK(wire_reply_encode(s, out) == WIRE_OK);
	CHECK(memcmp(out, d, sizeof(out)) == 0);
}

static void fuzz_forward(const uint8_t *d, size_t size)
{
	uint16_t port;
	enum wire_err e = wire_forward_decode(d, size, &port);
	bool ok = head_ok(d, size, 8, 'F') && (d[4] | d[5]) != 0 && zero(d + 6, 2);
	CHECK((e == WIRE_OK) == ok);
	if (e != WIRE_OK)
		return;
	uint8_t out[WIRE_FORWARD_SIZE];
	CHECK(wire_forward_encode(port, out) == WIRE_OK);
	CHECK(memcmp(out, d, sizeof(out)) == 0);
}

/* The encoders, fed arbitrary values: they refuse exactly what the
 * decoders would, and what they write decodes to the same values. */
static void fuzz_encoders(const uint8_t *d, size_t size)
{
	if (size < 20)
		return;
	struct wire_connect c = { .family = d[0], .port = (uint16_t)(d[1] | d[2] << 8) };
	memcpy(&c.addr, d + 3, 16);
	uint8_t out[WIRE_CONNECT_SIZE];
	enum wire_err e = wire_connect_encode(&c, out);
	CHECK((e == WIRE_OK) == ((c.family == AF_INET || c.family == AF_INET6) && c.port));
	if (e == WIRE_OK) {
		struct wire_connect back;
		CHECK(wire_connect_decode(out, sizeof(out), &back) == WIRE_OK);
		CHECK(back.family == c.family && back.port == c.port &&
		      !memcmp(&back.addr, &c.addr, c.family == AF_INET ? 4 : 16));
	}
	uint8_t r[WIRE_REPLY_SIZE];
	enum wire_status s;
	e = wire_reply_encode((enum wire_status)d[19], r);
	CHECK((e == WIRE_OK) == (d[19] < WIRE_STATUS_COUNT_));
	if (e == WIRE_OK)
		CHECK(wire_reply_decode(r, sizeof(r), &s) == WIRE_OK && s == d[19]);
	uint8_t f[WIRE_FORWARD_SIZE];
	uint16_t port;
	e = wire_forward_encode(c.port, f);
	CHECK((e == WIRE_OK) == (c.port != 0));
	if (e == WIRE_OK)
		CHECK(wire_forward_decode(f, sizeof(f), &port) == WIRE_OK && port == c.port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_connect(data, size);
	fuzz_reply(data, size);
	fuzz_forward(data, size);
	fuzz_encoders(data, size);
	return 0;
}
