/*
 * Fake guest for virtio unit tests and fuzz targets: one guest_mem region over
 * a host buffer, with a split ring laid out at fixed guest addresses.
 */
#ifndef SILO_TESTS_VIRTIO_FAKE_H
#define SILO_TESTS_VIRTIO_FAKE_H

#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bus.h"
#include "vmm/devices/virtio/queue.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/mem.h"

#define FAKE_GPA   0x10000ULL	       /* guest RAM starts here: GPA 0 is unmapped */
#define FAKE_SIZE  0x10000ULL	       /* 64 KiB */
#define FAKE_DESC  (FAKE_GPA + 0x0000) /* room for 256 descriptors */
#define FAKE_AVAIL (FAKE_GPA + 0x1000)
#define FAKE_USED  (FAKE_GPA + 0x2000)
#define FAKE_DATA  (FAKE_GPA + 0x4000) /* buffers from here on */
#define FAKE_END   (FAKE_GPA + FAKE_SIZE)

struct fake {
	struct guest_mem mem;
	uint8_t *ram;
	struct vq *q;
};

static inline void *fake_hva(struct fake *f, uint64_t gpa)
{
	return f->ram + (gpa - FAKE_GPA);
}

static inline void fake_mem_init(struct fake *f, uint8_t *ram)
{
	memset(f, 0, sizeof(*f));
	f->ram = ram;
	f->mem.nr = 1;
	f->mem.r[0] = (struct guest_region){ .gpa = FAKE_GPA, .size = FAKE_SIZE, .hva = ram };
}

/* Lay out q at the fixed addresses and run vq_setup(); returns its result. */
static inline int fake_queue(struct fake *f, struct vq *q, uint16_t num, uint64_t features)
{
	const char *why;

	f->q = q;
	vq_reset(q);
	q->cfg = (struct vq_cfg){ .num = num,
				  .ready = true,
				  .desc_gpa = FAKE_DESC,
				  .avail_gpa = FAKE_AVAIL,
				  .used_gpa = FAKE_USED };
	return vq_setup(q, &f->mem, features, &why);
}

static inline void fake_desc(struct fake *f, uint64_t table_gpa, uint16_t i, uint64_t addr,
			     uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(fake_hva(f, table_gpa + 16ULL * i), &d, sizeof(d));
}

static inline struct vring_avail *fake_avail(struct fake *f)
{
	return fake_hva(f, FAKE_AVAIL);
}

static inline struct vring_used *fake_used(struct fake *f)
{
	return fake_hva(f, FAKE_USED);
}

/* Publish head in the avail ring. */
static inline void fake_avail_add(struct fake *f, uint16_t head)
{
	struct vring_avail *a = fake_avail(f);
	uint16_t idx = le16toh(a->idx);

	a->ring[idx % f->q->size] = htole16(head);
	a->idx = htole16((uint16_t)(idx + 1));
}

/* 32-bit register access to a virtio-mmio window, as a driver does it. */
static inline uint32_t fake_mmio_rd(const struct bus_dev *bd, uint64_t off)
{
	uint32_t v;

	bd->read(bd->opaque, off, (uint8_t *)&v, 4);
	return le32toh(v);
}

static inline void fake_mmio_wr(const struct bus_dev *bd, uint64_t off, uint32_t v)
{
	v = htole32(v);
	bd->write(bd->opaque, off, (uint8_t *)&v, 4);
}

/* The device's metrics JSON (caller frees). */
static inline char *fake_metrics(struct vdev *vd)
{
	char *js = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&js, &len);

	vdev_metrics_json(vd, f);
	fclose(f);
	return js;
}

#endif
