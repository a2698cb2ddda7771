/*
 * virtio-balloon (VIRTIO 1.2 §5.5), for one job: free page reporting
 * (§5.5.6.7). The guest hands us ranges of guest RAM that sit free in its
 * buddy allocator; we drop their host pages (MADV_DONTNEED on our private
 * anonymous mapping), so an idle sandbox's host footprint follows what its
 * guest uses, not the peak it once touched. The guest reuses such a page by
 * touching it again, which faults in a zeroed host page: no handshake needed.
 *
 * We never ask for pages (num_pages stays 0), so the inflate and deflate
 * queues stay idle; a guest that inflates anyway gets those pages dropped too.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>

#include "vmm/devices/device.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/log.h"

_Static_assert(sizeof(struct virtio_balloon_config) == 16, "§5.5.4 config layout");

/*
 * Queue indices. §5.5.2 numbers reporting_vq 4, but drivers number only the
 * queues whose feature was negotiated (Linux vm_find_vqs() skips absent ones):
 * without STATS_VQ and FREE_PAGE_HINT, the reporting queue is the third.
 */
enum { BQ_INFLATE, BQ_DEFLATE, BQ_REPORTING, BQ_NUM };

/* Linux refuses a reporting queue shorter than PAGE_REPORTING_CAPACITY (32). */
#define BALLOON_QUEUE_SIZE 64
#define BALLOON_PAGE	   4096u /* §5.5.6: PFNs are in 4096-byte units, whatever the guest's page size */

struct balloon {
	struct virtio_balloon_config cfg;
	struct vq_elem e;
};

static uint64_t balloon_features(struct vdev *vd)
{
	(void)vd;
	return 1ull << VIRTIO_BALLOON_F_REPORTING;
}

static void balloon_config_read(struct vdev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct balloon *b = vd->priv;

	vdev_config_copy(&b->cfg, sizeof(b->cfg), off, buf, len);
}

/* §5.5.6.3: the driver writes `actual`; everything else is ours. */
static void balloon_config_write(struct vdev *vd, uint32_t off, const void *buf, uint32_t len)
{
	struct balloon *b = vd->priv;
	const uint32_t at = offsetof(struct virtio_balloon_config, actual);

	if (off >= at && off + len <= at + sizeof(b->cfg.actual))
		memcpy((uint8_t *)&b->cfg.actual + (off - at), buf, len);
}

/* Give [p, p+len) back to the host. Only whole 4 KiB pages inside guest RAM
 * get here (the queue mapped them); anything else is counted, not fatal. */
static size_t drop(struct vdev *vd, void *p, size_t len)
{
	if (((uintptr_t)p | len) & (BALLOON_PAGE - 1)) {
		VDEV_STAT(vd, err, 1);
		vdev_warn(vd, "unaligned range %p+%#zx ignored", p, len);
		return 0;
	}
	if (madvise(p, len, MADV_DONTNEED)) {
		VDEV_STAT(vd, err, 1);
		vdev_warn(vd, "madvise(DONTNEED) of %#zx bytes: errno %d", len, errno);
		return 0;
	}
	return len;
}

/* §5.5.6.7: each device-writable buffer of a reporting chain is one free range. */
static void report_ranges(struct vdev *vd, const struct vq_elem *e)
{
	for (unsigned int i = e->nr_out; i < e->nr_out + e->nr_in; i++)
		/* Metrics: bytes_out counts guest RAM given back to the host. */
		VDEV_STAT(vd, bytes_out, drop(vd, e->iov[i].iov_base, e->iov[i].iov_len));
}

/* §5.5.6.2: inflate buffers are arrays of 32-bit PFNs. We never ask for
 * inflation; pages a guest gives anyway are dropped like reported ones. */
static void inflate_pfns(struct vdev *vd, const struct vq_elem *e)
{
	for (size_t off = 0; off + 4 <= e->out_len; off += 4) {
		uint32_t pfn;
		void *p;

		iov_to_buf(e->iov, e->nr_out, off, &pfn, sizeof(pfn));
		p = gpa_to_hva(vd->mem, (uint64_t)le32toh(pfn) << VIRTIO_BALLOON_PFN_SHIFT,
			       BALLOON_PAGE);
		if (!p) {
			VDEV_STAT(vd, err, 1);
			vdev_warn(vd, "inflate: pfn %#x outside guest RAM", le32toh(pfn));
			continue;
		}
		VDEV_STAT(vd, bytes_out, drop(vd, p, BALLOON_PAGE));
	}
}

/* Every chain is used with length 0: we write nothing into the guest's
 * buffers. Deflate chains only need returning (we never held pages). */
static void balloon_queue_notify(struct vdev *vd, unsigned int qidx)
{
	struct vq_elem *e = &((struct balloon *)vd->priv)->e;
	unsigned int n = 0;

	while (vdev_pop_budget(vd, qidx, e, n) > 0) {
		if (qidx == BQ_REPORTING)
			report_ranges(vd, e);
		else if (qidx == BQ_INFLATE)
			inflate_pfns(vd, e);
		vq_push(&vd->vq[qidx], e->head, 0);
		VDEV_STAT(vd, reqs, 1);
		n++;
	}
	if (n)
		vdev_signal_used(vd, qidx);
}

static void balloon_reset(struct vdev *vd)
{
	struct balloon *b = vd->priv;

	b->cfg.actual = 0;
}

static void balloon_destroy(struct vdev *vd)
{
	free(vd->priv);
}

static const struct virtio_dev_ops balloon_ops = {
	.device_id = VIRTIO_ID_BALLOON,
	.name = "balloon",
	.num_queues = BQ_NUM,
	.queue_max = BALLOON_QUEUE_SIZE,
	.features = balloon_features,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.activate = NULL,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.save = NULL,
	.restore = NULL,
	.destroy = balloon_destroy,
};

int virtio_balloon_create(struct vdev **out)
{
	struct vdev *vd = calloc(1, sizeof(*vd));
	struct balloon *b = calloc(1, sizeof(*b));
	int ret = -ENOMEM;

	if (!vd || !b)
		goto err;
	ret = vdev_init(vd, &balloon_ops, b);
	if (ret)
		goto err;
	*out = vd;
	return 0;
err:
	free(b);
	free(vd);
	return ret;
}

static int balloon_dev_create(struct vdev **out, const char *arg, unsigned int idx,
			      const struct vmm_dev_env *env, char *what, size_t whatlen)
{
	int ret;

	(void)arg, (void)idx, (void)env;
	snprintf(what, whatlen, "balloon");
	ret = virtio_balloon_create(out);
	if (ret)
		return err_ret(ret, "virtio-balloon: %s", strerror(-ret));
	return 0;
}

const struct vmm_device virtio_balloon_device = {
	.name = "balloon",
	.help = "add a virtio-balloon device: the guest reports free memory,\n"
		"                       which goes back to the host",
	.max = 1,
	.create = balloon_dev_create,
};
