/* wire.c: encode/decode the network vsock headers (see wire.h). Strict:
 * one valid encoding per header, so decode-then-encode gives the input. */
#include "net/wire.h"

#include <endian.h>
#include <stdbool.h>
#include <string.h>

static const uint8_t magic_connect[3] = { 'S', 'N', 'C' };
static const uint8_t magic_reply[3] = { 'S', 'N', 'R' };
static const uint8_t magic_forward[3] = { 'S', 'N', 'F' };

static const char *const reasons[WIRE_E_COUNT_] = {
	[WIRE_OK] = "ok",
	[WIRE_E_SHORT] = "header cut short",
	[WIRE_E_MAGIC] = "bad magic: not a silo network header",
	[WIRE_E_VERSION] = "unsupported header version",
	[WIRE_E_FAMILY] = "address family is neither IPv4 nor IPv6",
	[WIRE_E_PROTO] = "protocol is not TCP",
	[WIRE_E_PORT] = "port 0",
	[WIRE_E_ADDR] = "IPv4 address with non-zero padding",
	[WIRE_E_RESERVED] = "reserved bytes not zero",
	[WIRE_E_STATUS] = "unknown reply status",
};

static const char *const statuses[WIRE_STATUS_COUNT_] = {
	[WIRE_CONNECTED] = "connected",
	[WIRE_DENIED] = "denied by policy",
	[WIRE_UNREACHABLE] = "destination unreachable",
	[WIRE_REFUSED] = "connection refused by destination",
	[WIRE_TIMEOUT] = "destination timed out",
	[WIRE_BAD_REQUEST] = "bad request header",
	[WIRE_INTERNAL] = "broker error",
};

const char *wire_strerror(enum wire_err e)
{
	return (unsigned)e < WIRE_E_COUNT_ ? reasons[e] : "unknown wire error";
}

const char *wire_status_str(enum wire_status s)
{
	return (unsigned)s < WIRE_STATUS_COUNT_ ? statuses[s] : "unknown status";
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The checks every header shares: length, magic, version. */
static enum wire_err check_head(const uint8_t *buf, size_t len, size_t want, const uint8_t magic[3])
{
	if (len < want)
		return WIRE_E_SHORT;
	if (memcmp(buf, magic, 3) != 0)
		return WIRE_E_MAGIC;
	if (buf[3] != WIRE_VERSION)
		return WIRE_E_VERSION;
	return WIRE_OK;
}

enum wire_err wire_connect_encode(const struct wire_connect *c, uint8_t out[WIRE_CONNECT_SIZE])
{
	struct wire_connect_hdr h = { .version = WIRE_VERSION, .proto = IPPROTO_TCP };

	memcpy(h.magic, magic_connect, sizeof(h.magic));
	if (c->family == AF_INET)
		memcpy(h.addr, &c->addr.v4, sizeof(c->addr.v4));
	else if (c->family == AF_INET6)
		memcpy(h.addr, &c->addr.v6, sizeof(c->addr.v6));
	else
		return WIRE_E_FAMILY;
	if (c->port == 0)
		return WIRE_E_PORT;
	h.family = (uint8_t)c->family;
	h.port = htole16(c->port);
	memcpy(out, &h, sizeof(h));
	return WIRE_OK;
}

enum wire_err wire_connect_decode(const uint8_t *buf, size_t len, struct wire_connect *c)
{
	struct wire_connect_hdr h;
	enum wire_err e = check_head(buf, len, sizeof(h), magic_connect);

	memset(c, 0, sizeof(*c));
	if (e != WIRE_OK)
		return e;
	memcpy(&h, buf, sizeof(h));
	if (h.family != AF_INET && h.family != AF_INET6)
		return WIRE_E_FAMILY;
	if (h.proto != IPPROTO_TCP)
		return WIRE_E_PROTO;
	if (h.port == 0)
		return WIRE_E_PORT;
	if (h.family == AF_INET &&
	    !all_zero(h.addr + sizeof(c->addr.v4), sizeof(h.addr) - sizeof(c->addr.v4)))
		return WIRE_E_ADDR;
	if (!all_zero(h.reserved, sizeof(h.reserved)))
		return WIRE_E_RESERVED;
	c->family = h.family;
	c->port = le16toh(h.port);
	if (h.family == AF_INET)
		memcpy(&c->addr.v4, h.addr, sizeof(c->addr.v4));
	else
		memcpy(&c->addr.v6, h.addr, sizeof(c->addr.v6));
	return WIRE_OK;
}

enum wire_err wire_reply_encode(enum wire_status s, uint8_t out[WIRE_REPLY_SIZE])
{
	struct wire_reply_hdr h = { .version = WIRE_VERSION };

	if ((unsigned)s >= WIRE_STATUS_COUNT_)
		return WIRE_E_STATUS;
	memcpy(h.magic, magic_reply, sizeof(h.magic));
	h.status = (uint8_t)s;
	memcpy(out, &h, sizeof(h));
	return WIRE_OK;
}

enum wire_err wire_reply_decode(const uint8_t *buf, size_t len, enum wire_status *s)
{
	struct wire_reply_hdr h;
	enum wire_err e = check_head(buf, len, sizeof(h), magic_reply);

	if (e != WIRE_OK)
		return e;
	memcpy(&h, buf, sizeof(h));
	if (h.status >= WIRE_STATUS_COUNT_)
		return WIRE_E_STATUS;
	if (!all_zero(h.reserved, sizeof(h.reserved)))
		return WIRE_E_RESERVED;
	*s = (enum wire_status)h.status;
	return WIRE_OK;
}

enum wire_err wire_forward_encode(uint16_t guest_port, uint8_t out[WIRE_FORWARD_SIZE])
{
	struct wire_forward_hdr h = { .version = WIRE_VERSION };

	if (guest_port == 0)
		return WIRE_E_PORT;
	memcpy(h.magic, magic_forward, sizeof(h.magic));
	h.port = htole16(guest_port);
	memcpy(out, &h, sizeof(h));
	return WIRE_OK;
}

enum wire_err wire_forward_decode(const uint8_t *buf, size_t len, uint16_t *guest_port)
{
	struct wire_forward_hdr h;
	enum wire_err e = check_head(buf, len, sizeof(h), magic_forward);

	if (e != WIRE_OK)
		return e;
	memcpy(&h, buf, sizeof(h));
	if (h.port == 0)
		return WIRE_E_PORT;
	if (!all_zero(h.reserved, sizeof(h.reserved)))
		return WIRE_E_RESERVED;
	*guest_port = le16toh(h.port);
	return WIRE_OK;
}
