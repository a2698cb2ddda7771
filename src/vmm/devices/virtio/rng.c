/*
 * virtio-rng / entropy device (VIRTIO 1.2 §5.4): one request queue whose
 * device-writable buffers we fill from getrandom().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <linux/virtio_ids.h>

#include "vmm/devices/device.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/log.h"

#define RNG_QUEUE_SIZE	64
/* §5.4.6.1 lets us fill less than offered; bound the work one chain can ask for. */
#define RNG_MAX_PER_REQ (64 * 1024)

static uint64_t rng_features(struct vdev *vd)
{
	(void)vd;
	return 0; /* §5.4.3: no device-specific feature bits */
}

/* Fill up to max bytes of the writable part; returns bytes written. */
static uint32_t rng_fill(struct vdev *vd, const struct vq_elem *e, uint32_t max)
{
	uint32_t done = 0;

	for (unsigned int i = e->nr_out; i < e->nr_out + e->nr_in && done < max; i++) {
		uint8_t *p = e->iov[i].iov_base;
		size_t want = e->iov[i].iov_len, got = 0;

		if (want > max - done)
			want = max - done;
		while (got < want) {
			ssize_t r = getrandom(p + got, want - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				VDEV_STAT(vd, err, 1);
				vdev_warn(vd, "getrandom failed: errno %d", errno);
				return done + (uint32_t)got;
			}
			got += (size_t)r;
		}
		done += (uint32_t)got;
	}
	return done;
}

static void rng_queue_notify(struct vdev *vd, unsigned int qidx)
{
	struct vq_elem *e = vd->priv;
	unsigned int n = 0;

	while (vdev_pop_budget(vd, qidx, e, n) > 0) {
		/* §5.4.6.1: readable descriptors carry nothing for us; ignore them. */
		uint32_t len = rng_fill(vd, e, RNG_MAX_PER_REQ);

		vq_push(&vd->vq[qidx], e->head, len);
		VDEV_STAT(vd, bytes_in, len);
		VDEV_STAT(vd, reqs, 1);
		n++;
	}
	if (n)
		vdev_signal_used(vd, qidx);
}

static void rng_destroy(struct vdev *vd)
{
	free(vd->priv);
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.name = "rng",
	.num_queues = 1,
	.queue_max = RNG_QUEUE_SIZE,
	.features = rng_features,
	.config_read = NULL, /* no config space */
	.config_write = NULL,
	.activate = NULL,
	.queue_notify = rng_queue_notify,
	.reset = NULL,
	.save = NULL,
	.restore = NULL,
	.destroy = rng_destroy,
};

int virtio_rng_create(struct vdev **out)
{
	struct vdev *vd = calloc(1, sizeof(*vd));
	struct vq_elem *e = calloc(1, sizeof(*e));
	int ret = -ENOMEM;

	if (!vd || !e)
		goto err;
	ret = vdev_init(vd, &rng_ops, e);
	if (ret)
		goto err;
	*out = vd;
	return 0;
err:
	free(e);
	free(vd);
	return ret;
}

static int rng_dev_create(struct vdev **out, const char *arg, unsigned int idx,
			  const struct vmm_dev_env *env, char *what, size_t whatlen)
{
	int ret;

	(void)arg, (void)idx, (void)env;
	snprintf(what, whatlen, "rng");
	ret = virtio_rng_create(out);
	if (ret)
		return err_ret(ret, "virtio-rng: %s", strerror(-ret));
	return 0;
}

const struct vmm_device virtio_rng_device = {
	.name = "rng",
	.help = "add a virtio-rng device",
	.max = 1,
	.create = rng_dev_create,
};
