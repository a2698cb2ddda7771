/*
 * The vsock muxer (docs/silo-vmm.md "vsock: the host side", Firecracker
 * vsock/unix/muxer.rs): the Unix listener, the connection table keyed by
 * (local_port, peer_port), one nested epoll fd for the listener, the timer and
 * every connection socket, and the queue of connections with packets for the
 * guest. Single-threaded: the device calls in with vd->lock held.
 */
#ifndef SILO_VMM_VSOCK_MUXER_H
#define SILO_VMM_VSOCK_MUXER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/un.h>

#include "vmm/devices/virtio/vsock/conn.h"

#define VSOCK_MAX_CONNS	       1023 /* Firecracker defs::MAX_CONNECTIONS */
#define VSOCK_HASH_SIZE	       1024
#define VSOCK_RST_RING	       2048 /* RSTs for connections that no longer exist */
#define VSOCK_CONNECT_LINE_MAX 32   /* "CONNECT <port>\n", at most 32 bytes (docs/silo-vmm.md) */
#define VSOCK_LOCAL_PORT_FIRST (1U << 30)

struct vdev;

struct vsock_metrics {
	uint64_t conns_added, conns_removed, conn_limit;
	uint64_t pkts_from_guest, pkts_to_guest, bytes_from_guest, bytes_to_guest;
	uint64_t rst_to_guest, rst_dropped, credit_updates, credit_requests;
	uint64_t bad_pkt, bad_src_cid, bad_connect_line, txbuf_overflow, timeouts, host_errors;
	uint64_t sockets_taken; /* peer streams that became the socket the peer gave back */
};

struct vsock_rst {
	uint32_t local_port, peer_port;
};

#define VSOCK_MAX_PEER_PORTS 8

struct vsock_mux {
	struct vdev *vd; /* for vdev_warn/err stats; NULL in pure tests */
	uint64_t guest_cid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, epfd, timer_fd;
	/* --vsock-peer: guest-initiated connections to peer_ports are
	 * socketpairs whose other end goes to peer_fd (with the port)
	 * instead of a connect to "<path>_<port>", so silo-vmm needs no path
	 * to reach silo-netd. -1: every port by path. */
	int peer_fd;
	uint32_t peer_ports[VSOCK_MAX_PEER_PORTS];
	unsigned int nr_peer_ports;
	bool active;		/* driver is up: accept host clients */
	uint32_t listen_events; /* listener interest now registered */
	uint32_t local_port_last;
	uint64_t timer_at;	 /* armed deadline (ms), 0 = disarmed */
	unsigned int connect_ms; /* REQUEST / CONNECT line deadline */
	unsigned int nr_conns;
	int free_head;
	int hash[VSOCK_HASH_SIZE];
	int rx_head, rx_tail; /* connections with pending packets */
	struct vsock_rst rst[VSOCK_RST_RING];
	unsigned int rst_head, rst_count;
	struct vsock_metrics m;
	struct vsock_conn conns[VSOCK_MAX_CONNS];
};

/* Host-side setup: bind and listen on path. Returns 0 or -errno. */
int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, const char *path);
/* Close everything, unlink the listener path. */
void vsock_mux_fini(struct vsock_mux *m);
/* Device reset / activation: drop every connection (no RSTs: the guest forgot them). */
void vsock_mux_reset(struct vsock_mux *m);
void vsock_mux_set_active(struct vsock_mux *m, bool active);

/* Handle everything ready on the nested epoll fd (no blocking). */
void vsock_mux_poll(struct vsock_mux *m);

/* One guest TX packet, already header-copied; payload = iov after skip. */
void vsock_mux_guest_pkt(struct vsock_mux *m, const struct vsock_pkt *p, const struct iovec *iov,
			 unsigned int cnt, size_t skip, uint32_t avail);
/* Guest TX must wait: too many replies are queued for an RX queue with no room. */
bool vsock_mux_tx_stalled(const struct vsock_mux *m);

/*
 * RX production in two steps so a popped chain is always used:
 * rx_ready() prepares the next packet (true if there is one), rx_fill()
 * writes it into the chain's writable iovecs and returns bytes written.
 */
struct vsock_rx_next {
	int slot; /* -1: an RST from the ring */
	uint16_t op;
	uint32_t avail;
};
bool vsock_mux_rx_ready(struct vsock_mux *m, struct vsock_rx_next *n);
uint32_t vsock_mux_rx_fill(struct vsock_mux *m, const struct vsock_rx_next *n,
			   const struct iovec *iov, unsigned int cnt, uint32_t space);

/*
 * vsock_parse_connect - parse the host client's "CONNECT <port>\n" from the
 * first len bytes of buf. Returns the line length (> 0) with *port set, 0 if
 * more bytes are needed, -EINVAL if malformed or longer than 32 bytes.
 */
int vsock_parse_connect(const char *buf, size_t len, uint32_t *port);

/* Internal to conn.c/muxer.c. */
void vsock_mux_kill(struct vsock_mux *m, struct vsock_conn *c, bool rst);
void vsock_mux_update(struct vsock_mux *m, struct vsock_conn *c);
/* Host-initiated: allocate the local port and enter the table. */
void vsock_mux_key_conn(struct vsock_mux *m, struct vsock_conn *c);
void vsock_mux_queue_rst(struct vsock_mux *m, uint32_t local_port, uint32_t peer_port);
void vsock_mux_set_deadline(struct vsock_mux *m, struct vsock_conn *c, unsigned int ms);
void vsock_mux_guest_err(struct vsock_mux *m, uint64_t *counter, const char *what);
uint64_t vsock_now_ms(void);

void vsock_mux_metrics_json(const struct vsock_mux *m, FILE *f);

#endif
