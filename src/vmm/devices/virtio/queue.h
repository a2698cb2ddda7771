/*
 * Split virtqueue (VIRTIO 1.2 §2.7): the device side of the rings.
 *
 * Everything here reads guest-controlled memory. Every guest address goes
 * through gpa_to_hva(); every index is bounded; a malformed ring makes vq_pop()
 * return -EINVAL with a reason, and the caller puts the device in NEEDS_RESET.
 * Not thread safe: the owning device serialises calls with its lock.
 */
#ifndef SILO_VMM_VIRTIO_QUEUE_H
#define SILO_VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#include "vmm/mem.h"

/* Largest queue any device offers (QueueNumMax); also the iovec bound of one chain. */
#define VQ_MAX_SIZE 256

/* Wire layouts, VIRTIO 1.2 §2.7.5 / §2.7.6 / §2.7.8. */
_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc is 16 bytes");
_Static_assert(sizeof(struct vring_avail) == 4, "avail header is flags+idx");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used elem is id+len");
_Static_assert(sizeof(struct vring_used) == 4, "used header is flags+idx");

/*
 * What the driver writes through the transport: QueueNum, QueueReady and the
 * three ring addresses (§4.2.2). Only the transport writes these, and only
 * before DRIVER_OK (mmio.c); the device side never reads them after
 * vq_setup() took its checked copy, so a later write cannot resize a live ring.
 */
struct vq_cfg {
	uint16_t num; /* QueueNum chosen by the driver */
	bool ready;   /* QueueReady */
	uint64_t desc_gpa, avail_gpa, used_gpa;
};

struct vq {
	struct vq_cfg cfg; /* driver-written; read by vq_setup() only */

	/* Device state, set by vq_setup() from a validated copy of cfg. */
	bool live;
	bool indirect;	/* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	uint16_t size;	/* validated queue size: every ring index is taken modulo it */
	const struct guest_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;	 /* next avail ring entry to consume (free running) */
	uint16_t used_idx;	 /* our copy of used->idx (free running) */
	uint16_t signalled_used; /* used_idx when we last decided about an interrupt */
	bool signalled_valid;
};

/*
 * One popped descriptor chain. iov[0..nr_out) are device-readable (driver to
 * device), iov[nr_out..nr_out+nr_in) device-writable; the spec orders them so
 * (§2.7.4.2). Lengths are bounded to 32 bits because used.len is 32 bits.
 */
struct vq_elem {
	uint16_t head;
	unsigned int nr_out, nr_in;
	uint32_t out_len, in_len;
	struct iovec iov[VQ_MAX_SIZE];
};

/*
 * vq_setup - validate the size and ring addresses the driver wrote (q->cfg)
 * and map them into the device state. Call at DRIVER_OK. Returns 0, or
 * -EINVAL with *why set (guest error).
 */
int vq_setup(struct vq *q, const struct guest_mem *mem, uint64_t features, const char **why);

/* vq_reset - forget everything (device reset, §2.4). */
void vq_reset(struct vq *q);

/*
 * vq_pop - take the next available chain.
 * Returns 1 with *e filled, 0 when the ring is empty, or -EINVAL with *why
 * set when the ring is malformed (the chain is consumed either way).
 */
int vq_pop(struct vq *q, struct vq_elem *e, const char **why);

/* vq_push - publish a used element; len = bytes the device wrote (§2.7.8). */
void vq_push(struct vq *q, uint16_t head, uint32_t len);

/*
 * vq_should_notify - after one or more vq_push(), does the driver want an
 * interrupt? Honours VRING_AVAIL_F_NO_INTERRUPT or, with EVENT_IDX, used_event
 * (§2.7.7, §2.7.10).
 */
bool vq_should_notify(struct vq *q);

/*
 * vq_watch_avail - the driver's avail idx now (0 for a queue not live),
 * and with EVENT_IDX a request to be kicked when it makes its next chain
 * available (avail_event, §2.7.10; without EVENT_IDX it kicks anyway).
 * vq_avail_idx - the driver's avail idx, to compare with a watched one.
 */
uint16_t vq_watch_avail(struct vq *q);
uint16_t vq_avail_idx(struct vq *q);

#endif
