/* test_net_wire.c: the network vsock headers (src/net/wire.c): exact
 * layouts, round trips, and every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "net/wire.h"

/* 93.184.216.34:443 */
static const uint8_t connect_v4[WIRE_CONNECT_SIZE] = {
	'S', 'N', 'C', 1, AF_INET, IPPROTO_TCP, 0xbb, 0x01, 93, 184, 216, 34, 0, 0, 0, 0,
	0,   0,	  0,   0, 0,	   0,		0,    0,    0,	0,   0,	  0,  0, 0, 0, 0,
};
/* [2001:db8::1]:22 */
static const uint8_t connect_v6[WIRE_CONNECT_SIZE] = {
	'S', 'N', 'C', 1, AF_INET6, IPPROTO_TCP, 22, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	0,   0,	  0,   0, 0,	    0,		 0,  1, 0,    0,    0,	  0,	0, 0, 0, 0,
};

static void test_connect_layout(void **st)
{
	(void)st;
	struct wire_connect c = { .family = AF_INET, .port = 443 };
	uint8_t out[WIRE_CONNECT_SIZE];
	inet_pton(AF_INET, "93.184.216.34", &c.addr.v4);
	assert_int_equal(wire_connect_encode(&c, out), WIRE_OK);
	assert_memory_equal(out, connect_v4, sizeof(out));

	struct wire_connect d;
	assert_int_equal(wire_connect_decode(connect_v6, sizeof(connect_v6), &d), WIRE_OK);
	assert_int_equal(d.family, AF_INET6);
	assert_int_equal(d.port, 22);
	struct in6_addr want;
	inet_pton(AF_INET6, "2001:db8::1", &want);
	assert_memory_equal(&d.addr.v6, &want, sizeof(want));
	assert_int_equal(wire_connect_encode(&d, out), WIRE_OK);
	assert_memory_equal(out, connect_v6, sizeof(out));

	/* what follows the header is stream payload, not part of it */
	uint8_t longer[WIRE_CONNECT_SIZE + 5];
	memcpy(longer, connect_v4, WIRE_CONNECT_SIZE);
	memcpy(longer + WIRE_CONNECT_SIZE, "GET /", 5);
	assert_int_equal(wire_connect_decode(longer, sizeof(longer), &d), WIRE_OK);
	assert_int_equal(d.family, AF_INET);
	assert_int_equal(d.port, 443);
	assert_int_equal(d.addr.v4.s_addr, c.addr.v4.s_addr);
}

/* Decode connect_v4 with byte i set to v. */
static enum wire_err connect_with(size_t i, uint8_t v)
{
	uint8_t b[WIRE_CONNECT_SIZE];
	struct wire_connect d;
	memcpy(b, connect_v4, sizeof(b));
	b[i] = v;
	return wire_connect_decode(b, sizeof(b), &d);
}

static void test_connect_rejects(void **st)
{
	(void)st;
	struct wire_connect d;
	for (size_t n = 0; n < WIRE_CONNECT_SIZE; n++)
		assert_int_equal(wire_connect_decode(connect_v4, n, &d), WIRE_E_SHORT);
	assert_int_equal(connect_with(0, 's'), WIRE_E_MAGIC);
	assert_int_equal(connect_with(2, 'R'), WIRE_E_MAGIC); /* a reply is not a CONNECT */
	assert_int_equal(connect_with(3, 0), WIRE_E_VERSION);
	assert_int_equal(connect_with(3, 2), WIRE_E_VERSION);
	assert_int_equal(connect_with(4, 0), WIRE_E_FAMILY);
	assert_int_equal(connect_with(4, AF_UNIX), WIRE_E_FAMILY);
	assert_int_equal(connect_with(4, 4), WIRE_E_FAMILY);
	assert_int_equal(connect_with(5, IPPROTO_UDP), WIRE_E_PROTO);
	/* port 0 */
	uint8_t b[WIRE_CONNECT_SIZE];
	memcpy(b, connect_v4, sizeof(b));
	b[6] = b[7] = 0;
	assert_int_equal(wire_connect_decode(b, sizeof(b), &d), WIRE_E_PORT);
	/* IPv4 padding, every byte of it */
	for (size_t i = 12; i < 24; i++)
		assert_int_equal(connect_with(i, 1), WIRE_E_ADDR);
	for (size_t i = 24; i < 32; i++)
		assert_int_equal(connect_with(i, 0x80), WIRE_E_RESERVED);
	/* the same bytes in IPv6 are address, fine */
	assert_int_equal(connect_with(4, AF_INET6), WIRE_OK);
	/* the encoder refuses what the decoder would */
	struct wire_connect c = { .family = AF_UNIX, .port = 1 };
	assert_int_equal(wire_connect_encode(&c, b), WIRE_E_FAMILY);
	c.family = AF_INET;
	c.port = 0;
	assert_int_equal(wire_connect_encode(&c, b), WIRE_E_PORT);
}

static void test_reply(void **st)
{
	(void)st;
	uint8_t out[WIRE_REPLY_SIZE];
	enum wire_status s;
	const uint8_t denied[] = { 'S', 'N', 'R', 1, 1, 0, 0, 0 };
	assert_int_equal(wire_reply_encode(WIRE_DENIED, out), WIRE_OK);
	assert_memory_equal(out, denied, sizeof(denied));
	for (int i = 0; i < WIRE_STATUS_COUNT_; i++) {
		assert_int_equal(wire_reply_encode((enum wire_status)i, out), WIRE_OK);
		assert_int_equal(wire_reply_decode(out, sizeof(out), &s), WIRE_OK);
		assert_int_equal(s, i);
		assert_string_not_equal(wire_status_str(s), "unknown status");
	}
	assert_int_equal(wire_reply_encode(WIRE_STATUS_COUNT_, out), WIRE_E_STATUS);
	assert_string_equal(wire_status_str(WIRE_DENIED), "denied by policy");

	uint8_t b[WIRE_REPLY_SIZE];
	for (size_t n = 0; n < sizeof(b); n++)
		assert_int_equal(wire_reply_decode(denied, n, &s), WIRE_E_SHORT);
	memcpy(b, denied, sizeof(b));
	b[2] = 'C';
	assert_int_equal(wire_reply_decode(b, sizeof(b), &s), WIRE_E_MAGIC);
	memcpy(b, denied, sizeof(b));
	b[3] = 9;
	assert_int_equal(wire_reply_decode(b, sizeof(b), &s), WIRE_E_VERSION);
	memcpy(b, denied, sizeof(b));
	b[4] = WIRE_STATUS_COUNT_;
	assert_int_equal(wire_reply_decode(b, sizeof(b), &s), WIRE_E_STATUS);
	b[4] = 0xff;
	assert_int_equal(wire_reply_decode(b, sizeof(b), &s), WIRE_E_STATUS);
	for (size_t i = 5; i < 8; i++) {
		memcpy(b, denied, sizeof(b));
		b[i] = 1;
		assert_int_equal(wire_reply_decode(b, sizeof(b), &s), WIRE_E_RESERVED);
	}
}

static void test_forward(void **st)
{
	(void)st;
	uint8_t out[WIRE_FORWARD_SIZE];
	uint16_t port;
	const uint8_t fwd8080[] = { 'S', 'N', 'F', 1, 0x90, 0x1f, 0, 0 };
	assert_int_equal(wire_forward_encode(8080, out), WIRE_OK);
	assert_memory_equal(out, fwd8080, sizeof(fwd8080));
	assert_int_equal(wire_forward_decode(fwd8080, sizeof(fwd8080), &port), WIRE_OK);
	assert_int_equal(port, 8080);
	assert_int_equal(wire_forward_encode(0, out), WIRE_E_PORT);
	assert_int_equal(wire_forward_encode(65535, out), WIRE_OK);
	assert_int_equal(wire_forward_decode(out, sizeof(out), &port), WIRE_OK);
	assert_int_equal(port, 65535);

	uint8_t b[WIRE_FORWARD_SIZE];
	for (size_t n = 0; n < sizeof(b); n++)
		assert_int_equal(wire_forward_decode(fwd8080, n, &port), WIRE_E_SHORT);
	memcpy(b, fwd8080, sizeof(b));
	b[2] = 'C'; /* a CONNECT magic on the forward port */
	assert_int_equal(wire_forward_decode(b, sizeof(b), &port), WIRE_E_MAGIC);
	memcpy(b, fwd8080, sizeof(b));
	b[3] = 0;
	assert_int_equal(wire_forward_decode(b, sizeof(b), &port), WIRE_E_VERSION);
	memcpy(b, fwd8080, sizeof(b));
	b[4] = b[5] = 0;
	assert_int_equal(wire_forward_decode(b, sizeof(b), &port), WIRE_E_PORT);
	for (size_t i = 6; i < 8; i++) {
		memcpy(b, fwd8080, sizeof(b));
		b[i] = 1;
		assert_int_equal(wire_forward_decode(b, sizeof(b), &port), WIRE_E_RESERVED);
	}
}

static void test_strerror(void **st)
{
	(void)st;
	for (int e = 0; e < WIRE_E_COUNT_; e++)
		assert_non_null(wire_strerror((enum wire_err)e));
	assert_string_equal(wire_strerror(WIRE_E_RESERVED), "reserved bytes not zero");
	assert_string_equal(wire_strerror((enum wire_err)77), "unknown wire error");
	assert_string_equal(wire_status_str((enum wire_status)77), "unknown status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_layout), cmocka_unit_test(test_connect_rejects),
		cmocka_unit_test(test_reply),	       cmocka_unit_test(test_forward),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
