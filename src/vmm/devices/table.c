/*
 * The optional devices, in build order (see devices/device.h). Disks come
 * first, in command-line order, so they become vda, vdb, ...; adding a
 * device is its file plus one name in each of the two lists below.
 */
#include "vmm/devices/device.h"

extern const struct vmm_device virtio_blk_device, virtio_rng_device, virtio_balloon_device,
	virtio_vsock_device;

const struct vmm_device *const vmm_devices[] = {
	&virtio_blk_device, &virtio_rng_device, &virtio_balloon_device, &virtio_vsock_device, NULL,
};
