/* userns.h: a user namespace in which the caller stays who it was, for
 * the jail of silo-netd (src/netd/view.c) and the supervisor's clone of
 * silo-vmm (src/sandbox/supervise.c). Plain libc, no logging: callers say
 * what failed. (silo-vmm's own jail makes its user namespace in a task
 * that may not call libc: jail/maker.c does the same steps itself.) */
#ifndef SILO_VMM_JAIL_USERNS_H
#define SILO_VMM_JAIL_USERNS_H

#include <sys/types.h>

/* Write uid and gid (the ids the process had before its new user
 * namespace) as 1:1 maps of itself, setgroups denied first
 * (user_namespaces(7): an unprivileged process may map only its own ids,
 * gids only once setgroups is denied). 0 or -errno. */
int jail_map_ids(uid_t uid, gid_t gid);
/* unshare(CLONE_NEWUSER) and jail_map_ids of the ids before it: the
 * capabilities the next steps need (mount, pivot_root, other namespaces),
 * inside that namespace only. Single-threaded callers only (the kernel
 * refuses it otherwise). 0 or -errno, *what set to the failed step. */
int jail_own_user_ns(const char **what);

#endif
