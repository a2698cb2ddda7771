/*
 * virtio-mmio transport, version 2 (VIRTIO 1.2 §4.2.2).
 *
 * Knows registers, status/feature negotiation and notifications; knows nothing
 * about what a device does (that is the ops table in vdev.h).
 *
 * Threads: register reads/writes come from vCPU threads, queue kicks arrive on
 * the event thread through one eventfd per queue (KVM ioeventfd on the
 * QueueNotify register). Both take vd->lock, except InterruptStatus /
 * InterruptACK, which are atomics so the guest's interrupt handler never waits
 * for disk I/O in progress on the event thread.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "vmm/devices/virtio/vdev.h"
#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/snapshot/state.h"

#define MMIO_MAGIC   0x74726976 /* "virt", §4.2.2 */
#define MMIO_VERSION 2		/* non-legacy, §4.2.2 */
#define MMIO_VENDOR  0x4f4c4953 /* "SILO" */

/* What the transport itself offers on top of the device bits (§6). */
#define TRANSPORT_FEATURES                                                      \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

struct kick {
	struct virtio_mmio *t;
	unsigned int qidx;
	int fd;	       /* eventfd, -1 when the transport traps QueueNotify itself */
	bool assigned; /* bound to the QueueNotify register via host->ioeventfd */
};

struct virtio_mmio {
	struct virtio_host h;
	uint64_t base;
	struct vdev *vd;
	uint32_t status; /* driver-visible bits, without NEEDS_RESET */
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint64_t drv_features;
	uint32_t isr;		/* InterruptStatus; atomic */
	bool late_queue_warned; /* logged a queue write after DRIVER_OK */
	struct kick kick[VIRTIO_MAX_QUEUES];
};

static uint64_t offered(struct virtio_mmio *t)
{
	uint64_t f = t->vd->ops->features ? t->vd->ops->features(t->vd) : 0;

	return f | TRANSPORT_FEATURES;
}

/* Called by the device (lock held) to interrupt the guest. */
static void mmio_raise(void *tp, uint32_t bits)
{
	struct virtio_mmio *t = tp;
	uint64_t one = 1;

	/* §4.2.3.4: InterruptStatus must show the reason before the IRQ fires,
	 * since the driver's handler reads it first. */
	__atomic_fetch_or(&t->isr, bits, __ATOMIC_SEQ_CST);
	if (t->h.irqfd >= 0 && write(t->h.irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("virtio-%s: irqfd write: errno %d", t->vd->ops->name, errno);
}

/*
 * Called by the device (lock held) when it stopped at VDEV_BUDGET: kick the
 * queue's eventfd so the loop comes back to it after the other ready fds.
 * Without an event loop (unit tests) the rest waits for the next kick.
 */
static void mmio_requeue(void *tp, unsigned int qidx)
{
	struct virtio_mmio *t = tp;
	uint64_t one = 1;

	if (qidx < VIRTIO_MAX_QUEUES && t->kick[qidx].fd >= 0 &&
	    write(t->kick[qidx].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("virtio-%s: requeue eventfd: errno %d", t->vd->ops->name, errno);
}

/* Lock held. Run the device on queue qidx if it is allowed to touch it. */
static void process(struct virtio_mmio *t, unsigned int qidx)
{
	struct vdev *vd = t->vd;

	if (!(t->status & S_DOK) || vd->needs_reset || qidx >= vd->ops->num_queues ||
	    !vd->vq[qidx].live)
		return;
	VDEV_STAT(vd, notify, 1);
	vd->ops->queue_notify(vd, qidx);
}

/* Event thread: the guest kicked a queue through the ioeventfd. */
static void kick_cb(void *opaque, uint32_t events)
{
	struct kick *k = opaque;
	uint64_t v;

	(void)events;
	if (read(k->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&k->t->vd->lock);
	process(k->t, k->qidx);
	pthread_mutex_unlock(&k->t->vd->lock);
}

static void ioeventfd_unbind(struct virtio_mmio *t)
{
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct kick *k = &t->kick[i];

		if (!k->assigned)
			continue;
		t->h.ioeventfd(t->h.opaque, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i, k->fd, false);
		k->assigned = false;
	}
}

/* §4.2.3.1.1 / §2.4: forget negotiation, queues and pending interrupts. */
static void mmio_reset(struct virtio_mmio *t)
{
	struct vdev *vd = t->vd;

	ioeventfd_unbind(t);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vq_reset(&vd->vq[i]);
	if (vd->ops->reset)
		vd->ops->reset(vd);
	vd->features = 0;
	vd->needs_reset = false;
	t->status = 0;
	t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
	t->drv_features = 0;
	__atomic_store_n(&t->isr, 0, __ATOMIC_SEQ_CST);
}

/* FEATURES_OK: §3.1.1 step 5, §6.1: only offered bits, VERSION_1 mandatory. */
static bool features_ok(struct virtio_mmio *t)
{
	uint64_t f = t->drv_features;

	if (f & ~offered(t)) {
		vdev_warn(t->vd, "driver acked unoffered features %#llx",
			  (unsigned long long)(f & ~offered(t)));
		return false;
	}
	if (!(f & (1ULL << VIRTIO_F_VERSION_1))) {
		vdev_warn(t->vd, "driver did not accept VERSION_1 (legacy driver?)");
		return false;
	}
	t->vd->features = f;
	return true;
}

/* DRIVER_OK: map the rings, start the device, route kicks to the event thread. */
static void activate(struct virtio_mmio *t)
{
	struct vdev *vd = t->vd;
	const char *why = NULL;
	int ret;

	for (unsigned int i = 0; i < vd->ops->num_queues; i++) {
		if (vd->vq[i].cfg.ready && vq_setup(&vd->vq[i], vd->mem, vd->features, &why)) {
			vdev_needs_reset(vd, why);
			return;
		}
	}
	if (vd->ops->activate && (ret = vd->ops->activate(vd)) < 0) {
		vdev_warn(vd, "activate failed: errno %d", -ret);
		vdev_needs_reset(vd, "activation failed");
		return;
	}
	for (unsigned int i = 0; i < vd->ops->num_queues; i++) {
		struct kick *k = &t->kick[i];

		if (!vd->vq[i].live || k->fd < 0 || !t->h.ioeventfd)
			continue;
		/* Without the binding the write still traps to us and we forward
		 * it to the eventfd, so failure costs speed, not correctness. */
		ret = t->h.ioeventfd(t->h.opaque, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i, k->fd,
				     true);
		if (ret < 0)
			log_warn("virtio-%s: ioeventfd for queue %u: errno %d", vd->ops->name, i,
				 -ret);
		else
			k->assigned = true;
	}
}

static void write_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = t->status & ~VIRTIO_CONFIG_S_FAILED;

	if (v == 0) {
		mmio_reset(t);
		return;
	}
	/* FAILED (§2.1) just latches; the driver gave up on us. */
	if (v & VIRTIO_CONFIG_S_FAILED) {
		t->status |= VIRTIO_CONFIG_S_FAILED;
		return;
	}
	v &= ~VIRTIO_CONFIG_S_NEEDS_RESET; /* device-owned bit */
	if (v == old)
		return;
	/* §3.1.1: only the forward steps 0 -> ACK -> DRIVER -> FEATURES_OK -> DRIVER_OK. */
	if (old == 0 && v == S_ACK) {
		t->status = v;
	} else if (old == S_ACK && v == (S_ACK | S_DRV)) {
		t->status = v;
	} else if (old == (S_ACK | S_DRV) && v == (S_ACK | S_DRV | S_FOK)) {
		/* §2.2.2: refuse by leaving FEATURES_OK clear; the driver re-reads. */
		if (features_ok(t))
			t->status = v;
	} else if (old == (S_ACK | S_DRV | S_FOK) && v == (S_ACK | S_DRV | S_FOK | S_DOK)) {
		t->status = v;
		activate(t);
	} else {
		vdev_warn(t->vd, "ignoring status transition %#x -> %#x", old, v);
	}
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct vdev *vd = t->vd;
	struct vq *q = t->queue_sel < vd->ops->num_queues ? &vd->vq[t->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return vd->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_feat_sel > 1)
			return 0;
		return (uint32_t)(offered(t) >> (32 * t->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? vd->ops->queue_max : 0; /* 0: no such queue */
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->cfg.ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return __atomic_load_n(&t->isr, __ATOMIC_SEQ_CST);
	case VIRTIO_MMIO_STATUS:
		return t->status | (vd->needs_reset ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return __atomic_load_n(&vd->config_gen, __ATOMIC_RELAXED);
	default:
		return 0; /* write-only, legacy-only or reserved */
	}
}

static void set_half(uint64_t *x, uint32_t v, bool high)
{
	if (high)
		*x = (*x & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*x = (*x & ~0xffffffffULL) | v;
}

/*
 * May the driver change queue q now? Layout and QueueReady are fixed from
 * DRIVER_OK until a device reset (status 0): §3.1.1 sets queues up before
 * DRIVER_OK, and re-configuring one later needs VIRTIO_F_RING_RESET (§2.6.1),
 * which we do not offer. vq_setup() validated the layout at DRIVER_OK, and
 * the device keeps that copy; refusing here keeps what the driver reads back
 * honest. Layout additionally waits for QueueReady=0 (§4.2.2.2).
 */
static bool queue_writable(struct virtio_mmio *t, const struct vq *q, bool layout)
{
	if (!q)
		return false;
	if (t->status & S_DOK) {
		VDEV_STAT(t->vd, err, 1);
		if (!t->late_queue_warned) {
			t->late_queue_warned = true;
			vdev_warn(t->vd, "queue %u: write after DRIVER_OK ignored (reset first)",
				  t->queue_sel);
		}
		return false;
	}
	return !layout || !q->cfg.ready;
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct vdev *vd = t->vd;
	struct vq *q = t->queue_sel < vd->ops->num_queues ? &vd->vq[t->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_feat_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Acks count only between DRIVER and FEATURES_OK (§3.1.1 step 4). */
		if ((t->status & (S_DRV | S_FOK)) == S_DRV && t->drv_feat_sel <= 1)
			set_half(&t->drv_features, v, t->drv_feat_sel == 1);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_feat_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (queue_writable(t, q, true))
			q->cfg.num = (uint16_t)(v > 0xffff ? 0 : v); /* checked at DRIVER_OK */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		/* §4.2.2.2: "to stop using the queue the driver MUST write zero"
		 * (Linux's vm_del_vq does, and reads it back): a live queue may
		 * be stopped for good; only a reset makes it usable again. */
		if (q && !(v & 1) && (t->status & S_DOK)) {
			q->cfg.ready = false;
			q->live = false;
		} else if (queue_writable(t, q, false)) {
			q->cfg.ready = v & 1;
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Only reached when no ioeventfd is bound for this queue. */
		if (v < vd->ops->num_queues && t->kick[v].fd >= 0) {
			uint64_t one = 1;

			if (write(t->kick[v].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				log_warn("virtio-%s: kick eventfd: errno %d", vd->ops->name, errno);
		} else if (v < vd->ops->num_queues) {
			process(t, v);
		}
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		__atomic_fetch_and(&t->isr, ~v, __ATOMIC_SEQ_CST);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (queue_writable(t, q, true))
			set_half(&q->cfg.desc_gpa, v, off == VIRTIO_MMIO_QUEUE_DESC_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (queue_writable(t, q, true))
			set_half(&q->cfg.avail_gpa, v, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (queue_writable(t, q, true))
			set_half(&q->cfg.used_gpa, v, off == VIRTIO_MMIO_QUEUE_USED_HIGH);
		break;
	default:
		break; /* read-only, legacy-only (0x028/0x03c/0x040) or reserved */
	}
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct vdev *vd = t->vd;
	uint32_t v;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		/* §4.2.2: config space accepts any access width. */
		if (off + len <= VIRTIO_MMIO_SIZE && vd->ops->config_read) {
			pthread_mutex_lock(&vd->lock);
			vd->ops->config_read(vd, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
			pthread_mutex_unlock(&vd->lock);
		}
		return;
	}
	/* §4.2.2.2: registers are 32-bit aligned words; ignore anything else. */
	if (len != 4 || (off & 3))
		return;
	if (off == VIRTIO_MMIO_INTERRUPT_STATUS) {
		v = __atomic_load_n(&t->isr, __ATOMIC_SEQ_CST);
	} else {
		pthread_mutex_lock(&vd->lock);
		v = reg_read(t, off);
		pthread_mutex_unlock(&vd->lock);
	}
	v = htole32(v);
	memcpy(data, &v, 4);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct vdev *vd = t->vd;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		if (off + len <= VIRTIO_MMIO_SIZE && vd->ops->config_write) {
			pthread_mutex_lock(&vd->lock);
			vd->ops->config_write(vd, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
			pthread_mutex_unlock(&vd->lock);
		}
		return;
	}
	if (len != 4 || (off & 3))
		return;
	memcpy(&v, data, 4);
	v = le32toh(v);
	if (off == VIRTIO_MMIO_INTERRUPT_ACK) {
		__atomic_fetch_and(&t->isr, ~v, __ATOMIC_SEQ_CST);
		return;
	}
	pthread_mutex_lock(&vd->lock);
	reg_write(t, off, v);
	pthread_mutex_unlock(&vd->lock);
}

struct virtio_mmio *virtio_mmio_create(const struct virtio_host *h, uint64_t base, struct vdev *vd)
{
	struct virtio_mmio *t;
	int ret;

	if (!h || !h->mem || !vd) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->h = *h;
	t->base = base;
	t->vd = vd;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		t->kick[i] = (struct kick){ .t = t, .qidx = i, .fd = -1 };
	/*
	 * With an event loop, every queue gets its eventfd now, registered with
	 * the loop once; DRIVER_OK only binds it to the register. Keeps fd
	 * creation out of vCPU threads (and their seccomp filter).
	 */
	if (h->ev) {
		for (unsigned int i = 0; i < vd->ops->num_queues; i++) {
			struct kick *k = &t->kick[i];

			k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (k->fd < 0) {
				ret = -errno;
				goto err;
			}
			ret = ev_add(h->ev, k->fd, EPOLLIN, kick_cb, k);
			if (ret < 0) {
				close(k->fd);
				k->fd = -1;
				goto err;
			}
		}
	}
	vd->mem = h->mem;
	vd->raise = mmio_raise;
	vd->requeue = mmio_requeue;
	vd->tp = t;
	return t;
err:
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (t->kick[i].fd >= 0) {
			ev_del(h->ev, t->kick[i].fd);
			close(t->kick[i].fd);
		}
	}
	free(t);
	errno = -ret;
	return NULL;
}

void virtio_mmio_bus_dev(struct virtio_mmio *t, struct bus_dev *out)
{
	*out = (struct bus_dev){
		.name = t->vd->ops->name,
		.base = t->base,
		.len = VIRTIO_MMIO_SIZE,
		.read = mmio_read,
		.write = mmio_write,
		.opaque = t,
	};
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->vd->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->vd->lock);
}

uint32_t virtio_mmio_device_id(const struct virtio_mmio *t)
{
	return t->vd->ops->device_id;
}

int virtio_mmio_save(struct virtio_mmio *t, struct snap_writer *w, uint32_t slot)
{
	struct vdev *vd = t->vd;
	struct snap_mmio s = {
		.device_id = vd->ops->device_id,
		.status = t->status,
		.dev_feat_sel = t->dev_feat_sel,
		.drv_feat_sel = t->drv_feat_sel,
		.queue_sel = t->queue_sel,
		.isr = __atomic_load_n(&t->isr, __ATOMIC_SEQ_CST),
		.config_gen = __atomic_load_n(&vd->config_gen, __ATOMIC_RELAXED),
		.needs_reset = vd->needs_reset,
		.drv_features = t->drv_features,
		.features = vd->features,
	};

	_Static_assert(VIRTIO_MAX_QUEUES == sizeof(s.vq) / sizeof(s.vq[0]), "snap_mmio queues");
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct vq *q = &vd->vq[i];

		s.vq[i] = (struct snap_vq){ .num = q->cfg.num,
					    .ready = q->cfg.ready,
					    .live = q->live,
					    .last_avail = q->last_avail,
					    .used_idx = q->used_idx,
					    .signalled_used = q->signalled_used,
					    .signalled_valid = q->signalled_valid,
					    .desc_gpa = q->cfg.desc_gpa,
					    .avail_gpa = q->cfg.avail_gpa,
					    .used_gpa = q->cfg.used_gpa };
	}
	snap_put(w, SNAP_REC_MMIO, slot, &s, sizeof(s));
	return vd->ops->save ? vd->ops->save(vd, w, slot) : 0;
}

/* Lock held. The driver's view, as saved; the rings are checked again
 * (vq_setup) as at DRIVER_OK, since the file is not trusted. */
static int restore_regs(struct virtio_mmio *t, const struct snap_mmio *s)
{
	struct vdev *vd = t->vd;

	if (s->device_id != vd->ops->device_id)
		return -EINVAL;
	t->status = s->status & (S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_CONFIG_S_FAILED);
	t->dev_feat_sel = s->dev_feat_sel;
	t->drv_feat_sel = s->drv_feat_sel;
	t->queue_sel = s->queue_sel;
	t->drv_features = s->drv_features;
	if (s->features & ~offered(t))
		return -EINVAL;
	vd->features = s->features;
	vd->config_gen = s->config_gen;
	for (unsigned int i = 0; i < vd->ops->num_queues; i++)
		vd->vq[i].cfg = (struct vq_cfg){ .num = s->vq[i].num,
						 .ready = s->vq[i].ready,
						 .desc_gpa = s->vq[i].desc_gpa,
						 .avail_gpa = s->vq[i].avail_gpa,
						 .used_gpa = s->vq[i].used_gpa };
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct snap_reader *r, uint32_t slot)
{
	struct vdev *vd = t->vd;
	struct snap_mmio s;
	int ret = 0;

	if (snap_get_exact(r, SNAP_REC_MMIO, slot, &s, sizeof(s)))
		return err_ret(-EINVAL, "state file lacks virtio slot %u", slot);
	pthread_mutex_lock(&vd->lock);
	if (restore_regs(t, &s)) {
		ret = err_ret(-EINVAL, "state file: virtio slot %u does not match this %s device",
			      slot, vd->ops->name);
		goto out;
	}
	if (s.needs_reset) {
		vd->needs_reset = true;
	} else if (t->status & S_DOK) {
		/* As at DRIVER_OK: map the rings, start the device, bind kicks;
		 * then continue the rings where they were. */
		activate(t);
		for (unsigned int i = 0; i < vd->ops->num_queues; i++) {
			struct vq *q = &vd->vq[i];

			if (!q->live)
				continue;
			q->live = s.vq[i].live;
			q->last_avail = s.vq[i].last_avail;
			q->used_idx = s.vq[i].used_idx;
			q->signalled_used = s.vq[i].signalled_used;
			q->signalled_valid = s.vq[i].signalled_valid;
		}
	}
	if (vd->ops->restore && !vd->needs_reset && (ret = vd->ops->restore(vd, r, slot)))
		goto out;
	/* A pending interrupt is raised again (the irqchip was restored
	 * before the devices); a kick that reached the eventfd but not the
	 * event loop before the save is replayed by running every queue. */
	if (s.isr)
		mmio_raise(t, s.isr);
	for (unsigned int i = 0; i < vd->ops->num_queues; i++)
		if (vd->vq[i].live)
			mmio_requeue(t, i);
out:
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

void virtio_mmio_metrics_json(struct virtio_mmio *t, FILE *f)
{
	vdev_metrics_json(t->vd, f);
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->vd->lock);
	ioeventfd_unbind(t);
	pthread_mutex_unlock(&t->vd->lock);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (t->kick[i].fd < 0)
			continue;
		ev_del(t->h.ev, t->kick[i].fd);
		close(t->kick[i].fd);
	}
	vdev_destroy(t->vd);
	free(t);
}
