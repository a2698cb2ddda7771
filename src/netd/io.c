/* src/netd/io.c: blocking I/O helpers for the connection threads: bounded
 * reads, whole writes, and the two-way relay with half-close. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netd/netd.h"

/* Relay buffer per direction: on the thread's stack (NETD_STACK_SIZE).
 * 64 KiB, vsock's largest packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE): fewer,
 * larger reads and writes per MiB relayed, which is what a download costs
 * in this process. */
#define RELAY_BUF 65536

int64_t netd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t netd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long netd_read_full(int fd, void *buf, size_t len, int ms)
{
	int64_t deadline = netd_now_ms() + ms;
	size_t have = 0;

	while (have < len) {
		int64_t left = deadline - netd_now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0)
			break;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		ssize_t n = read(fd, (char *)buf + have, len - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (long)have;
}

int netd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		/* MSG_NOSIGNAL would be neater, but fd may be a file;
                 * SIGPIPE is ignored process-wide (main.c). */
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void netd_close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* One direction's step: read from `from`, write all of it to `to`.
 * 1: bytes moved, 0: EOF (half-close passed on), -1: error. */
static int pump(int from, int to, uint64_t *moved)
{
	char buf[RELAY_BUF];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0)
		return (errno == EINTR || errno == EAGAIN) ? 1 : -1;
	if (n == 0) {
		/* TCP half-close (RFC 9293 §3.6): the peer is done sending,
                 * but may still read our answer. */
		shutdown(to, SHUT_WR);
		return 0;
	}
	if (netd_write_all(to, buf, (size_t)n) < 0)
		return -1;
	*moved += (uint64_t)n;
	return 1;
}

uint64_t netd_relay(int a, int b)
{
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	uint64_t moved = 0;

	/* A direction that ended gets fd -1: poll then ignores it, where
         * an fd with POLLHUP would wake us forever. */
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto reset;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			int k = pump(p[i].fd, i ? a : b, &moved);
			if (k < 0)
				goto reset;
			if (k == 0)
				p[i].fd = -1;
		}
	}
	return moved;
reset:
	/* An error on one side (a reset, a dead peer) is passed on as a
         * reset on the other: an EOF there would look like a clean end. */
	{
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(a, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		setsockopt(b, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	return moved;
}

void netd_fmt_dest(const struct net_addr *a, uint16_t port, char *buf, size_t len)
{
	char s[NET_CIDR_STRLEN];

	if (net_addr_format(a, s, sizeof(s)) < 0)
		snprintf(s, sizeof(s), "?");
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", s, port);
	else
		snprintf(buf, len, "%s:%u", s, port);
}
