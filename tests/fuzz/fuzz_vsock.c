/*
 * libFuzzer target: the virtio-vsock device fed by a fuzzer-built guest.
 * Guest RAM, RX/TX rings and packets come from the input; host sockets are
 * real (a client on the device's UDS, a listener on <uds>_1234), so the
 * muxer's state machine runs too. Input: a list of records
 *   0 [44-byte header][flags][len][payload]  TX packet (flags bit0: force
 *     src/dst CID and type valid; bit1: split payload; bit2: header only)
 *   1 [n][len]      post n RX buffers of header+len bytes
 *   2 [off][n][..]  overwrite n bytes of the ring area (malformed rings)
 *   3               run the host side (what the event loop does)
 *   4 [port:2]      host client connects and sends CONNECT <port>
 *   5 [n][..]       host side writes n bytes on every open socket
 * scripts/fuzz.sh builds this with the virtio sources; the vsock sources and
 * the event loop are pulled in below so the script needs no entry for it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/evloop.c"
#include "vmm/devices/virtio/vsock/packet.c"
#include "vmm/devices/virtio/vsock/conn.c"
#include "vmm/devices/virtio/vsock/muxer.c"
#include "vmm/devices/virtio/vsock/device.c"

#define RAM_GPA	 0x10000ULL
#define RAM_SIZE 0x40000ULL
#define QN	 16
#define RXD	 (RAM_GPA)
#define RXA	 (RAM_GPA + 0x1000)
#define RXU	 (RAM_GPA + 0x2000)
#define TXD	 (RAM_GPA + 0x3000)
#define TXA	 (RAM_GPA + 0x4000)
#define TXU	 (RAM_GPA + 0x5000)
#define BUFS	 (RAM_GPA + 0x8000)
#define MAX_FDS	 8

static uint8_t *ram;
static struct guest_mem gm;
static struct vdev *vd;
static char path[64], guest_path[80];
static int lfd = -1;
static int fds[MAX_FDS];
static unsigned int nfds;
static uint16_t rx_next, tx_next;

static void raise_stub(void *tp, uint32_t bits)
{
	(void)tp;
	(void)bits;
}

/* libFuzzer ends with exit(): leave no sockets behind in /tmp. */
static void remove_sockets(void)
{
	unlink(path);
	unlink(guest_path);
}

static void init(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	log_set_level(LOG_ERR);
	snprintf(path, sizeof(path), "/tmp/silo-fuzz-vsock-%d.sock", getpid());
	if (virtio_vsock_create(&vd, 3, path, NULL) < 0)
		abort();
	ram = aligned_alloc(4096, RAM_SIZE);
	gm.nr = 1;
	gm.r[0] = (struct guest_region){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = ram };
	vd->mem = &gm;
	vd->raise = raise_stub;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.60s_1234", path);
	snprintf(guest_path, sizeof(guest_path), "%s", sa.sun_path);
	unlink(sa.sun_path);
	atexit(remove_sockets);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0)
		abort();
}

static void desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(ram + (table - RAM_GPA) + 16 * (i % QN), &d, sizeof(d));
}

static void avail(uint64_t a, uint16_t head)
{
	struct vring_avail *av = (void *)(ram + (a - RAM_GPA));

	av->ring[av->idx % QN] = head;
	av->idx++;
}

static void queue(unsigned int q, uint64_t d, uint64_t a, uint64_t u)
{
	vd->vq[q] = (struct vq){
		.cfg = { .num = QN, .ready = true, .desc_gpa = d, .avail_gpa = a, .used_gpa = u }
	};
	if (vq_setup(&vd->vq[q], &gm, 0, NULL))
		abort();
}

static void kick(unsigned int q)
{
	pthread_mutex_lock(&vd->lock);
	if (!vd->needs_reset)
		vd->ops->queue_notify(vd, q);
	pthread_mutex_unlock(&vd->lock);
}

static void add_fd(int fd)
{
	if (fd < 0)
		return;
	if (nfds == MAX_FDS) {
		close(fd);
		return;
	}
	fds[nfds++] = fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	if (!vd)
		init();
	memset(ram, 0, RAM_SIZE);
	pthread_mutex_lock(&vd->lock);
	for (unsigned int q = 0; q < 3; q++)
		vq_reset(&vd->vq[q]);
	vd->ops->reset(vd);
	vd->needs_reset = false;
	queue(0, RXD, RXA, RXU);
	queue(1, TXD, TXA, TXU);
	vd->ops->activate(vd);
	pthread_mutex_unlock(&vd->lock);
	rx_next = tx_next = 0;

	while (pos < size) {
		uint8_t op = data[pos++] % 6;

		if (op == 0 && size - pos >= VSOCK_HDR_SIZE + 2) {
			struct virtio_vsock_hdr h;
			uint8_t fl = data[pos + VSOCK_HDR_SIZE];
			uint32_t len = data[pos + VSOCK_HDR_SIZE + 1] * 17U;
			uint64_t b = BUFS + 0x1000ULL * (tx_next % 8);
			uint16_t d0 = tx_next++ % QN, d1 = tx_next++ % QN;

			memcpy(&h, data + pos, sizeof(h));
			pos += VSOCK_HDR_SIZE + 2;
			if (fl & 1) {
				h.src_cid = htole64(3);
				h.dst_cid = htole64(2);
				h.type = htole16(1);
				h.op = htole16(le16toh(h.op) % 8);
			}
			if (len > 0x1000 - VSOCK_HDR_SIZE)
				len = 0x1000 - VSOCK_HDR_SIZE;
			if (len > size - pos)
				len = (uint32_t)(size - pos);
			memcpy(ram + (b - RAM_GPA), &h, sizeof(h));
			memcpy(ram + (b - RAM_GPA) + VSOCK_HDR_SIZE, data + pos, len);
			pos += len;
			if (fl & 4) {
				desc(TXD, d0, b, VSOCK_HDR_SIZE + len, 0, 0);
			} else if (fl & 2) {
				desc(TXD, d0, b, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, d1);
				desc(TXD, d1, b + VSOCK_HDR_SIZE, len, 0, 0);
			} else {
				desc(TXD, d0, b, VSOCK_HDR_SIZE + len, 0, 0);
			}
			avail(TXA, d0);
			kick(1);
		} else if (op == 1 && size - pos >= 2) {
			unsigned int n = data[pos] % 8;
			uint32_t len = VSOCK_HDR_SIZE - 4 + data[pos + 1] * 16U;

			pos += 2;
			if (len > 0x1000)
				len = 0x1000;
			for (unsigned int i = 0; i < n; i++) {
				uint16_t d = (uint16_t)(8 + rx_next++ % 8);

				desc(RXD, d, BUFS + 0x8000 + 0x1000ULL * (d - 8), len,
				     VRING_DESC_F_WRITE, 0);
				avail(RXA, d);
			}
			kick(0);
		} else if (op == 2 && size - pos >= 2) {
			uint32_t off = data[pos] * 32U, n = data[pos + 1] % 64;

			pos += 2;
			if (n > size - pos)
				n = (uint32_t)(size - pos);
			memcpy(ram + off, data + pos, n); /* desc/avail of RX, first 8 KiB */
			pos += n;
		} else if (op == 3) {
			virtio_vsock_poll(vd);
		} else if (op == 4 && size - pos >= 2) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			char line[32];
			int n = snprintf(line, sizeof(line), "CONNECT %u\n",
					 data[pos] | data[pos + 1] << 8);

			pos += 2;
			memcpy(sa.sun_path, path, sizeof(path));
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    send(fd, line, (size_t)n, MSG_NOSIGNAL) == n) {
				add_fd(fd);
			} else if (fd >= 0) {
				close(fd);
			}
			virtio_vsock_poll(vd);
		} else if (op == 5 && size - pos >= 1) {
			uint32_t n = data[pos++];

			if (n > size - pos)
				n = (uint32_t)(size - pos);
			add_fd(accept(lfd, NULL, NULL));
			for (unsigned int i = 0; i < nfds; i++)
				if (send(fds[i], data + pos, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
					/* peer gone or full: fine */
				}
			pos += n;
			virtio_vsock_poll(vd);
		}
	}
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	nfds = 0;
	for (int fd; (fd = accept(lfd, NULL, NULL)) >= 0;)
		close(fd);
	return 0;
}
