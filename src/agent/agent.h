/* agent.h: silo-init internals shared by its files.
 * main.c: entry, accept loop, per-connection dispatch; init.c: PID-1 duties;
 * exec.c + pty.c: command sessions; files.c: file and tar operations;
 * docker.c: the private Docker daemon; trim.c: idle memory; net.c, netfwd.c,
 * netdns.c: the network (netfwd.h); restored.c: after a snapshot restore. */
#ifndef SILO_AGENT_H
#define SILO_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "proto/contract.h"
#include "proto/proto.h"

/* PATH for the agent, its daemons and commands whose request sets none
 * (docker exec's default). */
#define AGENT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Log one line to stderr (the console when PID 1), prefixed "silo-init: ". */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per-connection handlers. Each runs in its own forked process, owns the
 * stream fd and returns when the operation is over (the caller closes).
 * req is the first frame, already read through r. */
void exec_serve(int fd, struct proto_reader *r, const struct proto_frame *req);
void files_serve(int fd, struct proto_reader *r, const struct proto_frame *req);
/* restored.c: RESTORED; apply false (--listen on the host) validates the
 * frame and refuses to touch the machine. */
void restored_serve(int fd, const struct proto_frame *req, bool apply);

/* pty.c */
int pty_open(int *master, int *slave, uint16_t rows, uint16_t cols);
int pty_resize(int master, uint16_t rows, uint16_t cols);
pid_t pty_foreground(int master);
int pty_send_eof(int master);

/* Run a helper (tar) with stdin/stdout/stderr on the given fds
 * (-1 = /dev/null), searched in PATH. Returns the pid, or -errno. */
pid_t agent_spawn(char *const argv[], int in_fd, int out_fd, int err_fd);
/* Wait for pid; returns the wait status or -errno. */
int agent_wait(pid_t pid);

/* init.c: PID-1 duties (not run with --listen). init_early mounts /proc,
 * /sys, /dev and makes sure fds 0-2 are open; init_system does the rest. */
void init_early(void);
int init_system(void);
void init_poweroff(void) __attribute__((noreturn));

/* docker.c: start the guest's dockerd in the background when the root has
 * one; readiness appears as SILO_DOCKER_READY (or SILO_DOCKER_FAILED). */
pid_t docker_start(void); /* the watcher's pid, or -1 */

/* trim.c: hand the guest's page cache back to the host when idle (PID 1).
 * trim_configure(silo.idle_trim seconds, 0 = never); the serve loop reports
 * sessions it forks, the Docker watcher and every pid it reaps, polls at most
 * trim_poll_ms() (-1: no deadline) and calls trim_tick() after each wake-up. */
void trim_configure(unsigned idle_s);
void trim_kernel_setup(void); /* when configured: report free 4 KiB pages */
void trim_session(pid_t pid);
void trim_after(pid_t watcher);
void trim_reaped(pid_t pid);
int trim_poll_ms(void);
void trim_tick(void);
void trim_started(pid_t trimmer); /* trim_tick() forked it; a new session kills it */

#endif
