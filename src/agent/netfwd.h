/* netfwd.h: the guest's network daemon (netfwd.c, netdns.c), run by net.c
 * in a child of PID 1. Shared between its two files; nothing else uses it.
 *
 * Each connection gets a thread of its own while it lasts (a worker kept
 * from earlier tasks when one is idle, net/workers.h), with blocking-free
 * I/O (non-blocking sockets and poll with timeouts), so no peer can stall
 * another. Redirected connections are taken by threads that wait in
 * accept(2) and serve what they accept (netfwd.c, fwd_acceptors); one thread
 * accepts on the other listeners and hands each connection to a worker.
 * The number of such threads is bounded (NETFWD_MAX_TASKS); beyond it a
 * published-port or DNS connection is refused at once and a redirected one
 * waits in the listen backlog. UDP DNS queries are served by one thread of
 * their own (netdns.c).
 */
#ifndef SILO_AGENT_NETFWD_H
#define SILO_AGENT_NETFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NETFWD_MAX_TASKS    256	 /* connections in flight */
#define NETFWD_VSOCK_TMO_MS 5000 /* connecting to the host over vsock */

/* net.c: PID 1's part. net_setup: interface, resolv.conf, iptables (0, or
 * -1 after logging what is missing); net_start: the supervised daemon. */
int net_setup(void);
pid_t net_start(void);

/* netfwd.c */
int netfwd_main(void); /* the daemon; returns only when it cannot serve */
/* Run fn(arg) on a detached thread when fewer than NETFWD_MAX_TASKS run;
 * -1 (nothing started) otherwise. */
int netfwd_spawn(void *(*fn)(void *), void *arg);
void netfwd_task_done(void);
/* Connect to the host (CID 2) on a vsock port: a non-blocking fd, or -errno. */
int netfwd_vsock_connect(unsigned port);
/* The same without waiting: a non-blocking fd whose connect completed
 * (*done) or is in progress (then POLLOUT, and SO_ERROR tells how it
 * ended), or -errno. */
int netfwd_vsock_start(unsigned port, bool *done);
/* Exactly n bytes, each wait at most ms: 0, -ETIMEDOUT, -EPIPE (the stream
 * ended first) or -errno. fd is non-blocking. */
int netfwd_read_full(int fd, void *buf, size_t n, int ms);
int netfwd_write_full(int fd, const void *buf, size_t n, int ms);
/* Copy bytes both ways until both directions ended, passing each end of
 * stream on as shutdown(SHUT_WR) (half-close). idle_ms < 0: no idle limit.
 * 0 when both sides ended cleanly; -1 on an error or an idle timeout. */
int netfwd_relay(int a, int b, int idle_ms);
/* Close a TCP socket with a reset (SO_LINGER 0), the only way left to tell
 * a client whose handshake already completed that its destination failed. */
void netfwd_reset(int fd);

/* netdns.c: the DNS stub on SILO_NET_DNS_ADDR:53. */
void *netdns_tcp_client(void *arg); /* arg: the client fd, as intptr_t */
/* Serve the UDP socket on a thread of its own, not counted as a task: 0 or
 * -errno (no thread started). */
int netdns_udp_start(int ufd);

#endif
