/*
 * Unit tests for virtio-vsock (src/vmm/devices/virtio/vsock): CONNECT line
 * parser, credit arithmetic, TX ring, packet checks, and the device end to end
 * against fake guest memory with hand-built RX/TX rings and real Unix sockets.
 * No KVM, no guest, no event thread: virtio_vsock_poll() plays the event loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_ring.h>

#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/vsock/muxer.h"
#include "vmm/devices/virtio/vsock/vsock.h"
#include "vmm/log.h"
#include "vsock_rig.h"

/* ---- pure logic ---- */

static void test_parse_connect(void **state)
{
	uint32_t port = 0;

	(void)state;
	assert_int_equal(vsock_parse_connect("CONNECT 52\n", 11, &port), 11);
	assert_int_equal(port, 52);
	assert_int_equal(vsock_parse_connect("cOnNeCt 4294967295\n", 19, &port), 19);
	assert_int_equal(port, 4294967295U);
	assert_int_equal(vsock_parse_connect("connect\t 7 \r\n", 13, &port), 13);
	assert_int_equal(port, 7);
	/* Bytes after the line are not part of it (they are stream data). */
	assert_int_equal(vsock_parse_connect("connect 0\nhello", 15, &port), 10);
	assert_int_equal(port, 0);
	/* Partial reads: need more. */
	assert_int_equal(vsock_parse_connect("CONN", 4, &port), 0);
	assert_int_equal(vsock_parse_connect("CONNECT 52", 10, &port), 0);
	assert_int_equal(vsock_parse_connect("", 0, &port), 0);
	/* Bad. */
	assert_int_equal(vsock_parse_connect("CONNECT 4294967296\n", 19, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT abc\n", 12, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT\n", 8, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT 5x\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECTX 5\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("LISTEN 5\n", 9, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT -5\n", 11, &port), -EINVAL);
	/* Too long: 32 bytes and no newline, or the newline past byte 32. */
	{
		char l[64];

		memset(l, ' ', sizeof(l));
		memcpy(l, "CONNECT", 7);
		l[40] = '5';
		l[41] = '\n';
		assert_int_equal(vsock_parse_connect(l, 32, &port), -EINVAL);
		assert_int_equal(vsock_parse_connect(l, 42, &port), -EINVAL);
		assert_int_equal(vsock_parse_connect(l, 31, &port), 0);
	}
}

static void test_credit(void **state)
{
	struct vsock_credit c = { .peer_buf_alloc = 4096 };
	struct vsock_pkt p = { 0 };

	(void)state;
	assert_int_equal(vsock_credit_peer_avail(&c), 4096);
	c.rx_cnt = 1000;
	assert_int_equal(vsock_credit_peer_avail(&c), 3096);
	c.peer_fwd_cnt = 1000;
	assert_int_equal(vsock_credit_peer_avail(&c), 4096);
	/* u32 wrap: 0x20 bytes in flight across the wrap point. */
	c.rx_cnt = 0x10;
	c.peer_fwd_cnt = 0xfffffff0U;
	assert_int_equal(vsock_credit_peer_avail(&c), 4096 - 0x20);
	/* Guest shrank buf_alloc below what is in flight: no credit, no underflow. */
	c.peer_buf_alloc = 0x10;
	assert_int_equal(vsock_credit_peer_avail(&c), 0);
	c.peer_buf_alloc = 0x20;
	assert_int_equal(vsock_credit_peer_avail(&c), 0);

	/* An update once 64 KiB were forwarded unannounced, across a wrap. */
	c.last_fwd_cnt_to_peer = 0xffffff00U;
	c.fwd_cnt = 0xffffff00U + 64 * 1024 - 1;
	assert_false(vsock_credit_peer_needs_update(&c));
	c.fwd_cnt += 1;
	assert_true(vsock_credit_peer_needs_update(&c));
	vsock_credit_stamp(&c, &p);
	assert_int_equal(p.buf_alloc, 256 * 1024);
	assert_int_equal(p.fwd_cnt, c.fwd_cnt);
	assert_false(vsock_credit_peer_needs_update(&c));
}

/* Read what the socket has, flushing t as room appears, until want bytes arrived. */
static size_t drain(struct vsock_txbuf *t, int wfd, int rfd, uint8_t *got, size_t have, size_t want)
{
	for (int i = 0; i < 100000 && have < want; i++) {
		ssize_t r = read(rfd, got + have, want - have);

		if (r > 0)
			have += (size_t)r;
		if (t->len)
			assert_true(vsock_txbuf_flush(t, wfd) >= 0);
	}
	return have;
}

/* Fills the ring to 4 KiB short of full, so the second push wraps. */
#define FILL (VSOCK_CONN_BUF_SIZE - 4096)

static void test_txbuf(void **state)
{
	static uint8_t src[FILL], got[FILL + 20000], want[FILL + 20000];
	struct vsock_txbuf t = { 0 };
	struct iovec v[2] = { { src, FILL / 2 }, { src + FILL / 2, FILL - FILL / 2 } };
	int sv[2], sz = 4096;
	size_t have = 0;
	long n;

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7);
	memcpy(want, src, FILL);
	memcpy(want + FILL, src + 1000, 20000);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(vsock_txbuf_push(&t, v, 2, 0, FILL), 0);
	/* FILL + 6000 > the ring: overflow is refused, nothing appended. */
	assert_int_equal(vsock_txbuf_push(&t, v, 2, 0, 6000), -ENOBUFS);
	assert_int_equal(t.len, FILL);
	n = vsock_txbuf_flush(&t, sv[0]);
	assert_true(n > 0 && n < FILL); /* small socket buffer: partial */
	/* Make room, then push again across the end of the ring (wrap). */
	have = drain(&t, sv[0], sv[1], got, 0, 25000);
	assert_true(t.len <= VSOCK_CONN_BUF_SIZE - 20000);
	assert_int_equal(vsock_txbuf_push(&t, v, 2, 1000, 20000), 0);
	have = drain(&t, sv[0], sv[1], got, have, FILL + 20000);
	assert_int_equal(have, FILL + 20000);
	assert_memory_equal(got, want, FILL + 20000);
	assert_int_equal(t.len, 0);
	assert_null(t.buf); /* freed once empty */
	/* A broken socket is an error, not a hang. */
	assert_int_equal(vsock_txbuf_push(&t, v, 1, 0, 10), 0);
	close(sv[1]);
	assert_int_equal(vsock_txbuf_flush(&t, sv[0]), -EPIPE);
	vsock_txbuf_free(&t);
	close(sv[0]);
}

static void test_pkt_check(void **state)
{
	struct vsock_pkt ok = { .src_cid = 3,
				.dst_cid = 2,
				.type = VIRTIO_VSOCK_TYPE_STREAM,
				.op = VIRTIO_VSOCK_OP_RW,
				.len = 100 };
	struct vsock_pkt p;
	struct virtio_vsock_hdr h;

	(void)state;
	assert_int_equal(vsock_pkt_check(&ok, 3, 100), VSOCK_PKT_OK);
	p = ok, p.src_cid = 4;
	assert_int_equal(vsock_pkt_check(&p, 3, 100), VSOCK_PKT_BAD_SRC_CID);
	p = ok, p.dst_cid = 3;
	assert_int_equal(vsock_pkt_check(&p, 3, 100), VSOCK_PKT_BAD_DST_CID);
	p = ok, p.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	assert_int_equal(vsock_pkt_check(&p, 3, 100), VSOCK_PKT_BAD_TYPE);
	p = ok, p.op = 0;
	assert_int_equal(vsock_pkt_check(&p, 3, 100), VSOCK_PKT_BAD_OP);
	p = ok, p.op = 8;
	assert_int_equal(vsock_pkt_check(&p, 3, 100), VSOCK_PKT_BAD_OP);
	assert_int_equal(vsock_pkt_check(&ok, 3, 99), VSOCK_PKT_BAD_LEN);
	p = ok, p.len = 65537;
	assert_int_equal(vsock_pkt_check(&p, 3, 1 << 20), VSOCK_PKT_BAD_LEN);
	p = ok, p.len = 65536;
	assert_int_equal(vsock_pkt_check(&p, 3, 1 << 20), VSOCK_PKT_OK);
	p = ok, p.op = VIRTIO_VSOCK_OP_REQUEST;
	assert_int_equal(vsock_pkt_check(&p, 3, 100),
			 VSOCK_PKT_BAD_LEN); /* payload on control op */

	/* Codec round trip, little-endian on the wire. */
	p = (struct vsock_pkt){
		0x0102030405060708ULL, 2, 0x11223344, 5, 6, 1, 5, 3, 65536, 0xfffffffe
	};
	vsock_hdr_encode(&p, &h);
	assert_int_equal(((uint8_t *)&h)[0], 0x08);
	assert_int_equal(((uint8_t *)&h)[0x10], 0x44);
	vsock_hdr_decode(&h, &ok);
	assert_memory_equal(&ok, &p, sizeof(p));
}

/* ---- device end to end (vsock_rig.h) ---- */

static void test_host_initiated(void **state)
{
	struct t *t = *state;
	static uint8_t buf[8192];
	struct vsock_pkt p;
	uint32_t lport;
	int fd;

	rx_post(t, 8);
	fd = host_connect(t, 52, &lport);

	/* host -> guest */
	assert_int_equal(write(fd, "ping", 4), 4);
	assert_true(rx_wait(t, &p, buf));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(p.len, 4);
	assert_memory_equal(buf, "ping", 4);

	/* guest -> host */
	tx_send(t, VIRTIO_VSOCK_OP_RW, 52, lport, 0, "pong!", 5);
	memset(buf, 0, 16);
	assert_int_equal(read_timeout(fd, buf, sizeof(buf), t), 5);
	assert_memory_equal(buf, "pong!", 5);

	/* CREDIT_REQUEST is always answered with CREDIT_UPDATE carrying fwd_cnt. */
	tx_send(t, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 52, lport, 0, NULL, 0);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(p.fwd_cnt, 5);

	/* Half close: client shutdown(SHUT_WR) -> SHUTDOWN(SEND) to the guest. */
	shutdown(fd, SHUT_WR);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(p.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	/* ...and the guest can still send. */
	tx_send(t, VIRTIO_VSOCK_OP_RW, 52, lport, 0, "late", 4);
	assert_int_equal(read_timeout(fd, buf, sizeof(buf), t), 4);

	/* Guest RST closes the host socket. */
	tx_send(t, VIRTIO_VSOCK_OP_RST, 52, lport, 0, NULL, 0);
	assert_int_equal(read_timeout(fd, buf, sizeof(buf), t), 0);
	close(fd);

	/* Guest refuses (RST instead of RESPONSE): the client is closed. */
	fd = client_connect(t->path);
	assert_int_equal(write(fd, "CONNECT 9\n", 10), 10);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_REQUEST);
	tx_send(t, VIRTIO_VSOCK_OP_RST, 9, p.src_port, 0, NULL, 0);
	assert_int_equal(read_timeout(fd, buf, sizeof(buf), t), 0);
	close(fd);

	/* Malformed CONNECT line: closed, guest never hears of it. */
	fd = client_connect(t->path);
	assert_int_equal(write(fd, "HELLO 9\n", 8), 8);
	assert_int_equal(read_timeout(fd, buf, sizeof(buf), t), 0);
	assert_false(rx_get(t, &p, NULL));
	close(fd);
}

static void test_no_rx_buffers_then_refill(void **state)
{
	struct t *t = *state;
	static uint8_t buf[8192];
	struct vsock_pkt p;
	uint32_t lport;
	int fd;

	rx_post(t, 1); /* just enough for the REQUEST */
	fd = host_connect(t, 77, &lport);
	assert_int_equal(write(fd, "data", 4), 4);
	for (int i = 0; i < 5; i++)
		virtio_vsock_poll(t->vd);
	assert_false(rx_get(t, &p, NULL)); /* nowhere to put it: parked */
	rx_post(t, 2);			   /* RX kick resumes the host read */
	assert_true(rx_get(t, &p, buf));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(buf, "data", 4);

	/* Host client closes fully: SHUTDOWN(RCV|SEND); guest RST ends it. */
	close(fd);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(p.flags, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
	tx_send(t, VIRTIO_VSOCK_OP_RST, 77, lport, 0, NULL, 0);
}

/* The driver posts an event buffer (device-writable, one event long). */
static void ev_post(struct t *t, uint16_t d)
{
	set_desc(t, EV_DESC, d, EV_BUFS + 8ULL * d, sizeof(struct virtio_vsock_event),
		 VRING_DESC_F_WRITE, 0);
	avail_add(t, EV_AVAIL, d);
}

/*
 * After a restore the device puts a TRANSPORT_RESET in an event buffer,
 * and holds host clients until the driver has handled it (posted a buffer
 * again, as Linux does once it has reset its connected sockets): a client
 * let through before would be connected, then reset by the driver.
 */
static void test_restore_holds_clients_until_reset_seen(void **state)
{
	struct t *t = *state;
	struct vring_used *u = hva(t, EV_USED);
	uint16_t *avail_event = (uint16_t *)&u->ring[QN];
	struct virtio_vsock_event ev;
	struct vsock_pkt p;
	uint32_t lport;
	int fd;

	setup_vq_features(t, 2, EV_DESC, EV_AVAIL, EV_USED, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	ev_post(t, 0);
	ev_post(t, 1);
	rx_post(t, 8);
	pthread_mutex_lock(&t->vd->lock);
	assert_int_equal(t->vd->ops->restore(t->vd, NULL, 0), 0);
	pthread_mutex_unlock(&t->vd->lock);

	/* the reset, in the first event buffer, and an interrupt */
	assert_int_equal(le16toh(u->idx), 1);
	assert_int_equal(le32toh(u->ring[0].id), 0);
	memcpy(&ev, hva(t, EV_BUFS), sizeof(ev));
	assert_int_equal(le32toh(ev.id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	assert_true(t->irqs > 0);
	/* EVENT_IDX: kick us at the next buffer posted (avail idx is 2) */
	assert_int_equal(le16toh(*avail_event), 2);

	/* a client waits: no REQUEST reaches the guest */
	fd = client_connect(t->path);
	assert_int_equal(write(fd, "CONNECT 1024\n", 13), 13);
	for (int i = 0; i < 5; i++)
		virtio_vsock_poll(t->vd);
	assert_false(rx_get(t, &p, NULL));
	/* a kick with no buffer posted (the restore replays every queue's) */
	notify(t, 2);
	for (int i = 0; i < 5; i++)
		virtio_vsock_poll(t->vd);
	assert_false(rx_get(t, &p, NULL));

	/* the driver handled the reset and posted its buffer again */
	ev_post(t, 0);
	notify(t, 2);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(p.dst_port, 1024);
	lport = p.src_port;
	tx_send(t, VIRTIO_VSOCK_OP_RESPONSE, 1024, lport, 0, NULL, 0);
	char line[32] = { 0 }, want[32];
	assert_true(read_timeout(fd, line, sizeof(line) - 1, t) > 0);
	snprintf(want, sizeof(want), "OK %u\n", lport);
	assert_string_equal(line, want);
	close(fd);
	tx_send(t, VIRTIO_VSOCK_OP_RST, 1024, lport, 0, NULL, 0);
}

static void test_guest_initiated(void **state)
{
	struct t *t = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static uint8_t buf[70000];
	struct vsock_pkt p;
	int lfd, afd;
	size_t got = 0;

	assert_true(strlen(t->path) + 6 < sizeof(sa.sun_path));
	memcpy(sa.sun_path, t->path, strlen(t->path));
	memcpy(sa.sun_path + strlen(t->path), "_1234", 6);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	rx_post(t, 8);

	/* Nobody on port 99: RST. */
	tx_send(t, VIRTIO_VSOCK_OP_REQUEST, 5000, 99, 0, NULL, 0);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(p.dst_port, 5000);
	assert_int_equal(p.src_port, 99);

	/* Port 1234 listens: RESPONSE, then data both ways. */
	tx_send(t, VIRTIO_VSOCK_OP_REQUEST, 5001, 1234, 0, NULL, 0);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(p.src_port, 1234);
	assert_int_equal(p.dst_port, 5001);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);

	/* A full 64 KiB packet (the maximum) goes through. */
	for (size_t i = 0; i < 65536; i++)
		buf[i] = (uint8_t)(i * 13);
	tx_send(t, VIRTIO_VSOCK_OP_RW, 5001, 1234, 0, buf, 65536);
	while (got < 65536) {
		ssize_t r = read_timeout(afd, buf + 65536 + 0, 1, t);

		assert_int_equal(r, 1);
		assert_int_equal(buf[65536], (uint8_t)(got * 13));
		got++;
		if (got == 1) {
			/* Read the rest in bulk. */
			static uint8_t rest[65536];
			size_t n = 0;

			while (n < 65535) {
				ssize_t k = read_timeout(afd, rest + n, 65535 - n, t);

				assert_true(k > 0);
				n += (size_t)k;
			}
			for (size_t i = 0; i < n; i++)
				assert_int_equal(rest[i], (uint8_t)((i + 1) * 13));
			got += n;
		}
	}
	/* 64 KiB forwarded: a CREDIT_UPDATE is sent without asking. */
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(p.fwd_cnt, 65536);
	{
		/* The device's metrics carry the muxer's counters (control `metrics`). */
		char *js = NULL;
		size_t jl = 0;
		FILE *f = open_memstream(&js, &jl);

		vdev_metrics_json(t->vd, f);
		fclose(f);
		assert_non_null(strstr(js, "{\"device\":\"vsock\","));
		assert_non_null(strstr(js, ",\"dev\":{\"conns\":1,"));
		assert_non_null(strstr(js, "\"credit_updates\":1,"));
		assert_true(jl > 2 && !strcmp(js + jl - 2, "}}"));
		free(js);
	}

	assert_int_equal(write(afd, "hi", 2), 2);
	assert_true(rx_wait(t, &p, buf));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(buf, "hi", 2);

	/* Guest SHUTDOWN(SEND) -> the host reader sees EOF. */
	tx_send(t, VIRTIO_VSOCK_OP_SHUTDOWN, 5001, 1234, VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(read_timeout(afd, buf, 16, t), 0);
	/* Full shutdown: the device answers RST (§5.10.6.6). */
	tx_send(t, VIRTIO_VSOCK_OP_SHUTDOWN, 5001, 1234,
		VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV, NULL, 0);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	close(afd);
	close(lfd);
	unlink(sa.sun_path);
}

static void test_hostile_guest(void **state)
{
	struct t *t = *state;
	struct vsock_pkt p;
	uint16_t d;

	rx_post(t, 8);
	/* Unknown connection: RST. RST for unknown: silence. */
	tx_send(t, VIRTIO_VSOCK_OP_RW, 1, 2, 0, "x", 1);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	tx_send(t, VIRTIO_VSOCK_OP_RST, 1, 2, 0, NULL, 0);
	assert_false(rx_get(t, &p, NULL));
	/* Unknown op and wrong type: RST. */
	tx_send(t, 42, 1, 2, 0, NULL, 0);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	/* Header claims more payload than the chain has: RST. */
	{
		struct virtio_vsock_hdr h;
		struct vsock_pkt q = { .src_cid = CID,
				       .dst_cid = 2,
				       .src_port = 1,
				       .dst_port = 2,
				       .len = 1000,
				       .type = 1,
				       .op = VIRTIO_VSOCK_OP_RW };

		d = t->tx_sent++ % QN;
		vsock_hdr_encode(&q, &h);
		memcpy(hva(t, TX_BUFS), &h, sizeof(h));
		set_desc(t, TX_DESC, d, TX_BUFS, VSOCK_HDR_SIZE + 10, 0, 0);
		avail_add(t, TX_AVAIL, d);
		notify(t, 1);
		assert_true(rx_get(t, &p, NULL));
		assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	}
	/* Spoofed src_cid: dropped, no answer. */
	{
		struct virtio_vsock_hdr h;
		struct vsock_pkt q = {
			.src_cid = 99, .dst_cid = 2, .type = 1, .op = VIRTIO_VSOCK_OP_REQUEST
		};

		d = t->tx_sent++ % QN;
		vsock_hdr_encode(&q, &h);
		memcpy(hva(t, TX_BUFS), &h, sizeof(h));
		set_desc(t, TX_DESC, d, TX_BUFS, VSOCK_HDR_SIZE, 0, 0);
		avail_add(t, TX_AVAIL, d);
		notify(t, 1);
		assert_false(rx_get(t, &p, NULL));
	}
	assert_false(t->vd->needs_reset);
	/* TX chain shorter than a header: malformed ring, NEEDS_RESET. */
	d = t->tx_sent++ % QN;
	set_desc(t, TX_DESC, d, TX_BUFS, 10, 0, 0);
	avail_add(t, TX_AVAIL, d);
	notify(t, 1);
	assert_true(t->vd->needs_reset);
	/* Device reset brings it back. */
	pthread_mutex_lock(&t->vd->lock);
	t->vd->ops->reset(t->vd);
	pthread_mutex_unlock(&t->vd->lock);
}

static void test_create_errors(void **state)
{
	struct vdev *vd;
	char longp[200];

	(void)state;
	assert_int_equal(virtio_vsock_create(&vd, 2, "/tmp/x.sock", NULL), -EINVAL);
	assert_int_equal(virtio_vsock_create(&vd, 0xffffffffULL, "/tmp/x.sock", NULL), -EINVAL);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(virtio_vsock_create(&vd, 3, longp, NULL), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_connect),
		cmocka_unit_test(test_credit),
		cmocka_unit_test(test_txbuf),
		cmocka_unit_test(test_pkt_check),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_host_initiated, dev_setup, dev_teardown),
		cmocka_unit_test_setup_teardown(test_no_rx_buffers_then_refill, dev_setup,
						dev_teardown),
		cmocka_unit_test_setup_teardown(test_guest_initiated, dev_setup, dev_teardown),
		cmocka_unit_test_setup_teardown(test_restore_holds_clients_until_reset_seen,
						dev_setup, dev_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_guest, dev_setup, dev_teardown),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
