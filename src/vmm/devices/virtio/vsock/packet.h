/*
 * virtio-vsock packet header (VIRTIO 1.2 §5.10.6): decode/encode between the
 * little-endian wire struct from <linux/virtio_vsock.h> and host-order fields,
 * and the checks every guest packet must pass before the muxer sees it.
 * Pure functions: no I/O, no guest memory (callers copy the header out first).
 */
#ifndef SILO_VMM_VSOCK_PACKET_H
#define SILO_VMM_VSOCK_PACKET_H

#include <stdint.h>
#include <linux/virtio_vsock.h>

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "VIRTIO 1.2 §5.10.6: 44-byte packed header");

#define VSOCK_HDR_SIZE	    ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define VSOCK_HOST_CID	    2ULL	 /* §5.10.4: well-known host CID */
#define VSOCK_MIN_GUEST_CID 3ULL	 /* 0..2 are reserved (§5.10.4) */
#define VSOCK_MAX_PKT_LEN   (64U * 1024) /* Firecracker MAX_PKT_BUF_SIZE; Linux's too */

/* Host-order copy of struct virtio_vsock_hdr. */
struct vsock_pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(const struct virtio_vsock_hdr *h, struct vsock_pkt *p);
void vsock_hdr_encode(const struct vsock_pkt *p, struct virtio_vsock_hdr *h);

/* What to do with a guest packet that fails a check. */
enum vsock_pkt_verdict {
	VSOCK_PKT_OK = 0,
	VSOCK_PKT_BAD_SRC_CID, /* spoofed source: drop, never answer */
	VSOCK_PKT_BAD_DST_CID, /* not for the host: answer RST */
	VSOCK_PKT_BAD_TYPE,    /* only STREAM is supported: RST */
	VSOCK_PKT_BAD_OP,      /* unknown op: RST */
	VSOCK_PKT_BAD_LEN,     /* len > 64 KiB, > chain, or payload on a control op: RST */
};

/*
 * vsock_pkt_check - validate a guest (TX) packet.
 * avail = payload bytes the chain actually carries after the header.
 */
enum vsock_pkt_verdict vsock_pkt_check(const struct vsock_pkt *p, uint64_t guest_cid,
				       uint32_t avail);
const char *vsock_pkt_verdict_str(enum vsock_pkt_verdict v);
const char *vsock_op_str(uint16_t op);

#endif
