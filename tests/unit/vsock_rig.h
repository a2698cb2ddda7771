/*
 * The virtio-vsock device end to end, for unit tests: fake guest memory
 * with hand-built RX and TX rings, and real Unix sockets. No KVM, no guest,
 * no event thread: virtio_vsock_poll() plays the event loop. Static
 * functions: each test program includes it once.
 */
#ifndef SILO_TESTS_VSOCK_RIG_H
#define SILO_TESTS_VSOCK_RIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <endian.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_ring.h>

#include "vmm/devices/device.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/muxer.h"
#include "vmm/devices/virtio/vsock/vsock.h"

extern const struct vmm_device virtio_vsock_device;

#define CID	   3
#define QN	   16
#define RAM_GPA	   0x100000ULL
#define RAM_SIZE   (4ULL << 20)
#define RX_DESC	   (RAM_GPA + 0x0000)
#define RX_AVAIL   (RAM_GPA + 0x1000)
#define RX_USED	   (RAM_GPA + 0x2000)
#define TX_DESC	   (RAM_GPA + 0x3000)
#define TX_AVAIL   (RAM_GPA + 0x4000)
#define TX_USED	   (RAM_GPA + 0x5000)
#define EV_DESC	   (RAM_GPA + 0x6000)
#define EV_AVAIL   (RAM_GPA + 0x7000)
#define EV_USED	   (RAM_GPA + 0x8000)
#define EV_BUFS	   (RAM_GPA + 0x9000)	/* 16 x 8 bytes, one event each */
#define RX_BUFS	   (RAM_GPA + 0x10000)	/* 16 x 8 KiB */
#define TX_BUFS	   (RAM_GPA + 0x100000) /* 16 x 68 KiB */
#define RX_BUF_LEN (VSOCK_HDR_SIZE + 4096)
#define TX_STRIDE  0x11000

struct t {
	uint8_t *ram;
	struct guest_mem mem;
	struct vdev *vd;
	char path[64];
	uint16_t rx_posted, rx_seen, tx_sent, tx_seen;
	int irqs;
	int peer; /* the peer's end of --vsock-peer (test_vsock_peer.c) */
};

static inline void *hva(struct t *t, uint64_t gpa)
{
	return t->ram + (gpa - RAM_GPA);
}

static inline void raise_stub(void *tp, uint32_t bits)
{
	struct t *t = tp;

	(void)bits;
	t->irqs++;
}

static inline void set_desc(struct t *t, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(hva(t, table + 16ULL * i), &d, sizeof(d));
}

static inline void avail_add(struct t *t, uint64_t avail, uint16_t head)
{
	struct vring_avail *a = hva(t, avail);
	uint16_t idx = le16toh(a->idx);

	a->ring[idx % QN] = htole16(head);
	__sync_synchronize();
	a->idx = htole16((uint16_t)(idx + 1));
}

static inline void notify(struct t *t, unsigned int q)
{
	pthread_mutex_lock(&t->vd->lock);
	t->vd->ops->queue_notify(t->vd, q);
	pthread_mutex_unlock(&t->vd->lock);
}

static inline void rx_post(struct t *t, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = t->rx_posted++ % QN;

		set_desc(t, RX_DESC, d, RX_BUFS + 0x2000ULL * d, RX_BUF_LEN, VRING_DESC_F_WRITE, 0);
		avail_add(t, RX_AVAIL, d);
	}
	notify(t, 0);
}

/* Next packet the device put in RX; false if none. */
static inline bool rx_get(struct t *t, struct vsock_pkt *p, uint8_t *data)
{
	struct vring_used *u = hva(t, RX_USED);
	struct vring_used_elem e;

	if (le16toh(u->idx) == t->rx_seen)
		return false;
	e = u->ring[t->rx_seen++ % QN];
	assert_true(le32toh(e.len) >= VSOCK_HDR_SIZE);
	vsock_hdr_decode(hva(t, RX_BUFS + 0x2000ULL * le32toh(e.id)), p);
	assert_int_equal(le32toh(e.len), VSOCK_HDR_SIZE + p->len);
	if (data && p->len)
		memcpy(data,
		       (uint8_t *)hva(t, RX_BUFS + 0x2000ULL * le32toh(e.id)) + VSOCK_HDR_SIZE,
		       p->len);
	return true;
}

/* Poll host sockets until the guest has a packet (bounded wait). */
static inline bool rx_wait(struct t *t, struct vsock_pkt *p, uint8_t *data)
{
	for (int i = 0; i < 200; i++) {
		if (rx_get(t, p, data))
			return true;
		virtio_vsock_poll(t->vd);
		if (rx_get(t, p, data))
			return true;
		usleep(2000);
	}
	return false;
}

static inline void tx_send(struct t *t, uint16_t op, uint32_t src_port, uint32_t dst_port,
			   uint32_t flags, const void *data, uint32_t len)
{
	uint16_t d = t->tx_sent++ % QN;
	uint64_t buf = TX_BUFS + (uint64_t)TX_STRIDE * d;
	struct vsock_pkt p = { .src_cid = CID,
			       .dst_cid = 2,
			       .src_port = src_port,
			       .dst_port = dst_port,
			       .len = len,
			       .type = VIRTIO_VSOCK_TYPE_STREAM,
			       .op = op,
			       .flags = flags,
			       .buf_alloc = 65536,
			       .fwd_cnt = 0 };
	struct virtio_vsock_hdr h;

	vsock_hdr_encode(&p, &h);
	memcpy(hva(t, buf), &h, sizeof(h));
	if (len)
		memcpy(hva(t, buf + 64), data, len);
	/* Linux layout: header descriptor, then a payload descriptor. */
	set_desc(t, TX_DESC, d, buf, VSOCK_HDR_SIZE, len ? VRING_DESC_F_NEXT : 0,
		 (uint16_t)((d + 1) % QN));
	if (len) {
		set_desc(t, TX_DESC, (uint16_t)((d + 1) % QN), buf + 64, len, 0, 0);
		t->tx_sent++;
	}
	avail_add(t, TX_AVAIL, d);
	notify(t, 1);
}

static inline void setup_vq_features(struct t *t, unsigned int q, uint64_t desc, uint64_t avail,
				     uint64_t used, uint64_t features)
{
	struct vq *v = &t->vd->vq[q];

	vq_reset(v);
	v->cfg = (struct vq_cfg){
		.num = QN, .ready = true, .desc_gpa = desc, .avail_gpa = avail, .used_gpa = used
	};
	assert_int_equal(vq_setup(v, &t->mem, features, NULL), 0);
}

static inline void setup_vq(struct t *t, unsigned int q, uint64_t desc, uint64_t avail,
			    uint64_t used)
{
	setup_vq_features(t, q, desc, avail, used, 0);
}

/* The device as silo-vmm builds it (the device table), with the peer
 * socket and ports of --vsock-peer when peer_fd >= 0 (the mux owns it). */
static inline int dev_setup_env(void **state, int peer_fd, const uint32_t *ports,
				unsigned int nr_ports)
{
	struct t *t = calloc(1, sizeof(*t));
	struct vmm_dev_env env = { .vsock_peer_fd = peer_fd,
				   .vsock_peer_ports = ports,
				   .nr_vsock_peer_ports = nr_ports };
	char arg[96], what[32];
	uint8_t cfg[8];

	t->ram = aligned_alloc(4096, RAM_SIZE);
	memset(t->ram, 0, RAM_SIZE);
	t->mem.nr = 1;
	t->mem.r[0] = (struct guest_region){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = t->ram };
	snprintf(t->path, sizeof(t->path), "/tmp/silo-vsock-test-%d.sock", getpid());
	unlink(t->path);
	snprintf(arg, sizeof(arg), "%d,%s", CID, t->path);
	assert_int_equal(virtio_vsock_device.create(&t->vd, arg, 0, &env, what, sizeof(what)), 0);
	t->vd->mem = &t->mem;
	t->vd->raise = raise_stub;
	t->vd->tp = t;
	assert_int_equal(t->vd->ops->device_id, 19);
	t->vd->ops->config_read(t->vd, 0, cfg, 8);
	assert_int_equal(le64toh(*(uint64_t *)cfg), CID);
	setup_vq(t, 0, RX_DESC, RX_AVAIL, RX_USED);
	setup_vq(t, 1, TX_DESC, TX_AVAIL, TX_USED);
	assert_int_equal(t->vd->ops->activate(t->vd), 0);
	*state = t;
	return 0;
}

static inline int dev_setup(void **state)
{
	return dev_setup_env(state, -1, NULL, 0);
}

static inline int dev_teardown(void **state)
{
	struct t *t = *state;

	vdev_destroy(t->vd);
	assert_int_equal(access(t->path, F_OK), -1); /* listener path removed */
	free(t->ram);
	free(t);
	return 0;
}

static inline int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static inline ssize_t read_timeout(int fd, void *buf, size_t len, struct t *t)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 2) == 1)
			return read(fd, buf, len);
		virtio_vsock_poll(t->vd);
	}
	return -1;
}

/* Host client -> CONNECT -> REQUEST -> RESPONSE -> OK; returns client fd, *lport. */
static inline int host_connect(struct t *t, uint32_t gport, uint32_t *lport)
{
	struct vsock_pkt p;
	char line[32] = { 0 }, want[32];
	int fd = client_connect(t->path);

	/* Partial CONNECT line: nothing reaches the guest until the '\n'. */
	assert_int_equal(write(fd, "connect ", 8), 8);
	virtio_vsock_poll(t->vd);
	assert_false(rx_get(t, &p, NULL));
	dprintf(fd, "%u\n", gport);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(p.src_cid, 2);
	assert_int_equal(p.dst_cid, CID);
	assert_int_equal(p.dst_port, gport);
	assert_true(p.src_port >= (1U << 30) && p.src_port < (1U << 31));
	assert_int_equal(p.buf_alloc, 256 * 1024);
	*lport = p.src_port;
	tx_send(t, VIRTIO_VSOCK_OP_RESPONSE, gport, *lport, 0, NULL, 0);
	assert_true(read_timeout(fd, line, sizeof(line) - 1, t) > 0);
	snprintf(want, sizeof(want), "OK %u\n", *lport);
	assert_string_equal(line, want);
	return fd;
}

#endif
