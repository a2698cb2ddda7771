/* wire.h: the fixed headers on silo's network vsock ports.
 *
 *   guest -> host, port 1080 (egress): CONNECT header, then the broker's
 *       reply header, then bytes both ways.
 *   guest -> host, port 1053 (DNS): DNS messages with the DNS-over-TCP
 *       2-byte length prefix (dns.h), no header of its own.
 *   host -> guest, port 1025 (published ports): FORWARD header, then the
 *       guest forwarder's reply header, then bytes both ways.
 *
 * Every header starts with three magic bytes naming it ("SNC", "SNR",
 * "SNF": a hexdump reads them) and a version byte; integers are
 * little-endian like the agent protocol (docs/agent-protocol.md);
 * addresses are byte strings in network order, as in struct in_addr.
 * Reserved bytes must be zero: a later version that needs them bumps the
 * version byte, and an old peer rejects it instead of misreading it.
 * Decoders read exactly the header's size from the front of the buffer
 * (what follows is the stream's payload) and reject short input, unknown
 * magic/version/family/protocol/status, port 0, and non-zero padding or
 * reserved bytes, so every accepted header re-encodes to the same bytes.
 * Shared by the broker (host) and silo-init's forwarder (guest, musl).
 */
#ifndef SILO_NET_WIRE_H
#define SILO_NET_WIRE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/contract.h"

/* The port numbers are part of the boot contract (proto/contract.h). */
#define WIRE_PORT_FORWARD SILO_NET_PORT_FORWARD /* host -> guest: published ports */
#define WIRE_PORT_DNS	  SILO_NET_PORT_DNS	/* guest -> host: DNS over TCP framing */
#define WIRE_PORT_CONNECT SILO_NET_PORT_CONNECT /* guest -> host: outbound TCP */

#define WIRE_VERSION 1u

/* The family byte carries Linux's AF_INET/AF_INET6 values: both ends are
 * Linux; this stops a port to a system with other values at build time. */
_Static_assert(AF_INET == 2 && AF_INET6 == 10, "wire family values are Linux's");

/* guest -> host on WIRE_PORT_CONNECT: "connect me to this destination". */
struct wire_connect_hdr {
	uint8_t magic[3];    /* 'S' 'N' 'C' */
	uint8_t version;     /* WIRE_VERSION */
	uint8_t family;	     /* AF_INET or AF_INET6 */
	uint8_t proto;	     /* IPPROTO_TCP; the only one carried */
	uint16_t port;	     /* destination port, little-endian, not 0 */
	uint8_t addr[16];    /* network order; IPv4 in addr[0..3], rest 0 */
	uint8_t reserved[8]; /* 0 */
};
_Static_assert(sizeof(struct wire_connect_hdr) == 32, "CONNECT header is 32 bytes");
_Static_assert(offsetof(struct wire_connect_hdr, addr) == 8, "address at offset 8");
#define WIRE_CONNECT_SIZE sizeof(struct wire_connect_hdr)

/* The answer to a CONNECT or a FORWARD, on the same stream. Anything but
 * CONNECTED is followed by the end of the stream; the guest forwarder then
 * resets its client's connection (SO_LINGER 0), since the client's own
 * handshake with the local redirect has already completed. */
struct wire_reply_hdr {
	uint8_t magic[3]; /* 'S' 'N' 'R' */
	uint8_t version;
	uint8_t status;	     /* enum wire_status */
	uint8_t reserved[3]; /* 0 */
};
_Static_assert(sizeof(struct wire_reply_hdr) == 8, "reply header is 8 bytes");
#define WIRE_REPLY_SIZE sizeof(struct wire_reply_hdr)

enum wire_status {
	WIRE_CONNECTED = 0, /* splice from now on */
	WIRE_DENIED,	    /* the policy refused the destination */
	WIRE_UNREACHABLE,   /* no address, no route, or the name did not resolve */
	WIRE_REFUSED,	    /* the destination reset the connection */
	WIRE_TIMEOUT,	    /* the destination did not answer */
	WIRE_BAD_REQUEST,   /* the header was rejected */
	WIRE_INTERNAL,	    /* the broker could not serve (resources) */
	WIRE_STATUS_COUNT_
};

/* host -> guest on WIRE_PORT_FORWARD: "connect me to this guest port"
 * (on the guest's loopback). */
struct wire_forward_hdr {
	uint8_t magic[3]; /* 'S' 'N' 'F' */
	uint8_t version;
	uint16_t port;	     /* guest TCP port, little-endian, not 0 */
	uint8_t reserved[2]; /* 0 */
};
_Static_assert(sizeof(struct wire_forward_hdr) == 8, "FORWARD header is 8 bytes");
#define WIRE_FORWARD_SIZE sizeof(struct wire_forward_hdr)

/* Why a header was rejected (wire_strerror: one line for the log). */
enum wire_err {
	WIRE_OK = 0,
	WIRE_E_SHORT,
	WIRE_E_MAGIC,
	WIRE_E_VERSION,
	WIRE_E_FAMILY,
	WIRE_E_PROTO,
	WIRE_E_PORT,
	WIRE_E_ADDR, /* IPv4 address with non-zero padding */
	WIRE_E_RESERVED,
	WIRE_E_STATUS,
	WIRE_E_COUNT_
};
const char *wire_strerror(enum wire_err e);
const char *wire_status_str(enum wire_status s);

/* A decoded CONNECT: host-order port, address in network order. */
struct wire_connect {
	int family; /* AF_INET or AF_INET6 */
	uint16_t port;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* Encoders validate like the decoders (an invalid header is never sent)
 * and write exactly the header's size. */
enum wire_err wire_connect_encode(const struct wire_connect *c, uint8_t out[WIRE_CONNECT_SIZE]);
enum wire_err wire_connect_decode(const uint8_t *buf, size_t len, struct wire_connect *c);

enum wire_err wire_reply_encode(enum wire_status s, uint8_t out[WIRE_REPLY_SIZE]);
enum wire_err wire_reply_decode(const uint8_t *buf, size_t len, enum wire_status *s);

enum wire_err wire_forward_encode(uint16_t guest_port, uint8_t out[WIRE_FORWARD_SIZE]);
enum wire_err wire_forward_decode(const uint8_t *buf, size_t len, uint16_t *guest_port);

#endif
