/* Generic virtio device helpers shared by every device model. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_mmio.h>

#include "vmm/devices/virtio/vdev.h"
#include "vmm/log.h"

/* A hostile guest can trigger warnings at will: log the first few per device. */
#define VDEV_WARN_BUDGET 8

int vdev_init(struct vdev *vd, const struct virtio_dev_ops *ops, void *priv)
{
	int ret;

	memset(vd, 0, sizeof(*vd));
	if (ops->num_queues > VIRTIO_MAX_QUEUES || ops->queue_max > VQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)))
		return -EINVAL;
	ret = pthread_mutex_init(&vd->lock, NULL);
	if (ret)
		return -ret;
	vd->ops = ops;
	vd->priv = priv;
	return 0;
}

void vdev_destroy(struct vdev *vd)
{
	if (!vd)
		return;
	if (vd->ops->destroy)
		vd->ops->destroy(vd);
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}

void vdev_warn_(struct vdev *vd, const char *func, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (__atomic_fetch_add(&vd->warned, 1, __ATOMIC_RELAXED) >= VDEV_WARN_BUDGET)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_WARN, func, "virtio-%s: %s", vd->ops->name, msg);
}

static void raise_irq(struct vdev *vd, uint32_t bits)
{
	VDEV_STAT(vd, irq, 1);
	if (vd->raise)
		vd->raise(vd->tp, bits);
}

void vdev_needs_reset(struct vdev *vd, const char *why)
{
	VDEV_STAT(vd, err, 1);
	if (vd->needs_reset)
		return;
	vdev_warn(vd, "device needs reset: %s", why);
	/* §2.1.2: set DEVICE_NEEDS_RESET and, if DRIVER_OK, send a config change
	 * notification; we stop touching the rings until the driver resets us. */
	vd->needs_reset = true;
	raise_irq(vd, VIRTIO_MMIO_INT_CONFIG);
}

void vdev_config_changed(struct vdev *vd)
{
	/* §4.2.2: ConfigGeneration changes whenever config space may have changed. */
	__atomic_fetch_add(&vd->config_gen, 1, __ATOMIC_RELAXED);
	raise_irq(vd, VIRTIO_MMIO_INT_CONFIG);
}

int vdev_pop(struct vdev *vd, unsigned int qidx, struct vq_elem *e)
{
	const char *why = "malformed ring";
	int ret;

	if (vd->needs_reset || qidx >= vd->ops->num_queues)
		return 0;
	ret = vq_pop(&vd->vq[qidx], e, &why);
	if (ret < 0) {
		vdev_needs_reset(vd, why);
		return ret;
	}
	return ret;
}

int vdev_pop_budget(struct vdev *vd, unsigned int qidx, struct vq_elem *e, unsigned int served)
{
	if (served >= VDEV_BUDGET) {
		vdev_requeue(vd, qidx);
		return 0;
	}
	return vdev_pop(vd, qidx, e);
}

void vdev_requeue(struct vdev *vd, unsigned int qidx)
{
	VDEV_STAT(vd, yields, 1);
	if (vd->requeue)
		vd->requeue(vd->tp, qidx);
}

void vdev_signal_used(struct vdev *vd, unsigned int qidx)
{
	if (qidx < vd->ops->num_queues && vq_should_notify(&vd->vq[qidx]))
		raise_irq(vd, VIRTIO_MMIO_INT_VRING);
}

void vdev_config_copy(const void *cfg, size_t size, uint32_t off, void *buf, uint32_t len)
{
	memset(buf, 0, len);
	if (off < size)
		memcpy(buf, (const uint8_t *)cfg + off, size - off < len ? size - off : len);
}

void vdev_metrics_json(struct vdev *vd, FILE *f)
{
#define M(x) (unsigned long long)__atomic_load_n(&vd->m.x, __ATOMIC_RELAXED)
	fprintf(f,
		"{\"device\":\"%s\",\"notify\":%llu,\"irq\":%llu,\"err\":%llu,"
		"\"reqs\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,\"yields\":%llu,"
		"\"needs_reset\":%s",
		vd->ops->name, M(notify), M(irq), M(err), M(reqs), M(bytes_in), M(bytes_out),
		M(yields), __atomic_load_n(&vd->needs_reset, __ATOMIC_RELAXED) ? "true" : "false");
#undef M
	if (vd->ops->metrics) {
		fputs(",\"dev\":", f);
		vd->ops->metrics(vd, f);
	}
	fputc('}', f);
}

unsigned int iov_slice(const struct iovec *src, unsigned int cnt, size_t skip, size_t len,
		       struct iovec *dst)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		dst[n++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, l };
		len -= l;
		skip = 0;
	}
	return n;
}

/* The one walk behind iov_to_buf/buf_to_iov: to_iov picks the copy direction. */
static size_t iov_copy(const struct iovec *iov, unsigned int cnt, size_t skip, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		p = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(p, buf + done, l);
		else
			memcpy(buf + done, p, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, cnt, skip, buf, len, false);
}

size_t buf_to_iov(const struct iovec *iov, unsigned int cnt, size_t skip, const void *buf,
		  size_t len)
{
	/* Only read through buf when to_iov is true. */
	return iov_copy(iov, cnt, skip, (uint8_t *)(uintptr_t)buf, len, true);
}
