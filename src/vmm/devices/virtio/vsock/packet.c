/* virtio-vsock header codec and guest-packet validation (VIRTIO 1.2 §5.10.6). */
#include <endian.h>
#include <stddef.h>

#include "vmm/devices/virtio/vsock/packet.h"

/* Header offsets of VIRTIO 1.2 §5.10.6 (struct virtio_vsock_hdr); the UAPI struct must agree. */
_Static_assert(offsetof(struct virtio_vsock_hdr, len) == 0x18, "hdr.len offset");
_Static_assert(offsetof(struct virtio_vsock_hdr, op) == 0x1e, "hdr.op offset");
_Static_assert(offsetof(struct virtio_vsock_hdr, fwd_cnt) == 0x28, "hdr.fwd_cnt offset");

void vsock_hdr_decode(const struct virtio_vsock_hdr *h, struct vsock_pkt *p)
{
	p->src_cid = le64toh(h->src_cid);
	p->dst_cid = le64toh(h->dst_cid);
	p->src_port = le32toh(h->src_port);
	p->dst_port = le32toh(h->dst_port);
	p->len = le32toh(h->len);
	p->type = le16toh(h->type);
	p->op = le16toh(h->op);
	p->flags = le32toh(h->flags);
	p->buf_alloc = le32toh(h->buf_alloc);
	p->fwd_cnt = le32toh(h->fwd_cnt);
}

void vsock_hdr_encode(const struct vsock_pkt *p, struct virtio_vsock_hdr *h)
{
	h->src_cid = htole64(p->src_cid);
	h->dst_cid = htole64(p->dst_cid);
	h->src_port = htole32(p->src_port);
	h->dst_port = htole32(p->dst_port);
	h->len = htole32(p->len);
	h->type = htole16(p->type);
	h->op = htole16(p->op);
	h->flags = htole32(p->flags);
	h->buf_alloc = htole32(p->buf_alloc);
	h->fwd_cnt = htole32(p->fwd_cnt);
}

enum vsock_pkt_verdict vsock_pkt_check(const struct vsock_pkt *p, uint64_t guest_cid,
				       uint32_t avail)
{
	/* §5.10.6.1: the device must not trust the driver's src_cid; a packet
	 * claiming another source is dropped without reply (Firecracker too). */
	if (p->src_cid != guest_cid)
		return VSOCK_PKT_BAD_SRC_CID;
	/* Hybrid vsock only reaches the host: anything else has no route. */
	if (p->dst_cid != VSOCK_HOST_CID)
		return VSOCK_PKT_BAD_DST_CID;
	if (p->type != VIRTIO_VSOCK_TYPE_STREAM)
		return VSOCK_PKT_BAD_TYPE;
	if (p->op < VIRTIO_VSOCK_OP_REQUEST || p->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return VSOCK_PKT_BAD_OP;
	if (p->len > VSOCK_MAX_PKT_LEN || p->len > avail)
		return VSOCK_PKT_BAD_LEN;
	/* Only RW carries payload (§5.10.6.3). */
	if (p->op != VIRTIO_VSOCK_OP_RW && p->len != 0)
		return VSOCK_PKT_BAD_LEN;
	return VSOCK_PKT_OK;
}

const char *vsock_pkt_verdict_str(enum vsock_pkt_verdict v)
{
	switch (v) {
	case VSOCK_PKT_OK:
		return "ok";
	case VSOCK_PKT_BAD_SRC_CID:
		return "src_cid is not the guest's CID";
	case VSOCK_PKT_BAD_DST_CID:
		return "dst_cid is not the host";
	case VSOCK_PKT_BAD_TYPE:
		return "socket type is not STREAM";
	case VSOCK_PKT_BAD_OP:
		return "unknown op";
	case VSOCK_PKT_BAD_LEN:
		return "bad payload length";
	}
	return "?";
}

const char *vsock_op_str(uint16_t op)
{
	static const char *const names[] = { "INVALID",	      "REQUEST",       "RESPONSE",
					     "RST",	      "SHUTDOWN",      "RW",
					     "CREDIT_UPDATE", "CREDIT_REQUEST" };

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}
