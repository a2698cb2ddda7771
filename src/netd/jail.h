/* silo-netd's jail (docs/security.md "silo-netd's jail"): no_new_privs, no
 * capabilities, no core dumps and one seccomp filter for the whole process,
 * entered once its sockets are bound and before its first thread. */
#ifndef SILO_NETD_JAIL_H
#define SILO_NETD_JAIL_H

#include <linux/filter.h>
#include <stddef.h>

#include "vmm/jail/seccomp.h" /* struct jail_rule: the allowlists' one format */

/* The allowlist (jail_allow.c), read only by the build-time compiler
 * jail-bpfgen, and its programs: [0] traps a refused call, [1] only has
 * the kernel log it (SILO_NETD_SECCOMP=log, for developing the list). */
extern const struct jail_rule netd_allow[];
extern const size_t netd_allow_len;
extern const struct sock_fprog netd_bpf[2];

/* NETD_EXIT_SECCOMP, the exit code after a refused syscall */
#include "proto/contract.h"

/* SILO_NETD_SECCOMP: unset or 1, the filter; "log", log only; 0, none.
 * A refused call is reported on stderr and, until ready is said, on
 * ready_fd as the start's error line (-1: none). 0 or -errno with *what
 * set to the step that failed. */
int netd_jail_enter(int ready_fd, const char **what);
/* Its own root with only the resolver's files, the libraries and the
 * directories of files[] (view.c); SILO_NETD_JAIL=0: none. Before
 * netd_jail_enter, which drops the capabilities this needs. 0 or -errno
 * with *what set to the step that failed. */
int netd_view_enter(const char *const files[], size_t nfiles, const char **what);
/* ready was said (ready_fd closed): the handler no longer writes there. */
void netd_jail_ready(void);

#endif
