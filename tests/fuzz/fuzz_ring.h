/*
 * Shared by the device fuzz targets (fuzz_rng, fuzz_balloon): guest RAM as
 * one heap allocation with canary pages on both sides, every queue of a
 * device set up at a fixed layout, and descriptor chains built from the
 * input. ASan sees device reads and writes outside guest RAM; the canaries
 * catch what ASan cannot see, such as madvise() of host memory.
 *
 * Input: [features] then records [q][nseg] + nseg x [fl][len:2][addr:2]
 *   features bit0 INDIRECT_DESC, bit1 EVENT_IDX, bit2 raw: the rest of the
 *   input is copied over guest RAM (malformed rings), then every queue runs.
 *   q: queue (mod num_queues); bit7: kick it right after this chain.
 *   fl bit0 device-writable, bit1 chain goes into an indirect table,
 *   bit2 buffer at guest offset addr (may be unaligned or past the end),
 *   bit3 buffer at guest page addr (page-aligned, may be outside RAM);
 *   otherwise buffers are carved from the buffer area in order.
 */
#ifndef SILO_FUZZ_RING_H
#define SILO_FUZZ_RING_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>

#include "vmm/devices/virtio/vdev.h"
#include "vmm/log.h"

#define FR_PAGE	    4096ULL
#define FR_GPA	    0x10000ULL
#define FR_SIZE	    0x20000ULL
#define FR_QSIZE    64
#define FR_QAREA(q) (FR_GPA + 0x1000ULL * (q)) /* desc 1 KiB, avail, used: one page */
#define FR_ITABLE   (FR_GPA + 0x4000ULL)
#define FR_BUFS	    (FR_GPA + 0x8000ULL)
#define FR_CANARY   0xc3

static uint8_t *fr_buf, *fr_ram; /* fr_ram = fr_buf + one canary page */
static struct guest_mem fr_mem;

static void fr_raise_stub(void *tp, uint32_t bits)
{
	(void)tp;
	(void)bits;
}

static void fr_attach(struct vdev *vd)
{
	log_set_level(LOG_ERR);
	fr_buf = aligned_alloc(FR_PAGE, FR_SIZE + 2 * FR_PAGE);
	if (!fr_buf)
		abort();
	fr_ram = fr_buf + FR_PAGE;
	fr_mem.nr = 1;
	fr_mem.r[0] = (struct guest_region){ .gpa = FR_GPA, .size = FR_SIZE, .hva = fr_ram };
	vd->mem = &fr_mem;
	vd->raise = fr_raise_stub;
}

static void fr_check_canaries(void)
{
	for (uint64_t i = 0; i < FR_PAGE; i++)
		if (fr_buf[i] != FR_CANARY || fr_ram[FR_SIZE + i] != FR_CANARY)
			abort(); /* the device changed host memory next to guest RAM */
}

static void fr_put_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(fr_ram + (table - FR_GPA) + 16 * i, &d, sizeof(d));
}

static void fr_publish(unsigned int q, uint16_t head)
{
	struct vring_avail *a = (void *)(fr_ram + (FR_QAREA(q) + 0x400 - FR_GPA));
	uint16_t idx = le16toh(a->idx);

	a->ring[idx % FR_QSIZE] = htole16(head);
	a->idx = htole16((uint16_t)(idx + 1));
}

static void fr_run(struct vdev *vd, const uint8_t *data, size_t size)
{
	unsigned int nq = vd->ops->num_queues;
	uint16_t next_desc[VIRTIO_MAX_QUEUES] = { 0 };
	uint64_t buf = FR_BUFS, features;
	size_t p = 1;

	if (!size)
		return;
	memset(fr_buf, FR_CANARY, FR_PAGE);
	memset(fr_ram, 0, FR_SIZE);
	memset(fr_ram + FR_SIZE, FR_CANARY, FR_PAGE);
	features = (uint64_t)(data[0] & 3) << VIRTIO_RING_F_INDIRECT_DESC;
	vd->needs_reset = false;
	for (unsigned int q = 0; q < nq; q++) {
		vq_reset(&vd->vq[q]);
		vd->vq[q].cfg = (struct vq_cfg){ .num = FR_QSIZE,
						 .ready = true,
						 .desc_gpa = FR_QAREA(q),
						 .avail_gpa = FR_QAREA(q) + 0x400,
						 .used_gpa = FR_QAREA(q) + 0x800 };
		if (vq_setup(&vd->vq[q], &fr_mem, features, NULL))
			abort();
	}
	if (vd->ops->reset)
		vd->ops->reset(vd);
	if (data[0] & 4) {
		memcpy(fr_ram, data + 1, size - 1 < FR_SIZE ? size - 1 : FR_SIZE);
		p = size;
	}
	while (p + 2 <= size) {
		unsigned int q = data[p] % nq, nseg = data[p + 1] % 16;
		bool kick = data[p] & 0x80, indirect = false;
		uint64_t table = FR_QAREA(q);
		uint16_t head = next_desc[q], n = 0;

		p += 2;
		for (; nseg && p + 5 <= size; nseg--, p += 5) {
			uint8_t fl = data[p];
			uint32_t len = (uint32_t)data[p + 1] | (uint32_t)data[p + 2] << 8;
			uint64_t arg = (uint64_t)data[p + 3] | (uint64_t)data[p + 4] << 8, addr;

			if (!n && (fl & 2) && !(data[0] & 4)) {
				indirect = true;
				table = FR_ITABLE;
			}
			if (fl & 8) {
				addr = arg * FR_PAGE;
			} else if (fl & 4) {
				addr = FR_GPA + arg;
			} else {
				if (buf + len > FR_GPA + FR_SIZE)
					buf = FR_BUFS;
				addr = buf;
				buf += len;
			}
			/* Chain through consecutive entries of the (direct or indirect) table. */
			uint16_t i = indirect ? n : (uint16_t)((head + n) % FR_QSIZE);
			uint16_t nx = indirect ? (uint16_t)(n + 1)
					       : (uint16_t)((head + n + 1) % FR_QSIZE);

			if (n)
				fr_ram[(table - FR_GPA) +
				       16 * (indirect ? n - 1 : (head + n - 1) % FR_QSIZE) + 12] |=
					VRING_DESC_F_NEXT;
			fr_put_desc(table, i, addr, len, (fl & 1) ? VRING_DESC_F_WRITE : 0, nx);
			if (++n == (indirect ? 64 : FR_QSIZE))
				break;
		}
		if (!n)
			continue;
		if (indirect) {
			fr_put_desc(FR_QAREA(q), head, FR_ITABLE, 16u * n, VRING_DESC_F_INDIRECT,
				    0);
			n = 1;
		}
		next_desc[q] = (uint16_t)((head + n) % FR_QSIZE);
		fr_publish(q, head);
		if (kick)
			vd->ops->queue_notify(vd, q);
	}
	for (unsigned int q = 0; q < nq; q++)
		vd->ops->queue_notify(vd, q);
	fr_check_canaries();
}

#endif
