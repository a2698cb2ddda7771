/*
 * virtio-vsock device (VIRTIO 1.2 §5.10): the virtio side. Queues RX (0),
 * TX (1), EVENT (2); config is le64 guest_cid (§5.10.4). Everything about
 * connections lives in the muxer; this file moves packets between the
 * virtqueues and the muxer, checking chain layout first.
 *
 * Threads: queue kicks arrive with vd->lock held (transport); host socket
 * events arrive through one nested epoll fd on the VMM event loop, and we take
 * vd->lock there, so the muxer is only ever touched under that lock.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#include "vmm/devices/device.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/muxer.h"
#include "vmm/devices/virtio/vsock/vsock.h"
#include "vmm/evloop.h"
#include "vmm/log.h"

#define VSOCK_QUEUE_SIZE 256 /* Firecracker's */
#define RXQ		 0
#define TXQ		 1
#define EVQ		 2

struct vsock_dev {
	struct vdev *vd;
	struct evloop *ev;
	bool active;	 /* DRIVER_OK seen, not reset since */
	bool tx_stalled; /* TX stopped because replies could not be queued */
	/* A restore's TRANSPORT_RESET the driver has not handled yet, and its
	 * EVENT queue's avail idx when the reset was put there. */
	bool reset_unseen;
	uint16_t reset_avail;
	struct vq_elem elem;
	struct vsock_mux mux;
};

static uint64_t vsock_features(struct vdev *vd)
{
	(void)vd;
	/* Recipe §f (Firecracker AVAIL_FEATURES). IN_ORDER is honest: every
	 * queue is consumed and completed strictly in order. */
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_IN_ORDER);
}

static void vsock_config_read(struct vdev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct vsock_dev *d = vd->priv;
	uint64_t cid = htole64(d->mux.guest_cid);

	/* §5.10.4: struct virtio_vsock_config { le64 guest_cid; }, read-only. */
	vdev_config_copy(&cid, sizeof(cid), off, buf, len);
}

/* The guest broke a ring: connections cannot make progress; drop them. */
static bool broken(struct vsock_dev *d)
{
	if (!d->vd->needs_reset)
		return false;
	if (d->active) {
		d->active = false;
		vsock_mux_set_active(&d->mux, false);
		vsock_mux_reset(&d->mux);
	}
	return true;
}

static bool queue_ok(struct vsock_dev *d, unsigned int q)
{
	return d->active && !d->vd->needs_reset && d->vd->vq[q].live;
}

/* Fill guest RX buffers with whatever the muxer has queued (§5.10.6.2). */
static void process_rx(struct vsock_dev *d)
{
	struct vdev *vd = d->vd;
	struct vq_elem *e = &d->elem;
	struct vsock_rx_next nx;
	unsigned int n = 0;

	if (!queue_ok(d, RXQ))
		return;
	while (vsock_mux_rx_ready(&d->mux, &nx)) {
		uint32_t len;

		if (vdev_pop_budget(vd, RXQ, e, n) <= 0)
			break; /* no buffers (wait for the driver's RX kick) or budget spent */
		/* §5.10.6.2: RX buffers are device-writable and hold a header. */
		if (e->nr_out || e->in_len < VSOCK_HDR_SIZE) {
			vdev_needs_reset(vd,
					 "vsock: RX buffer readable or shorter than the header");
			break;
		}
		len = vsock_mux_rx_fill(&d->mux, &nx, e->iov, e->nr_in, e->in_len);
		vq_push(&vd->vq[RXQ], e->head, len);
		VDEV_STAT(vd, bytes_in, len);
		VDEV_STAT(vd, reqs, 1);
		n++;
	}
	if (n)
		vdev_signal_used(vd, RXQ);
	broken(d);
}

/* Consume guest packets (§5.10.6.1): header descriptor(s) + payload. */
static void process_tx(struct vsock_dev *d)
{
	struct vdev *vd = d->vd;
	struct vq_elem *e = &d->elem;
	unsigned int n = 0;

	if (!queue_ok(d, TXQ))
		return;
	d->tx_stalled = false;
	for (;;) {
		struct virtio_vsock_hdr h;
		struct vsock_pkt p;

		if (vsock_mux_tx_stalled(&d->mux)) {
			d->tx_stalled = true; /* resumed once RX drains the replies */
			break;
		}
		if (vdev_pop_budget(vd, TXQ, e, n) <= 0)
			break;
		if (e->nr_in || e->out_len < VSOCK_HDR_SIZE) {
			vdev_needs_reset(vd, "vsock: TX chain writable or shorter than the header");
			break;
		}
		iov_to_buf(e->iov, e->nr_out, 0, &h, sizeof(h));
		vsock_hdr_decode(&h, &p);
		vsock_mux_guest_pkt(&d->mux, &p, e->iov, e->nr_out, VSOCK_HDR_SIZE,
				    e->out_len - VSOCK_HDR_SIZE);
		vq_push(&vd->vq[TXQ], e->head, 0);
		VDEV_STAT(vd, bytes_out, e->out_len);
		VDEV_STAT(vd, reqs, 1);
		n++;
	}
	if (n)
		vdev_signal_used(vd, TXQ);
	broken(d);
}

static void run(struct vsock_dev *d)
{
	process_rx(d);
	/* TX replies may have been waiting for RX room. */
	if (d->tx_stalled && !vsock_mux_tx_stalled(&d->mux)) {
		process_tx(d);
		process_rx(d);
	}
}

static void vsock_queue_notify(struct vdev *vd, unsigned int qidx)
{
	struct vsock_dev *d = vd->priv;

	switch (qidx) {
	case RXQ:
		run(d); /* new RX buffers: resume host reads parked for room */
		break;
	case TXQ:
		process_tx(d);
		process_rx(d);
		break;
	default:
		/* EVENT: the driver posts buffers we keep for TRANSPORT_RESET
		 * after restore (§5.10.6.7). A buffer posted since the reset
		 * is the driver done with it: Linux handles an event, then
		 * posts the buffer again (virtio_transport_event_work). A kick
		 * without one (the restore replays every queue's) changes
		 * nothing. */
		if (d->reset_unseen && vq_avail_idx(&vd->vq[EVQ]) != d->reset_avail) {
			d->reset_unseen = false;
			vsock_mux_set_active(&d->mux, true);
		}
		break;
	}
}

static int vsock_activate(struct vdev *vd)
{
	struct vsock_dev *d = vd->priv;

	d->active = true;
	vsock_mux_set_active(&d->mux, true);
	return 0;
}

/*
 * After a restore (§5.10.6.7; Firecracker's vsock persist): the host
 * connections of the saved VM are gone, so the guest is told its transport
 * was reset with one VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue.
 * The guest driver then resets its connected sockets; its listeners stay.
 * Raised from here, after the irqchips are restored (Firecracker #4796: an
 * event queued without an interrupt is never seen).
 */
static int vsock_restore(struct vdev *vd, const struct snap_reader *r, uint32_t slot)
{
	struct vsock_dev *d = vd->priv;
	struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct vq_elem *e = &d->elem;

	(void)r;
	(void)slot;
	if (!queue_ok(d, EVQ))
		return 0; /* the driver never set the device up: nothing to reset */
	if (vdev_pop(vd, EVQ, e) <= 0) {
		vdev_warn(vd, "no event buffer for the transport reset after restore");
		return 0;
	}
	if (e->in_len < sizeof(ev)) {
		vdev_needs_reset(vd, "vsock: event buffer shorter than an event");
		return 0;
	}
	buf_to_iov(e->iov + e->nr_out, e->nr_in, 0, &ev, sizeof(ev));
	vq_push(&vd->vq[EVQ], e->head, sizeof(ev));
	/* Host clients wait in the listener's backlog until the driver has
	 * handled the reset: it resets every connected socket, so a client
	 * let through before (the host's first ping to the agent, every
	 * restore) was connected, then reset, then tried again. The vCPUs
	 * do not run yet, so the driver cannot post a buffer before the
	 * watch is set. */
	d->reset_unseen = true;
	d->reset_avail = vq_watch_avail(&vd->vq[EVQ]);
	vsock_mux_set_active(&d->mux, false);
	vdev_signal_used(vd, EVQ);
	return 0;
}

static void vsock_reset(struct vdev *vd)
{
	struct vsock_dev *d = vd->priv;

	/* §5.10.6: a reset guest has no sockets left; no RSTs are owed. */
	d->active = false;
	d->tx_stalled = false;
	d->reset_unseen = false;
	vsock_mux_set_active(&d->mux, false);
	vsock_mux_reset(&d->mux);
}

static void vsock_ev(void *opaque, uint32_t events)
{
	struct vsock_dev *d = opaque;

	(void)events;
	pthread_mutex_lock(&d->vd->lock);
	vsock_mux_poll(&d->mux);
	run(d);
	pthread_mutex_unlock(&d->vd->lock);
}

void virtio_vsock_poll(struct vdev *vd)
{
	vsock_ev(vd->priv, EPOLLIN);
}

/* The muxer's counters: connections, packets, RSTs, credit traffic, and the
 * guest's mistakes (docs/silo-vmm.md, `metrics`). */
static void vsock_metrics(struct vdev *vd, FILE *f)
{
	struct vsock_dev *d = vd->priv;

	pthread_mutex_lock(&vd->lock);
	vsock_mux_metrics_json(&d->mux, f);
	pthread_mutex_unlock(&vd->lock);
}

static void vsock_destroy(struct vdev *vd)
{
	struct vsock_dev *d = vd->priv;

	if (!d)
		return;
	if (d->ev && d->mux.epfd >= 0)
		ev_del(d->ev, d->mux.epfd);
	vsock_mux_fini(&d->mux);
	free(d);
	vd->priv = NULL;
}

static const struct virtio_dev_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.name = "vsock",
	.num_queues = 3,
	.queue_max = VSOCK_QUEUE_SIZE,
	.features = vsock_features,
	.config_read = vsock_config_read,
	.config_write = NULL, /* §5.10.4: guest_cid is read-only */
	.activate = vsock_activate,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.metrics = vsock_metrics,
	.save = NULL, /* nothing: connections do not survive a snapshot */
	.restore = vsock_restore,
	.destroy = vsock_destroy,
};

void virtio_vsock_set_connect_timeout(struct vdev *vd, unsigned int ms)
{
	struct vsock_dev *d = vd->priv;

	d->mux.connect_ms = ms;
}

int virtio_vsock_create(struct vdev **out, uint64_t guest_cid, const char *uds_path,
			struct evloop *ev)
{
	struct vdev *vd = calloc(1, sizeof(*vd));
	struct vsock_dev *d = calloc(1, sizeof(*d));
	int ret = -ENOMEM;

	if (!vd || !d)
		goto err_free;
	if (guest_cid < VSOCK_MIN_GUEST_CID || guest_cid >= 0xffffffffULL) {
		ret = err_ret(-EINVAL, "vsock: guest CID %llu not in [3, 2^32-2]",
			      (unsigned long long)guest_cid);
		goto err_free;
	}
	ret = vsock_mux_init(&d->mux, guest_cid, uds_path);
	if (ret < 0)
		goto err_free;
	ret = vdev_init(vd, &vsock_ops, d);
	if (ret < 0)
		goto err_mux;
	d->vd = vd;
	d->mux.vd = vd;
	d->ev = ev;
	if (ev) {
		ret = ev_add(ev, d->mux.epfd, EPOLLIN, vsock_ev, d);
		if (ret < 0) {
			ret = err_ret(ret, "vsock: register with the event loop");
			pthread_mutex_destroy(&vd->lock);
			goto err_mux;
		}
	}
	*out = vd;
	return 0;
err_mux:
	vsock_mux_fini(&d->mux);
err_free:
	free(d);
	free(vd);
	return ret;
}

/* --vsock CID,PATH: CIDs 0-2 are reserved (hypervisor, local, host), and
 * VMADDR_CID_ANY (-1) is "any" (VIRTIO 1.2 §5.10.4). */
#define VSOCK_MAX_GUEST_CID 0xfffffffeULL

/* The CID is arg up to the comma, the path after it; false if malformed. */
static bool vsock_split(const char *arg, const char **path)
{
	const char *comma = strchr(arg, ',');

	*path = comma ? comma + 1 : NULL;
	return comma && comma != arg && comma[1];
}

static int vsock_parse(const char *arg, uint64_t *cid, const char **path)
{
	unsigned long long n;
	char num[24];

	if (!vsock_split(arg, path))
		return -1;
	if ((size_t)(*path - 1 - arg) >= sizeof(num))
		return -2;
	snprintf(num, sizeof(num), "%.*s", (int)(*path - 1 - arg), arg);
	if (!vmm_parse_uint(num, VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID, &n))
		return -2;
	*cid = n;
	return 0;
}

static int vsock_check(const char *arg, const char *const *prev, unsigned int nr_prev, char *err,
		       size_t errlen)
{
	const char *path;
	uint64_t cid;

	(void)prev, (void)nr_prev;
	switch (vsock_parse(arg, &cid, &path)) {
	case -1:
		snprintf(err, errlen, "--vsock wants CID,PATH, got '%s'", arg);
		return -1;
	case -2:
		snprintf(err, errlen, "--vsock CID must be in %llu..%llu, got '%.*s'",
			 VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID, (int)(path - 1 - arg), arg);
		return -1;
	}
	return 0;
}

static int vsock_dev_create(struct vdev **out, const char *arg, unsigned int idx,
			    const struct vmm_dev_env *env, char *what, size_t whatlen)
{
	const char *path;
	uint64_t cid = 0;
	int ret;

	(void)idx;
	snprintf(what, whatlen, "vsock");
	vsock_parse(arg, &cid, &path); /* checked by vsock_check */
	ret = virtio_vsock_create(out, cid, path, env->ev);
	if (ret)
		return err_ret(ret, "vsock %s: %s", path, strerror(-ret));
	if (env->vsock_connect_ms)
		virtio_vsock_set_connect_timeout(*out, env->vsock_connect_ms);
	struct vsock_dev *d = (*out)->priv;
	d->mux.peer_fd = env->vsock_peer_fd; /* the mux owns it from here */
	for (unsigned int i = 0; i < env->nr_vsock_peer_ports && i < VSOCK_MAX_PEER_PORTS; i++)
		d->mux.peer_ports[d->mux.nr_peer_ports++] = env->vsock_peer_ports[i];
	return 0;
}

const struct vmm_device virtio_vsock_device = {
	.name = "vsock",
	.metavar = "CID,PATH",
	.help = "virtio-vsock: host clients connect to PATH and send\n"
		"                       \"CONNECT <port>\\n\"; guest connections to port P reach PATH_P",
	.max = 1,
	.check = vsock_check,
	.create = vsock_dev_create,
};
