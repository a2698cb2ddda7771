/* client.h: host-side library for talking to silo-init (the guest agent).
 *
 * Names: aclient_* ("agent client") and ACLIENT_*, so that host code that
 * talks to the agent never reads like the agent itself, whose own code in
 * src/agent/ uses agent_*.
 *
 * Addresses:  "vsock:PATH"  the VMM's hybrid-vsock Unix socket; we send
 *                           "CONNECT <SILO_AGENT_PORT>\n" and expect "OK <n>\n"
 *             "unix:PATH"   silo-init --listen unix:PATH (host tests)
 * Every call opens its own stream (one stream per operation, as the protocol
 * wants), so calls are independent and may run concurrently from threads.
 * Calls return 0 on success and -1 on failure with *err filled: code is an
 * errno value (the agent's, for remote failures) and msg one readable line.
 * Nothing here raises SIGPIPE or touches signal dispositions.
 *
 * No call waits for the guest for ever (a hung or hostile guest must not
 * hang the host side): see struct aclient_timeouts. A timeout fails the call
 * with code ETIMEDOUT.
 */
#ifndef SILO_CLIENT_H
#define SILO_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"

struct aclient_err {
	int code;
	bool remote;	    /* the agent reported it (ERROR or EXEC_FAILED frame) */
	uint32_t exec_step; /* EXEC_FAILED: EXEC_STEP_*; else 0 */
	char msg[PROTO_MSG_MAX + 128];
};

/* How long a call waits for the agent, in ms (0 in a field given to
 * aclient_set_timeouts keeps the default):
 *   connect_ms  connect(2) plus the CONNECT/OK handshake, one deadline;
 *   request_ms  the whole answer to ping, stat, mkdir, shutdown, and for
 *               exec the agent's STARTED: one deadline from the request;
 *   idle_ms     streams (tar and file transfers, ls, remove, exec input
 *               and output before STARTED): the longest the agent may stay
 *               silent or stop reading; long transfers are legitimate.
 * After STARTED an exec waits for the command without a timeout (it may
 * print nothing for hours), unless it has timeout_ms: then for at most
 * timeout_ms + connect_ms, even if the agent never reports the kill. */
struct aclient_timeouts {
	uint32_t connect_ms, request_ms, idle_ms;
};
#define ACLIENT_CONNECT_MS 10000u /* the VMM answers CONNECT once the guest accepts */
#define ACLIENT_REQUEST_MS 30000u /* a stat in a busy nested guest, with room to spare */
#define ACLIENT_IDLE_MS	   60000u

/* Set or read the timeouts of the calling thread's agent calls (each
 * thread starts with the defaults above). */
void aclient_set_timeouts(const struct aclient_timeouts *t);
void aclient_get_timeouts(struct aclient_timeouts *t);

/* Open a stream to the agent; returns the fd or -1. The fd is blocking,
 * with SO_RCVTIMEO and SO_SNDTIMEO of idle_ms: a read or write that makes
 * no progress for that long fails with EAGAIN (proto_io: -ETIMEDOUT). */
int aclient_connect(const char *addr, struct aclient_err *err);

int aclient_ping(const char *addr, uint32_t *version, struct aclient_err *err);

struct aclient_exec_opts {
	const char *const *argv; /* NULL-terminated, argv[0] searched in PATH */
	const char *const *env;	 /* NULL-terminated "K=V" overrides, or NULL */
	const char *cwd;	 /* NULL: the user's home, else / */
	const char *user;	 /* NULL: the agent's (root in the guest) */
	bool tty;		 /* remote pty; stderr arrives on stdout */
	uint16_t rows, cols;	 /* initial pty size */
	uint32_t timeout_ms;	 /* 0: none; else SIGKILL + EXIT_F_TIMEOUT */
	int in_fd;		 /* forwarded as stdin until EOF; -1: /dev/null */
	int out_fd, err_fd;	 /* where output goes; -1: discarded */
	/* Optional: each byte readable here is a signal number. SIGWINCH
         * sends RESIZE with tty_fd's window size; others become SIGNAL for
         * the remote process group. Lets a CLI forward signals without the
         * library installing handlers. -1: none. */
	int sig_fd;
	int tty_fd; /* local terminal for SIGWINCH, or -1 */
};

/* Run a command; on success *x holds how it ended. A command that could
 * not be started (not found, bad user, bad cwd) is an error with
 * err->remote set and err->exec_step saying which step failed: "not
 * found" is EXEC_STEP_EXEC with err->code ENOENT. */
int aclient_exec(const char *addr, const struct aclient_exec_opts *o, struct proto_exit *x,
		 struct aclient_err *err);

/* Trees as tar streams: put extracts in_fd's tar under dest (created if
 * missing); get writes a tar of path (one member named basename(path)). */
int aclient_put_tar(const char *addr, const char *dest, int in_fd, struct aclient_err *err);
int aclient_get_tar(const char *addr, const char *path, int out_fd, struct aclient_err *err);

/* The same downloads pulled one DATA payload at a time, so the caller
 * bounds what it keeps (client_rx.c). rx_file gives the mode and size the
 * guest announced. read returns the payload length (*buf valid until the
 * next call), 0 at END, -1 on error (then discard what was read). */
struct aclient_rx;
struct aclient_rx *aclient_rx_tar(const char *addr, const char *path, struct aclient_err *err);
struct aclient_rx *aclient_rx_file(const char *addr, const char *path, uint32_t *mode,
				   uint64_t *size, struct aclient_err *err);
long aclient_rx_read(struct aclient_rx *rx, const void **buf, struct aclient_err *err);
void aclient_rx_close(struct aclient_rx *rx);

/* Single files, streamed in 64 KiB frames. get stores the remote mode in
 * *mode if non-NULL. */
int aclient_put_file(const char *addr, int in_fd, uint32_t mode, const char *dest,
		     struct aclient_err *err);
int aclient_get_file(const char *addr, const char *src, int out_fd, uint32_t *mode,
		     struct aclient_err *err);

/* Stat result: strings copied, owned by the struct. */
struct aclient_stat {
	struct proto_stat st;
	char name[PROTO_PATH_MAX], link[PROTO_PATH_MAX];
};
int aclient_stat(const char *addr, const char *path, bool follow, struct aclient_stat *out,
		 struct aclient_err *err);
/* cb gets every entry (not "." or ".."), unsorted; non-zero stops. */
int aclient_list(const char *addr, const char *path,
		 int (*cb)(const struct proto_stat *st, void *arg), void *arg,
		 struct aclient_err *err);
int aclient_mkdir(const char *addr, const char *path, uint32_t mode, bool parents,
		  struct aclient_err *err);
int aclient_remove(const char *addr, const char *path, bool recursive, struct aclient_err *err);
/* Ask the guest to sync, unmount and power off; returns once acknowledged. */
int aclient_shutdown(const char *addr, struct aclient_err *err);
/* Tell a guest just restored from a snapshot (docs/snapshots.md) to take
 * PROTO_ENTROPY_LEN fresh bytes of getrandom() and reseed its RNG, the
 * host's CLOCK_REALTIME (read just before sending), hostname and
 * machine_id (NULL: a random one); returns once the agent applied all of
 * it. An invalid hostname or machine_id is EINVAL before anything is sent. */
int aclient_restored(const char *addr, const char *hostname, const char *machine_id,
		     struct aclient_err *err);

#endif
