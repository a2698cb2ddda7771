/*
 * The device side of the virtio split: an ops table per device type, generic
 * per-device state, and helpers shared by all devices. The transport (mmio.c)
 * drives a device only through these.
 */
#ifndef SILO_VMM_VIRTIO_VDEV_H
#define SILO_VMM_VIRTIO_VDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/devices/virtio/queue.h"
#include "vmm/devices/virtio/virtio.h"

#define VIRTIO_MAX_QUEUES 4

/*
 * Chains a device serves per wakeup before it yields: a guest that keeps a
 * queue full (its vCPU refills the ring while we drain it) would otherwise
 * hold the event thread, or a disk's I/O thread, for as long as it likes.
 * After VDEV_BUDGET chains the device asks the transport to run the queue
 * again (vdev_requeue), which re-signals the queue's eventfd: the loop serves
 * every other ready fd before it comes back.
 */
#define VDEV_BUDGET 32

struct snap_writer;
struct snap_reader;

struct virtio_dev_ops {
	uint32_t device_id;		     /* VIRTIO_ID_* (§5) */
	const char *name;		     /* log prefix */
	unsigned int num_queues;	     /* <= VIRTIO_MAX_QUEUES */
	uint16_t queue_max;		     /* QueueNumMax, power of two <= VQ_MAX_SIZE */
	uint64_t (*features)(struct vdev *); /* device bits; transport adds its own */
	void (*config_read)(struct vdev *, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(struct vdev *, uint32_t off, const void *buf, uint32_t len);
	int (*activate)(struct vdev *); /* on DRIVER_OK; -errno => NEEDS_RESET */
	void (*queue_notify)(struct vdev *, unsigned int qidx); /* lock held */
	void (*reset)(struct vdev *); /* lock held; queues already dropped */
	/* Device extras beyond the transport and queues, as records of the
	 * device's virtio slot; NULL: nothing more (snapshot/state.h). */
	int (*save)(struct vdev *, struct snap_writer *, uint32_t slot);
	int (*restore)(struct vdev *, const struct snap_reader *, uint32_t slot);
	void (*destroy)(struct vdev *);		/* free priv (not the vdev) */
	void (*metrics)(struct vdev *, FILE *); /* own counters, one JSON object; NULL: none */
};

/* Per-device counters (Firecracker metrics.rs style); updated with relaxed atomics. */
struct virtio_metrics {
	uint64_t notify;    /* queue notifications handled */
	uint64_t irq;	    /* interrupts raised */
	uint64_t err;	    /* guest errors (malformed rings/requests) + backend errors */
	uint64_t reqs;	    /* chains completed */
	uint64_t bytes_in;  /* bytes the device wrote into guest buffers */
	uint64_t bytes_out; /* bytes the device consumed from guest buffers */
	uint64_t yields;    /* wakeups that stopped at VDEV_BUDGET with chains left */
};

struct vdev {
	const struct virtio_dev_ops *ops;
	void *priv;
	/* Serialises register access (vCPU threads) with queue processing (event thread). */
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	uint64_t features;   /* negotiated at FEATURES_OK */
	bool needs_reset;    /* DEVICE_NEEDS_RESET (§2.1.2): stop touching the rings */
	uint32_t config_gen; /* ConfigGeneration (§4.2.2) */
	unsigned int warned; /* rate limit for guest-caused warnings */
	struct vq vq[VIRTIO_MAX_QUEUES];
	struct virtio_metrics m;
	/* Set by the transport: raise an interrupt with these InterruptStatus bits. */
	void (*raise)(void *tp, uint32_t isr_bits);
	/* Set by the transport: run queue qidx again from the event loop, later. */
	void (*requeue)(void *tp, unsigned int qidx);
	void *tp;
};

#define VDEV_STAT(vd, field, n) __atomic_fetch_add(&(vd)->m.field, (n), __ATOMIC_RELAXED)

int vdev_init(struct vdev *vd, const struct virtio_dev_ops *ops, void *priv);

/* Rate-limited warning for things the guest caused (first few per device). */
#define vdev_warn(vd, ...) vdev_warn_(vd, __func__, __VA_ARGS__)
void vdev_warn_(struct vdev *vd, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Guest broke the protocol: set NEEDS_RESET, raise a config interrupt, count it. */
void vdev_needs_reset(struct vdev *vd, const char *why);

/* Config space changed: bump ConfigGeneration and raise a config interrupt. */
void vdev_config_changed(struct vdev *vd);

/* vq_pop() wrapper: malformed ring => vdev_needs_reset() and -EINVAL. */
int vdev_pop(struct vdev *vd, unsigned int qidx, struct vq_elem *e);

/*
 * vdev_pop() for a device's serving loop, served = chains already served in
 * this wakeup: once that reaches VDEV_BUDGET, pops nothing (returns 0) and
 * calls vdev_requeue() instead, so the rest is served on a later wakeup.
 */
int vdev_pop_budget(struct vdev *vd, unsigned int qidx, struct vq_elem *e, unsigned int served);

/* Ask the transport to run queue qidx again after other events (counted). */
void vdev_requeue(struct vdev *vd, unsigned int qidx);

/* After pushes: raise a used-buffer interrupt unless the driver suppressed it. */
void vdev_signal_used(struct vdev *vd, unsigned int qidx);

void vdev_metrics_json(struct vdev *vd, FILE *f);

/* config_read helper: bytes [off, off+len) of a device's config struct of
 * size bytes into buf; what lies beyond the struct reads as zeros. */
void vdev_config_copy(const void *cfg, size_t size, uint32_t off, void *buf, uint32_t len);

/* Scatter/gather copies bounded by the iovecs; return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t skip, void *buf, size_t len);
/* Bytes [skip, skip+len) of src (cnt entries) as a new iovec array in dst; returns its count. */
unsigned int iov_slice(const struct iovec *src, unsigned int cnt, size_t skip, size_t len,
		       struct iovec *dst);
size_t buf_to_iov(const struct iovec *iov, unsigned int cnt, size_t skip, const void *buf,
		  size_t len);

#endif
