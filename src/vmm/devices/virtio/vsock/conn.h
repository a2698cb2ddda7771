/*
 * One vsock stream connection between a guest AF_VSOCK socket and a host
 * AF_UNIX socket: state machine, credit accounting and the bounded buffer for
 * guest data the host socket could not take yet (VIRTIO 1.2 §5.10.6.3, Firecracker
 * csm/connection.rs + csm/txbuf.rs; VIRTIO 1.2 §5.10.6.3 for credit).
 */
#ifndef SILO_VMM_VSOCK_CONN_H
#define SILO_VMM_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/devices/virtio/vsock/packet.h"

/*
 * Our buf_alloc, which is also the size of a connection's TX ring. 256 KiB
 * (Linux's own default socket buffer, VIRTIO_VSOCK_DEFAULT_BUF_SIZE) rather
 * than one 64 KiB packet: with a one-packet window the guest's sender stops
 * after every packet until our credit update reaches it, so guest-to-host
 * streams ran at one packet per round trip. We announce every 64 KiB
 * forwarded, so the guest never sees less than 192 KiB of credit minus what
 * is in transit. Lab, bench/agent.py get of 256 MiB: 22-35 MB/s before,
 * 49-139 MB/s after (docs/lab.md).
 */
#define VSOCK_CONN_BUF_SIZE	  (256U * 1024)
#define VSOCK_CREDIT_UPDATE_BYTES VSOCK_MAX_PKT_LEN
#define VSOCK_CONNECT_TIMEOUT_MS  2000 /* REQUEST / CONNECT line */
#define VSOCK_SHUTDOWN_TIMEOUT_MS 2000 /* graceful close, then RST */

struct vsock_mux;

enum vsock_conn_state {
	VC_FREE = 0,
	VC_HANDSHAKE,  /* host client accepted, reading "CONNECT <port>\n" */
	VC_LOCAL_INIT, /* REQUEST queued/sent to the guest, waiting for RESPONSE */
	VC_PEER_INIT,  /* guest REQUEST accepted, RESPONSE queued */
	VC_ESTABLISHED,
	VC_CLOSING, /* full close under way: flush, then RST (deadline armed) */
};

/* Packets a connection wants to send to the guest (pulled when RX has room). */
#define VC_PEND_REQUEST	       (1U << 0)
#define VC_PEND_RESPONSE       (1U << 1)
#define VC_PEND_RW	       (1U << 2)
#define VC_PEND_SHUTDOWN       (1U << 3)
#define VC_PEND_CREDIT_UPDATE  (1U << 4)
#define VC_PEND_CREDIT_REQUEST (1U << 5)

/*
 * Credit state, all free-running u32 (§5.10.6.3: the counters wrap).
 *   rx_cnt     bytes we sent to the guest
 *   fwd_cnt    guest bytes we wrote to the host socket
 *   last_fwd_cnt_to_peer  fwd_cnt in the last packet we sent
 *   peer_buf_alloc / peer_fwd_cnt  from the guest's latest packet
 */
struct vsock_credit {
	uint32_t rx_cnt, fwd_cnt, last_fwd_cnt_to_peer;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
};

/* Bytes we may still send to the guest: peer_buf_alloc - (rx_cnt - peer_fwd_cnt). */
uint32_t vsock_credit_peer_avail(const struct vsock_credit *c);
/* Guest's view of our free space dropped below the threshold (VIRTIO 1.2 §5.10.6.3). */
bool vsock_credit_peer_needs_update(const struct vsock_credit *c);
/* Stamp our buf_alloc/fwd_cnt into an outgoing packet. */
void vsock_credit_stamp(struct vsock_credit *c, struct vsock_pkt *p);

/* Ring buffer of guest bytes not yet written to the host socket (allocated lazily). */
struct vsock_txbuf {
	uint8_t *buf;
	uint32_t head, len;
};

/* Append len bytes of iov (after skip). -ENOBUFS if it would overflow the ring. */
int vsock_txbuf_push(struct vsock_txbuf *t, const struct iovec *iov, unsigned int cnt, size_t skip,
		     uint32_t len);
/* Write as much as the socket takes; returns bytes written or -errno (not EAGAIN). */
long vsock_txbuf_flush(struct vsock_txbuf *t, int fd);
void vsock_txbuf_free(struct vsock_txbuf *t);

struct vsock_conn {
	enum vsock_conn_state state;
	int fd;
	uint32_t gen;	      /* bumped on reuse: stale epoll events are ignored */
	uint32_t local_port;  /* host side port (our src_port) */
	uint32_t peer_port;   /* guest side port */
	bool guest_knows;     /* guest saw REQUEST or sent one: kill => RST */
	bool local_eof;	      /* host socket read EOF; SHUTDOWN(SEND) queued/sent */
	bool hup;	      /* host peer closed both directions */
	bool peer_no_send;    /* guest SHUTDOWN SEND */
	bool peer_no_rcv;     /* guest SHUTDOWN RCV */
	bool wr_shut;	      /* shutdown(SHUT_WR) done on fd */
	bool credit_req_sent; /* CREDIT_REQUEST outstanding */
	bool takes_socket;    /* a peer stream whose reply may bring a socket */
	int next_fd;	      /* that socket, until the peer drained our stream (-1) */
	uint32_t shut_flags;  /* flags of the pending SHUTDOWN */
	uint32_t pending;     /* VC_PEND_* */
	uint32_t events;      /* epoll interest now registered (0: not in epoll) */
	uint64_t deadline;    /* CLOCK_MONOTONIC ms, 0 = none */
	struct vsock_credit cr;
	struct vsock_txbuf tx;
	uint8_t line_len; /* CONNECT line bytes consumed so far */
	char line[33];
	int hnext;	    /* hash chain / free list */
	int rxprev, rxnext; /* RX wait list (-1 terminated) */
	bool in_rxq;
};

/* Epoll interest the connection needs now (0 = leave it out of epoll). */
uint32_t vsock_conn_events(const struct vsock_conn *c);

/* A validated guest packet for this connection (payload = iov after skip). */
void vsock_conn_guest_pkt(struct vsock_mux *m, struct vsock_conn *c, const struct vsock_pkt *p,
			  const struct iovec *iov, unsigned int cnt, size_t skip);

/* Host socket readiness. */
void vsock_conn_host_event(struct vsock_mux *m, struct vsock_conn *c, uint32_t events);

/*
 * vsock_conn_rx_next - the op of the next packet for the guest, or 0 when the
 * connection has nothing to send after all. Decided before an RX chain is
 * popped so a popped chain is always filled. *avail = readable bytes for RW.
 */
uint16_t vsock_conn_rx_next(struct vsock_mux *m, struct vsock_conn *c, uint32_t *avail);

/*
 * vsock_conn_rx_fill - build packet op (from rx_next) into p and, for RW,
 * read payload from the host socket into iov (space bytes). Returns payload
 * bytes. May kill c (then p becomes an RST for it).
 */
uint32_t vsock_conn_rx_fill(struct vsock_mux *m, struct vsock_conn *c, uint16_t op, uint32_t avail,
			    struct vsock_pkt *p, const struct iovec *iov, unsigned int cnt,
			    uint32_t space);

#endif
