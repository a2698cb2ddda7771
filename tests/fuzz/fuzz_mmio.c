/*
 * libFuzzer target: the virtio-mmio transport driven through its registers,
 * the way a hostile guest drives it, in front of each device.
 *
 * Guest RAM is one heap allocation of exactly RAM_SIZE bytes per input, so
 * AddressSanitizer reports any device access outside guest RAM. Input:
 *   [device] then records, each [op] [args...]:
 *   0 [reg][v:4]       write register (reg indexes regs[], or raw offset)
 *   1 [reg]            read register
 *   2 [size]           driver init as Linux does it (§3.1.1): reset, ACK,
 *                      DRIVER, accept every offered feature, FEATURES_OK,
 *                      set up every queue (size 1 << (size % 9)), DRIVER_OK
 *   3 [q][num:2]       set up queue q: QueueSel, QueueNum, the three ring
 *                      addresses of q's fixed layout, QueueReady=1
 *   4 [q]              stop queue q: QueueSel, QueueReady=0 (Linux vm_del_vq)
 *   5 [q][out][..][in] publish a chain on q: out readable bytes from the
 *                      input (e.g. a blk or vsock header), then in writable
 *                      bytes (in = 0xff: one aligned 4 KiB page)
 *   6 [q]              kick queue q (QueueNotify)
 *   7 [off:2][n][..]   poke n bytes of guest RAM (malformed rings)
 *   8 [off][n][w][..]  config space read (w even) or write of n <= 8 bytes
 *   9                  vsock: serve the host side (what the event loop does)
 * Devices: 0 rng, 1 blk on a memfd, 2 vsock, 3 balloon. Each transport is
 * created once; every input starts and ends with a device reset.
 */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "virtio_fake.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/vsock.h"
#include "vmm/log.h"

#define RAM_GPA	 0x10000ULL
#define RAM_SIZE 0x10000ULL
/* Queue q: descriptors at q * 0x3000, avail ring +0x1000, used ring +0x2000
 * (room for 256 entries each); buffers from BUFS, one 4 KiB slot per queue. */
#define QAREA(q) (RAM_GPA + 0x3000ULL * (q))
#define BUFS	 (RAM_GPA + 0xc000ULL)
#define NDEV	 4

static const uint16_t regs[] = {
	VIRTIO_MMIO_DEVICE_FEATURES_SEL,
	VIRTIO_MMIO_DRIVER_FEATURES,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL,
	VIRTIO_MMIO_QUEUE_SEL,
	VIRTIO_MMIO_QUEUE_NUM,
	VIRTIO_MMIO_QUEUE_READY,
	VIRTIO_MMIO_QUEUE_NOTIFY,
	VIRTIO_MMIO_INTERRUPT_ACK,
	VIRTIO_MMIO_STATUS,
	VIRTIO_MMIO_QUEUE_DESC_LOW,
	VIRTIO_MMIO_QUEUE_DESC_HIGH,
	VIRTIO_MMIO_QUEUE_AVAIL_LOW,
	VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
	VIRTIO_MMIO_QUEUE_USED_LOW,
	VIRTIO_MMIO_QUEUE_USED_HIGH,
	VIRTIO_MMIO_DEVICE_FEATURES,
	VIRTIO_MMIO_QUEUE_NUM_MAX,
	VIRTIO_MMIO_INTERRUPT_STATUS,
};

struct dev {
	struct virtio_mmio *t;
	struct vdev *vd;
	struct bus_dev bd;
	unsigned int nq;
	uint16_t qsize[VIRTIO_MAX_QUEUES]; /* what the harness last set up */
	uint16_t posted[VIRTIO_MAX_QUEUES];
};

static struct guest_mem gm;
static struct dev devs[NDEV];
static char vsock_path[64];
static uint8_t *ram;

static void remove_socket(void)
{
	unlink(vsock_path);
}

static struct vdev *make_vdev(unsigned int i)
{
	struct vdev *vd = NULL;
	int fd;

	switch (i) {
	case 0:
		if (virtio_rng_create(&vd) < 0)
			abort();
		break;
	case 1:
		fd = memfd_create("fuzz-mmio-blk", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, 64 * 512) < 0 ||
		    virtio_blk_create_fd(&vd, fd, false, "fuzz") < 0)
			abort();
		break;
	case 2:
		snprintf(vsock_path, sizeof(vsock_path), "/tmp/silo-fuzz-mmio-%d.sock", getpid());
		unlink(vsock_path);
		if (virtio_vsock_create(&vd, 3, vsock_path, NULL) < 0)
			abort();
		atexit(remove_socket);
		break;
	default:
		if (virtio_balloon_create(&vd) < 0)
			abort();
		break;
	}
	return vd;
}

static struct dev *get_dev(unsigned int i)
{
	struct dev *d = &devs[i];
	/* No event loop and no ioeventfd: QueueNotify writes run the device
	 * synchronously, so a kick is processed inside the input. */
	struct virtio_host h = { .mem = &gm, .irqfd = -1 };

	if (d->t)
		return d;
	log_set_level(LOG_ERR);
	gm.nr = 1;
	d->vd = make_vdev(i);
	d->t = virtio_mmio_create(&h, 0xd0000000, d->vd);
	if (!d->t)
		abort();
	d->nq = d->vd->ops->num_queues;
	virtio_mmio_bus_dev(d->t, &d->bd);
	return d;
}

static uint32_t rd(struct dev *d, uint64_t off)
{
	return fake_mmio_rd(&d->bd, off);
}

static void wr(struct dev *d, uint64_t off, uint32_t v)
{
	fake_mmio_wr(&d->bd, off, v);
}

static void setup_queue(struct dev *d, unsigned int q, uint32_t num)
{
	wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(d, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)QAREA(q));
	wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(QAREA(q) + 0x1000));
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(QAREA(q) + 0x2000));
	wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	/* post() lays chains out in q's fixed area, which holds VQ_MAX_SIZE
	 * entries: a larger number (the device refuses it anyway) must not
	 * make the harness itself write past guest RAM. */
	if (q < VIRTIO_MAX_QUEUES)
		d->qsize[q] = num <= VQ_MAX_SIZE ? (uint16_t)num : 0;
}

static void driver_init(struct dev *d, uint8_t size)
{
	uint32_t num = 1u << (size % 9);

	wr(d, VIRTIO_MMIO_STATUS, 0);
	wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		wr(d, VIRTIO_MMIO_DRIVER_FEATURES, rd(d, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	wr(d, VIRTIO_MMIO_STATUS, 0xb);
	for (unsigned int q = 0; q < d->nq; q++) {
		uint32_t max;

		wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
		max = rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
		setup_queue(d, q, num < max ? num : max);
	}
	wr(d, VIRTIO_MMIO_STATUS, 0xf);
}

/* Publish a chain of at most one readable and one writable descriptor. */
static void post(struct dev *d, unsigned int q, const uint8_t *out, uint8_t out_len, uint8_t in_len)
{
	uint16_t size = d->qsize[q] ? d->qsize[q] : 1, k = d->posted[q]++;
	uint64_t slot = BUFS + 0x1000ULL * q, table = QAREA(q);
	struct vring_avail *a = (void *)(ram + (table + 0x1000 - RAM_GPA));
	uint16_t head = (uint16_t)((2u * k) % size), i = head, idx;
	struct vring_desc desc;

	if (out_len) {
		memcpy(ram + (slot - RAM_GPA), out, out_len);
		desc = (struct vring_desc){ htole64(slot), htole32(out_len),
					    htole16(in_len ? VRING_DESC_F_NEXT : 0),
					    htole16((uint16_t)((i + 1) % size)) };
		memcpy(ram + (table - RAM_GPA) + 16u * i, &desc, sizeof(desc));
		i = (uint16_t)((i + 1) % size);
	}
	if (in_len) {
		/* 0xff: the whole (page-aligned) slot, what free page reporting sends. */
		uint64_t at = in_len == 0xff ? slot : slot + 0x100;
		uint32_t len = in_len == 0xff ? 0x1000 : in_len;

		desc = (struct vring_desc){ htole64(at), htole32(len), htole16(VRING_DESC_F_WRITE),
					    0 };
		memcpy(ram + (table - RAM_GPA) + 16u * i, &desc, sizeof(desc));
	}
	idx = le16toh(a->idx);
	a->ring[idx % size] = htole16(head);
	a->idx = htole16((uint16_t)(idx + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dev *d;
	size_t p = 1;

	if (size < 1)
		return 0;
	d = get_dev(data[0] % NDEV);
	ram = aligned_alloc(4096, RAM_SIZE); /* exact size: ASan guards both ends */
	if (!ram)
		abort();
	memset(ram, 0, RAM_SIZE);
	gm.r[0] = (struct guest_region){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = ram };
	wr(d, VIRTIO_MMIO_STATUS, 0);
	memset(d->qsize, 0, sizeof(d->qsize));
	memset(d->posted, 0, sizeof(d->posted));

#define NEED(n)                     \
	do {                        \
		if (p + (n) > size) \
			goto out;   \
	} while (0)
	while (p < size) {
		uint8_t op = data[p++] % 10;
		uint32_t v;
		unsigned int q;

		switch (op) {
		case 0:
			NEED(5);
			memcpy(&v, data + p + 1, 4);
			wr(d,
			   data[p] < sizeof(regs) / sizeof(regs[0]) ? regs[data[p]] : 4u * data[p],
			   le32toh(v));
			p += 5;
			break;
		case 1:
			NEED(1);
			(void)rd(d, data[p] < sizeof(regs) / sizeof(regs[0]) ? regs[data[p]]
									     : 4u * data[p]);
			p++;
			break;
		case 2:
			NEED(1);
			driver_init(d, data[p++]);
			break;
		case 3:
			NEED(3);
			setup_queue(d, data[p] % (d->nq + 1),
				    (uint32_t)data[p + 1] | data[p + 2] << 8);
			p += 3;
			break;
		case 4:
			NEED(1);
			wr(d, VIRTIO_MMIO_QUEUE_SEL, data[p++] % d->nq);
			wr(d, VIRTIO_MMIO_QUEUE_READY, 0);
			break;
		case 5: {
			uint8_t out_len, in_len;

			NEED(2);
			q = data[p] % d->nq;
			out_len = data[p + 1];
			p += 2;
			NEED((size_t)out_len + 1);
			in_len = data[p + out_len];
			post(d, q, data + p, out_len, in_len);
			p += (size_t)out_len + 1;
			break;
		}
		case 6:
			NEED(1);
			wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, data[p++] % (d->nq + 1));
			break;
		case 7: {
			uint16_t off;
			uint8_t n;

			NEED(3);
			off = (uint16_t)(data[p] | data[p + 1] << 8);
			n = data[p + 2];
			p += 3;
			NEED(n);
			if (off + n <= RAM_SIZE)
				memcpy(ram + off, data + p, n);
			p += n;
			break;
		}
		case 8: {
			uint8_t buf[8] = { 0 }, off, n;

			NEED(3);
			off = data[p];
			n = data[p + 1] % 9;
			if (data[p + 2] & 1) {
				p += 3;
				NEED(n);
				memcpy(buf, data + p, n);
				d->bd.write(d->bd.opaque, VIRTIO_MMIO_CONFIG + off, buf, n);
				p += n;
			} else {
				d->bd.read(d->bd.opaque, VIRTIO_MMIO_CONFIG + off, buf, n);
				p += 3;
			}
			break;
		}
		default:
			if (data[0] % NDEV == 2)
				virtio_vsock_poll(d->vd);
			break;
		}
	}
out:
	/* Reset drops every pointer into this input's RAM before it is freed. */
	wr(d, VIRTIO_MMIO_STATUS, 0);
	free(ram);
	ram = NULL;
	return 0;
}
