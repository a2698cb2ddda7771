/*
 * Unit tests for virtio-vsock's --vsock-peer streams (src/vmm/devices/virtio/
 * vsock/muxer.c, conn.c): a guest's connect to a peer port is one end of a
 * socketpair sent to the peer (silo-netd) with the port and flags; on the
 * CONNECT port the peer may give the destination's socket back with its
 * reply, and the connection then runs on that socket (docs/network.md).
 * The test plays silo-netd.
 */
#include "vsock_rig.h"

#include <errno.h>
#include <fcntl.h>

#include "proto/contract.h"
#include "proto/scm.h"
#include "vmm/log.h"

#define GPORT 6000 /* the guest's port */

static int peer_setup(void **state)
{
	static const uint32_t ports[] = { SILO_NET_PORT_DNS, SILO_NET_PORT_CONNECT };
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	dev_setup_env(state, sp[0], ports, 2);
	((struct t *)*state)->peer = sp[1];
	return 0;
}

static int peer_teardown(void **state)
{
	close(((struct t *)*state)->peer);
	return dev_teardown(state);
}

/* The guest connects to port; the peer's message: the port, the flags and
 * one stream, which is returned. */
static int guest_connects(struct t *t, uint32_t gport, uint32_t port, uint32_t *flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint32_t le[3] = { 0 };
	struct iovec iov = { le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct vsock_pkt p;
	int fd;

	tx_send(t, VIRTIO_VSOCK_OP_REQUEST, gport, port, 0, NULL, 0);
	assert_true(rx_get(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(recvmsg(t->peer, &mh, MSG_DONTWAIT), SILO_PEER_MSG_SIZE);
	assert_int_equal(le32toh(le[0]), port);
	*flags = le32toh(le[1]);
	assert_non_null(CMSG_FIRSTHDR(&mh));
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	return fd;
}

static void send_with_fds(int fd, const void *data, size_t len, const int *fds, unsigned int n)
{
	assert_int_equal(scm_send_fds(fd, data, len, fds, n, 0), (ssize_t)len);
}

/* Read exactly len bytes from fd, playing the event loop meanwhile. */
static void read_exact(struct t *t, int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read_timeout(fd, buf + got, len - got, t);

		assert_true(r > 0);
		got += (size_t)r;
	}
}

static uint64_t metric(struct t *t, const char *name)
{
	char *js = NULL, key[64], *at;
	size_t jl = 0;
	FILE *f = open_memstream(&js, &jl);
	uint64_t v;

	vdev_metrics_json(t->vd, f);
	fclose(f);
	snprintf(key, sizeof(key), "\"%s\":", name);
	at = strstr(js, key);
	assert_non_null(at);
	v = strtoull(at + strlen(key), NULL, 10);
	free(js);
	return v;
}

/* The whole hand-over: the guest's bytes before the socket came go through
 * the stream (the peer passes them on), the ones after wait and go to the
 * socket once the peer ended its side, in order; the destination's bytes
 * reach the guest; the guest's half-close reaches the destination. */
static void test_peer_gives_the_socket_back(void **state)
{
	struct t *t = *state;
	struct vsock_pkt p;
	char buf[64];
	uint32_t flags;
	int s, dst[2];

	rx_post(t, 8);
	/* DNS streams are relayed by the peer: no flag. */
	s = guest_connects(t, GPORT + 1, SILO_NET_PORT_DNS, &flags);
	assert_int_equal(flags, 0);
	close(s);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);

	s = guest_connects(t, GPORT, SILO_NET_PORT_CONNECT, &flags);
	assert_int_equal(flags, SILO_PEER_TAKES_SOCKET);
	tx_send(t, VIRTIO_VSOCK_OP_RW, GPORT, SILO_NET_PORT_CONNECT, 0, "HEADER+early", 12);
	read_exact(t, s, buf, 12);
	assert_memory_equal(buf, "HEADER+early", 12);

	/* The peer dialed: the reply goes with the destination's socket. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, dst), 0);
	send_with_fds(s, "REPLY", 5, &dst[1], 1);
	assert_true(rx_wait(t, &p, (uint8_t *)buf));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(p.len, 5);
	assert_memory_equal(buf, "REPLY", 5);

	/* The guest sends on; silo-vmm ends its side of the stream instead of
	 * writing to it: those bytes wait for the socket. */
	tx_send(t, VIRTIO_VSOCK_OP_RW, GPORT, SILO_NET_PORT_CONNECT, 0, "+late", 5);
	assert_int_equal(read_timeout(s, buf, sizeof(buf), t), 0);
	/* The peer passes on what it read (here, the early bytes) and ends. */
	assert_int_equal(write(dst[1], "early", 5), 5);
	close(dst[1]);
	assert_int_equal(metric(t, "sockets_taken"), 0);
	shutdown(s, SHUT_WR);
	read_exact(t, dst[0], buf, 10);
	assert_memory_equal(buf, "early+late", 10);
	assert_int_equal(metric(t, "sockets_taken"), 1);
	assert_int_equal(metric(t, "host_errors"), 0);
	close(s);

	/* From here the destination and the guest talk directly. */
	assert_int_equal(write(dst[0], "pong", 4), 4);
	assert_true(rx_wait(t, &p, (uint8_t *)buf));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(buf, "pong", 4);
	tx_send(t, VIRTIO_VSOCK_OP_SHUTDOWN, GPORT, SILO_NET_PORT_CONNECT,
		VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(read_timeout(dst[0], buf, sizeof(buf), t), 0);
	/* The destination ends too: the guest hears it. */
	close(dst[0]);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	tx_send(t, VIRTIO_VSOCK_OP_RST, GPORT, SILO_NET_PORT_CONNECT, 0, NULL, 0);
	tx_send(t, VIRTIO_VSOCK_OP_RST, GPORT + 1, SILO_NET_PORT_DNS, 0, NULL, 0);
	assert_int_equal(metric(t, "conns"), 0);
}

/* A peer that sends two descriptors, or a second socket, or one that is
 * not a socket: the connection ends with a RST to the guest, every
 * descriptor is closed, and the device goes on. */
static void test_peer_sends_what_it_should_not(void **state)
{
	struct t *t = *state;
	struct vsock_pkt p;
	char buf[16];
	uint32_t flags;
	int s, a[2], b[2], pp[2];

	rx_post(t, 12);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(pipe(pp), 0);

	/* two at once */
	s = guest_connects(t, GPORT, SILO_NET_PORT_CONNECT, &flags);
	send_with_fds(s, "R", 1, (int[]){ a[1], b[1] }, 2);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	close(s);

	/* a pipe */
	s = guest_connects(t, GPORT + 1, SILO_NET_PORT_CONNECT, &flags);
	send_with_fds(s, "R", 1, &pp[1], 1);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	close(s);

	/* a second socket after the first */
	s = guest_connects(t, GPORT + 2, SILO_NET_PORT_CONNECT, &flags);
	send_with_fds(s, "R", 1, &a[1], 1);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RW);
	send_with_fds(s, "S", 1, &b[1], 1);
	assert_true(rx_wait(t, &p, NULL));
	assert_int_equal(p.op, VIRTIO_VSOCK_OP_RST);
	close(s);

	/* Every copy silo-vmm got is closed: the other ends see EOF. */
	close(a[1]);
	close(b[1]);
	close(pp[1]);
	assert_int_equal(read_timeout(a[0], buf, sizeof(buf), t), 0);
	assert_int_equal(read_timeout(b[0], buf, sizeof(buf), t), 0);
	assert_int_equal(read_timeout(pp[0], buf, sizeof(buf), t), 0);
	assert_int_equal(metric(t, "conns"), 0);
	assert_int_equal(metric(t, "sockets_taken"), 0);
	close(a[0]);
	close(b[0]);
	close(pp[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peer_gives_the_socket_back, peer_setup,
						peer_teardown),
		cmocka_unit_test_setup_teardown(test_peer_sends_what_it_should_not, peer_setup,
						peer_teardown),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
