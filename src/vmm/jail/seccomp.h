/*
 * silo-vmm's seccomp filters, one per thread role (docs/security.md).
 *
 * Each thread loads the filter of its role before it does anything the
 * guest can influence: a vCPU thread before its first KVM_RUN, the event
 * and disk threads before their first epoll_wait, the main thread once it
 * has started the others and only waits. Filters are per thread (no TSYNC),
 * so a thread's filter is the only one it runs under: threads are created
 * by the main thread before it loads its own (threads.c, runstate.c).
 *
 * A syscall outside the list does not run. In the default mode the thread
 * gets SIGSYS, and the handler writes "killed by seccomp: syscall N (ROLE
 * thread)" to the log and to --exit-fd, then ends the process with
 * VMM_EXIT_SECCOMP. SILO_VMM_SECCOMP=log lets such calls through and has
 * the kernel log them instead (developing an allowlist); =0 loads nothing.
 */
#ifndef SILO_VMM_JAIL_SECCOMP_H
#define SILO_VMM_JAIL_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

enum jail_role { JAIL_MAIN, JAIL_EVENT, JAIL_IO, JAIL_VCPU, JAIL_ROLES };

enum jail_mode { JAIL_SECCOMP_OFF, JAIL_SECCOMP_LOG, JAIL_SECCOMP_KILL };

/* One allowed syscall. With arg_index >= 0 only calls whose argument
 * arg_index equals arg (compared as 32 bits: ioctl requests and socket
 * families are ints in the kernel) are allowed. */
struct jail_rule {
	int nr;
	int arg_index;
	uint64_t arg;
	const char *why;
};

/* The allowlists, one file each (allow_*.c), one line per syscall. */
extern const struct jail_rule jail_allow_common[], jail_allow_main[], jail_allow_event[],
	jail_allow_io[], jail_allow_vcpu[];
extern const size_t jail_allow_common_len, jail_allow_main_len, jail_allow_event_len,
	jail_allow_io_len, jail_allow_vcpu_len;

/* Process-wide, once, before any thread is created: the mode, the fd the
 * SIGSYS handler reports to (-1 for none), and the handler itself. 0 or
 * -errno. */
int jail_seccomp_init(enum jail_mode mode, int report_fd);

/* Load role's filter on the calling thread. 0 or -errno (context recorded
 * with err_ret). A no-op when the mode is off. */
int jail_seccomp_enter(enum jail_role role);

const char *jail_role_name(enum jail_role role);

/* Test builds only (testhook.c): a thread of role checks whether it was
 * asked to attempt a forbidden call; the control command that asks. */
#ifdef SILO_VMM_TEST_HOOKS
#include <stdio.h>
struct vm;
void jail_test_poll(enum jail_role role);
void jail_test_request(struct vm *vm, const char *role, FILE *reply);
#else
static inline void jail_test_poll(enum jail_role role)
{
	(void)role;
}
#endif

#endif
