/*
 * Loading the per-role seccomp filters (seccomp.h), compiled at build time
 * from the allowlists by jail-bpfgen (bpfgen.c), and the SIGSYS handler that
 * turns a refused syscall into one exit line.
 *
 * Why SCMP_ACT_TRAP and not KILL_PROCESS: the kernel's kill says nothing
 * about which call it was, and "killed by seccomp: syscall N" is what an
 * operator needs to tell an attack from a missing allowlist line. The
 * handler only writes and exits; rt_sigaction is in no allowlist, so
 * nothing can replace it once the filters are loaded. (Firecracker does the
 * same: SECCOMP_RET_TRAP and a SIGSYS handler that logs and exits.)
 */
#include "vmm/jail/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/contract.h"
#include "vmm/log.h"

static enum jail_mode jail_mode = JAIL_SECCOMP_OFF;
static int report_fd = -1;
/* The calling thread's role, for the SIGSYS handler's line. */
static __thread int thread_role = -1;

static const char *const role_names[JAIL_ROLES] = {
	[JAIL_MAIN] = "main", [JAIL_EVENT] = "event",	    [JAIL_IO] = "disk I/O",
	[JAIL_VCPU] = "vCPU", [JAIL_PREFETCH] = "prefetch", [JAIL_EVENT_PATHS] = "event",
};

const char *jail_role_name(enum jail_role role)
{
	return role < JAIL_ROLES ? role_names[role] : "?";
}

/* Async-signal-safe pieces for the handler: no stdio, no malloc. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
	char d[24];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(d));
	while (n && at < cap)
		buf[at++] = d[--n];
	return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[160];
	size_t n = 0, cap = sizeof(line) - 1;
	int role = thread_role;

	(void)sig;
	(void)uc;
	n = put_str(line, n, cap, "killed by seccomp: syscall ");
	n = put_uint(line, n, cap, (unsigned long)si->si_syscall);
	n = put_str(line, n, cap, " in the ");
	n = put_str(line, n, cap, role >= 0 ? role_names[role] : "unfiltered");
	n = put_str(line, n, cap, " thread (exit ");
	n = put_uint(line, n, cap, VMM_EXIT_SECCOMP);
	n = put_str(line, n, cap, ")\n");
	/* The same two places report_exit() writes (main.c): silo-vmm's
	 * stderr, and the supervisor's exit pipe. */
	if (write(STDERR_FILENO, "silo-vmm: ", 10) < 0 || write(STDERR_FILENO, line, n) < 0) {
		/* nothing else to tell */
	}
	if (report_fd >= 0 && write(report_fd, line, n) < 0) {
		/* the supervisor still sees the exit code */
	}
	syscall(SYS_exit_group, VMM_EXIT_SECCOMP);
}

int jail_seccomp_init(enum jail_mode mode, int fd)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	jail_mode = mode;
	report_fd = fd;
	if (mode != JAIL_SECCOMP_KILL)
		return 0;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return err_ret(-errno, "SIGSYS handler: %m");
	return 0;
}

int jail_seccomp_enter(enum jail_role role)
{
	if (jail_mode == JAIL_SECCOMP_OFF || role >= JAIL_ROLES)
		return 0;
	/* no_new_privs: needed to load a filter without CAP_SYS_ADMIN, and
	 * wanted anyway: nothing this process could exec may gain privileges.
	 * Per thread, as the filter (no SECCOMP_FILTER_FLAG_TSYNC). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_ret(-errno, "no_new_privs on the %s thread: %m", role_names[role]);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
		    &jail_bpf[role][jail_mode == JAIL_SECCOMP_LOG]) < 0)
		return err_ret(-errno, "loading the seccomp filter of the %s thread: %m",
			       role_names[role]);
	thread_role = (int)role;
	return 0;
}
