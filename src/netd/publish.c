/* src/netd/publish.c: published ports, host -> guest.
 *
 * A client connected to HOST_IP:HOST_PORT. We reach the guest through
 * silo-vmm's vsock socket (docs/agent-protocol.md: "CONNECT 1025\n", then
 * "OK <hostport>\n"), send a FORWARD header (wire.h) naming the guest port,
 * read the guest's reply header, and relay. Whatever goes wrong, the client
 * gets a reset: it already completed its handshake with us, so an EOF
 * would look like a server that answered nothing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/wire.h"
#include "netd/netd.h"

/* "OK 1073741824\n" and some slack; a longer line is not silo-vmm's */
#define OK_LINE_MAX 32

/* Read silo-vmm's one-line answer, byte by byte so nothing after the
 * newline (the guest's reply header) is consumed. */
static int read_ok_line(int fd)
{
	char line[OK_LINE_MAX + 1];
	size_t i = 0;

	while (i < OK_LINE_MAX) {
		long r = netd_read_full(fd, line + i, 1, NETD_HEADER_MS);
		if (r <= 0)
			return -ECONNRESET;
		if (line[i] == '\n') {
			line[i] = '\0';
			return strncmp(line, "OK ", 3) == 0 ? 0 : -ECONNREFUSED;
		}
		i++;
	}
	return -EPROTO;
}

/* The guest side of one published connection: a stream to the guest's
 * port-1025 listener with the FORWARD exchange done. fd, or -errno with
 * *why set. */
static int open_guest(struct netd *n, uint16_t guest_port, const char **why)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[32];
	uint8_t hdr[WIRE_FORWARD_SIZE], rep[WIRE_REPLY_SIZE];
	enum wire_status st;
	int fd, ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", n->vsock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = "socket";
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		*why = "the VM's vsock socket does not answer (is the sandbox running?)";
		goto fail;
	}
	snprintf(cmd, sizeof(cmd), "CONNECT %u\n", WIRE_PORT_FORWARD);
	if ((ret = netd_write_all(fd, cmd, strlen(cmd))) < 0) {
		*why = "writing CONNECT to the VM";
		goto fail;
	}
	if ((ret = read_ok_line(fd)) < 0) {
		*why = "no guest listener on vsock port 1025 (is the guest network up?)";
		goto fail;
	}
	wire_forward_encode(guest_port, hdr);
	if ((ret = netd_write_all(fd, hdr, sizeof(hdr))) < 0) {
		*why = "writing the FORWARD header";
		goto fail;
	}
	long got = netd_read_full(fd, rep, sizeof(rep), NETD_HEADER_MS);
	if (got < 0 || wire_reply_decode(rep, (size_t)got, &st) != WIRE_OK) {
		ret = -EPROTO;
		*why = "the guest's reply header was missing or malformed";
		goto fail;
	}
	if (st != WIRE_CONNECTED) {
		ret = -ECONNREFUSED;
		*why = wire_status_str(st);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

void netd_publish(struct netd *n, const struct net_publish *p, int fd)
{
	char dest[NET_CIDR_STRLEN + 16];
	const char *why = "?";
	int g;

	netd_fmt_dest(&p->host, p->host_port, dest, sizeof(dest));
	g = open_guest(n, p->guest_port, &why);
	if (g < 0) {
		netd_log_event(n, "error publish - %s guest port %u: %s", dest, p->guest_port, why);
		netd_close_reset(fd);
		return;
	}
	netd_count(n, &n->stats.published);
	/* the host client's bytes as the guest's server wrote them (egress.c
	 * says why) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	netd_relay(fd, g);
	close(g);
	close(fd);
}
