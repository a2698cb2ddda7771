/*
 * Resource arguments of silo-vmm: a host path, or "fd:N", a descriptor the
 * launcher opened for it (docs/silo-vmm.md "Descriptors instead of paths").
 * Under silo, the supervisor opens every file and binds every socket, then
 * execs silo-vmm with fd:N in their place (src/sandbox/vmm_fds.c): the
 * process that faces the guest never held the right to open them. By hand,
 * paths still work.
 */
#ifndef SILO_VMM_FDARG_H
#define SILO_VMM_FDARG_H

#include <stdbool.h>
#include <stddef.h>

#define FDARG_PREFIX "fd:"

/* arg names a descriptor ("fd:..."). */
bool fdarg_is_fd(const char *arg);
/* "fd:N" with N >= 3 (not stdio): N, or -1. */
int fdarg_number(const char *arg);
/*
 * The file arg names, opened with flags (O_RDONLY, O_RDWR, ...; O_CLOEXEC
 * is added): open(2) of a path, or the inherited fd:N, whose access mode
 * must allow flags'. Either way the caller owns the result, close-on-exec;
 * an inherited number is moved there, so naming it twice fails (EBADF).
 * -errno on failure.
 */
int fdarg_open(const char *arg, int flags);
/*
 * A listening Unix stream socket, non-blocking and close-on-exec: fd:N must
 * be one (else -ENOTSOCK); a path is bound owner-only (umask 077) with
 * backlog, replacing a dead process's socket file and refusing a live one's
 * (-EADDRINUSE). -errno on failure.
 */
int fdarg_listen(const char *arg, int backlog);
/* Take inherited fd (fd:N, or one of an fd:A,B,... list) as fdarg_open
 * does: its access mode checked against flags, moved to a close-on-exec
 * number the caller owns. */
int fdarg_take(int fd, int flags);
/* bind+listen on path as fdarg_listen does (the launcher's half). */
int unix_listen_path(const char *path, int backlog);
/*
 * "fd:A,B,...": exactly n numbers, each >= 3, into fds; false otherwise.
 * (A console file and a snapshot come as several descriptors.)
 */
bool fdarg_list(const char *arg, int *fds, size_t n);

#endif
