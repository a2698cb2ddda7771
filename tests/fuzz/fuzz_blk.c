/*
 * libFuzzer target: virtio-blk request handling over a fuzzer-built chain.
 * Backend: a 16-sector memfd. Input: a list of segments
 *   [flags:1][len:1] (+ len payload bytes for readable segments)
 * each becoming one descriptor in a chain, the first segment usually a
 * blk header. Flags bit0 = WRITE, bit1 = put the chain in an indirect table,
 * bit2 = raw: copy the rest of the input over the guest RAM image instead.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>

#include "vmm/devices/virtio/vdev.h"
#include "vmm/log.h"

#define RAM_GPA	 0x10000ULL
#define RAM_SIZE 0x10000ULL
#define DESC	 (RAM_GPA)
#define AVAIL	 (RAM_GPA + 0x1000)
#define USED	 (RAM_GPA + 0x2000)
#define ITABLE	 (RAM_GPA + 0x3000)
#define BUFS	 (RAM_GPA + 0x4000)

static uint8_t *ram;
static struct guest_mem mem;
static struct vdev *vd;

static void raise_stub(void *tp, uint32_t bits)
{
	(void)tp;
	(void)bits;
}

static void init(void)
{
	int fd = memfd_create("fuzz-blk", MFD_CLOEXEC);

	log_set_level(LOG_ERR);
	if (fd < 0 || ftruncate(fd, 16 * 512) < 0)
		abort();
	if (virtio_blk_create_fd(&vd, fd, false, "fuzz") < 0)
		abort();
	ram = aligned_alloc(4096, RAM_SIZE);
	mem.nr = 1;
	mem.r[0] = (struct guest_region){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = ram };
	vd->mem = &mem;
	vd->raise = raise_stub;
}

static void desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(ram + (table - RAM_GPA) + 16 * i, &d, sizeof(d));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t buf = BUFS, table = DESC;
	unsigned int n = 0;
	bool indirect = false;
	size_t pos = 0;

	if (!vd)
		init();
	memset(ram, 0, RAM_SIZE);
	vq_reset(&vd->vq[0]);
	vd->needs_reset = false;
	vd->vq[0] = (struct vq){ .cfg = { .num = 16,
					  .ready = true,
					  .desc_gpa = DESC,
					  .avail_gpa = AVAIL,
					  .used_gpa = USED } };
	if (vq_setup(&vd->vq[0], &mem, 1ULL << VIRTIO_RING_F_INDIRECT_DESC, NULL))
		abort();

	if (size && (data[0] & 4)) {
		memcpy(ram, data + 1, size - 1 < RAM_SIZE ? size - 1 : RAM_SIZE);
	} else {
		if (size && (data[0] & 2)) {
			indirect = true;
			table = ITABLE;
		}
		while (pos + 2 <= size && n < 40) {
			uint8_t fl = data[pos], len = data[pos + 1];
			uint16_t flags = (fl & 1) ? VRING_DESC_F_WRITE : 0;

			pos += 2;
			if (!(fl & 1)) { /* readable: payload follows in the input */
				size_t l = size - pos < len ? size - pos : len;
				memcpy(ram + (buf - RAM_GPA), data + pos, l);
				pos += l;
			}
			if (n)
				((struct vring_desc *)(ram + (table - RAM_GPA)))[n - 1].flags |=
					VRING_DESC_F_NEXT;
			desc(table, n, buf, len ? len : 1, flags, (uint16_t)(n + 1));
			buf += 256;
			n++;
		}
		if (!n)
			return 0;
		if (indirect)
			desc(DESC, 0, ITABLE, 16 * n, VRING_DESC_F_INDIRECT, 0);
		struct vring_avail *a = (void *)(ram + (AVAIL - RAM_GPA));
		a->ring[0] = 0;
		a->idx = 1;
	}
	vd->ops->queue_notify(vd, 0);
	return 0;
}
