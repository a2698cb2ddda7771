/*
 * What the VMM core provides to a virtio-mmio transport. Keeps the transport
 * and the devices free of any knowledge of struct vm (and testable without KVM).
 */
#ifndef SILO_VMM_VIRTIO_HOST_H
#define SILO_VMM_VIRTIO_HOST_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct evloop;

struct virtio_host {
	struct guest_mem *mem;
	struct evloop *ev;
	/*
	 * Bind (assign) or unbind eventfd fd to guest writes of datamatch to the
	 * len-byte MMIO register at addr (KVM_IOEVENTFD with DATAMATCH).
	 * NULL in unit tests: the transport then handles QueueNotify writes itself.
	 */
	int (*ioeventfd)(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
			 bool assign);
	void *opaque;
	/*
	 * eventfd wired to the device's GSI with KVM_IRQFD: write 1 to raise the
	 * (edge) interrupt from any thread. In unit tests, a plain eventfd.
	 */
	int irqfd;
};

#endif
