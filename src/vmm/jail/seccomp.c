/*
 * Loading the per-role seccomp filters (seccomp.h) with libseccomp, and the
 * SIGSYS handler that turns a refused syscall into one exit line.
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
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/contract.h"
#include "vmm/log.h"

static enum jail_mode jail_mode = JAIL_SECCOMP_OFF;
static int report_fd = -1;
/* The calling thread's role, for the SIGSYS handler's line. */
static __thread int thread_role = -1;

static const char *const role_names[JAIL_ROLES] = {
	[JAIL_MAIN] = "main",
	[JAIL_EVENT] = "event",
	[JAIL_IO] = "disk I/O",
	[JAIL_VCPU] = "vCPU",
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

static int add_rules(scmp_filter_ctx ctx, const struct jail_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++, r++) {
		int rc;

		if (r->arg_index < 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					      SCMP_CMP((unsigned)r->arg_index, SCMP_CMP_MASKED_EQ,
						       0xffffffffu, r->arg & 0xffffffffu));
		if (rc < 0)
			return err_ret(rc, "seccomp rule for syscall %d (%s): %s", r->nr, r->why,
				       strerror(-rc));
	}
	return 0;
}

int jail_seccomp_enter(enum jail_role role)
{
	static const struct {
		const struct jail_rule *r;
		const size_t *n;
	} lists[JAIL_ROLES] = {
		[JAIL_MAIN] = { jail_allow_main, &jail_allow_main_len },
		[JAIL_EVENT] = { jail_allow_event, &jail_allow_event_len },
		[JAIL_IO] = { jail_allow_io, &jail_allow_io_len },
		[JAIL_VCPU] = { jail_allow_vcpu, &jail_allow_vcpu_len },
	};
	scmp_filter_ctx ctx;
	int rc;

	if (jail_mode == JAIL_SECCOMP_OFF || role >= JAIL_ROLES)
		return 0;
	ctx = seccomp_init(jail_mode == JAIL_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return err_ret(-ENOMEM, "seccomp filter for the %s thread", role_names[role]);
	/* NO_NEW_PRIVS (libseccomp's default, SCMP_FLTATR_CTL_NNP): needed to
	 * load a filter without CAP_SYS_ADMIN, and wanted anyway: nothing this
	 * process could exec may gain privileges. */
	rc = add_rules(ctx, jail_allow_common, jail_allow_common_len);
	if (!rc)
		rc = add_rules(ctx, lists[role].r, *lists[role].n);
	if (!rc && (rc = seccomp_load(ctx)) < 0)
		rc = err_ret(rc, "loading the seccomp filter of the %s thread: %s",
			     role_names[role], strerror(-rc));
	seccomp_release(ctx);
	if (!rc)
		thread_role = (int)role;
	return rc;
}
