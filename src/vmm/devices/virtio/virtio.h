/*
 * virtio devices behind a virtio-mmio (version 2) transport: the API the VMM
 * core wires up. Device internals are in vdev.h.
 *
 * Lifetime: create the vdev, then the transport (which takes ownership of the
 * vdev on success only), bus_register() the window, and put
 * "virtio_mmio.device=4K@<base>:<gsi>" on the kernel command line.
 * Destroy after the event loop and the vCPUs have stopped.
 */
#ifndef SILO_VMM_VIRTIO_H
#define SILO_VMM_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/bus.h"
#include "vmm/devices/virtio/host.h"

struct vdev;
struct virtio_mmio;

#define VIRTIO_MMIO_SIZE 0x1000 /* one 4 KiB window per device, like Firecracker */

/* Returns NULL with errno set on error; the vdev then still belongs to the caller. */
struct virtio_mmio *virtio_mmio_create(const struct virtio_host *h, uint64_t base, struct vdev *vd);

/* Fills base/len/read/write/opaque/name for bus_register(). Accessors run on vCPU threads. */
void virtio_mmio_bus_dev(struct virtio_mmio *t, struct bus_dev *out);

/* Unregisters ioeventfds, closes fds, destroys the vdev. Event loop must be stopped. */
void virtio_mmio_destroy(struct virtio_mmio *t);

struct snap_writer;
struct snap_reader;
/* Snapshots (docs/snapshots.md): with the device lock held (lock/unlock),
 * no queue is served, so guest memory and the device agree. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
uint32_t virtio_mmio_device_id(const struct virtio_mmio *t);
/* Lock held: the transport, its queues and the device's extras as records of slot. */
int virtio_mmio_save(struct virtio_mmio *t, struct snap_writer *w, uint32_t slot);
/* Before the event loops start, after the irqchips: the saved state of
 * slot; re-raises a pending interrupt and replays the queues. -errno. */
int virtio_mmio_restore(struct virtio_mmio *t, const struct snap_reader *r, uint32_t slot);

/* Print the device's metrics as one JSON object (no newline). */
void virtio_mmio_metrics_json(struct virtio_mmio *t, FILE *f);

/*
 * Devices. Return 0 or -errno (host-side setup errors only).
 * serial: up to 20 bytes (VIRTIO_BLK_ID_BYTES) or NULL; longer is -EINVAL.
 */
/* --disk: how many a VM may have (the serial letters a..h, vda..vdh). */
#define VM_MAX_DISKS 8
int virtio_blk_create(struct vdev **out, const char *path, bool readonly, const char *serial);
/* Same with an already open fd (ownership passes on success); for tests and fd passing. */
int virtio_blk_create_fd(struct vdev **out, int fd, bool readonly, const char *serial);
int virtio_rng_create(struct vdev **out);
/* Free page reporting only (balloon.c); the guest never gets asked to inflate. */
int virtio_balloon_create(struct vdev **out);

/* Free a vdev that was never handed to a transport. */
void vdev_destroy(struct vdev *vd);

#endif
