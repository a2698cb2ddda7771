/*
 * silo-netd's jail: what the broker can still do if a guest's bytes take it
 * over. It parses every byte the guest sends to the network, so it gets
 * the same second wall as silo-vmm (src/vmm/jail/), minus what it needs to
 * be a network broker: it keeps the host's network and filesystem view
 * (it dials the host's network and getaddrinfo reads /etc), and loses
 * everything else.
 *
 * Order (setup() in main.c calls this once the log is open and every
 * socket is bound, before the stats and connection threads exist, so the
 * one filter covers every thread: a filter is inherited by the threads
 * created after it, and no SECCOMP_FILTER_FLAG_TSYNC is needed):
 *   1. no core dump (it would hold the guest's traffic, and the secrets
 *      it adds to it): RLIMIT_CORE 0, and not dumpable, which also holds
 *      for a core_pattern pipe (that ignores the limit) and keeps
 *      /proc/PID/mem and ptrace to root;
 *   2. every capability dropped (as root: the bounding set first, which
 *      needs CAP_SETPCAP; rootless there are none);
 *   3. no_new_privs, which loading a filter without CAP_SYS_ADMIN needs;
 *   4. the SIGSYS handler, then the filter. A refused call traps; the
 *      handler writes "silo-netd: killed by seccomp: syscall N" to stderr
 *      (the sandbox's netd log) and ends the process, as silo-vmm's does.
 */
#include "netd/jail.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The supervisor's ready pipe until "ready" is said: a refused call during
 * start-up is then the start's one-line error. */
static volatile int report_fd = -1;

void netd_jail_ready(void)
{
	report_fd = -1;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "silo-netd: killed by seccomp: syscall ";
	static const char err[] = "error: silo-netd was killed by seccomp: syscall ";
	char num[16];
	size_t n = sizeof(num);
	unsigned v = (unsigned)si->si_syscall;
	int fd = report_fd;

	(void)sig;
	(void)uc;
	num[--n] = '\n';
	do
		num[--n] = (char)('0' + v % 10);
	while ((v /= 10) && n > 0);
	if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0 ||
	    write(STDERR_FILENO, num + n, sizeof(num) - n) < 0) {
		/* the exit code still says it */
	}
	if (fd >= 0 &&
	    (write(fd, err, sizeof(err) - 1) < 0 || write(fd, num + n, sizeof(num) - n) < 0)) {
		/* the supervisor sees the pipe end */
	}
	syscall(SYS_exit_group, NETD_EXIT_SECCOMP);
}

static int drop_caps(const char **what)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	*what = "dropping capabilities";
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap) < 0 && errno != EINVAL && errno != EPERM)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

int netd_jail_enter(int ready_fd, const char **what)
{
	const char *env = getenv("SILO_NETD_SECCOMP");
	struct rlimit none = { 0, 0 };
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
#ifdef __SANITIZE_ADDRESS__
	/* The sanitizer runtime makes calls of its own at any time (leak
	 * checks at exit ptrace the threads): an ASan build loads the same
	 * filter in log mode, as silo-vmm's does. */
	bool log_only = true;
#else
	bool log_only = env && !strcmp(env, "log");
#endif
	int ret;

	*what = "SILO_NETD_SECCOMP wants 1, log or 0";
	if (env && *env && strcmp(env, "0") && strcmp(env, "1") && strcmp(env, "log"))
		return -EINVAL;
	*what = "RLIMIT_CORE";
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return -errno;
	*what = "PR_SET_DUMPABLE";
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	if ((ret = drop_caps(what)))
		return ret;
	*what = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (env && !strcmp(env, "0"))
		return 0;
	report_fd = ready_fd;
	*what = "the SIGSYS handler";
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	*what = "loading the seccomp filter";
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &netd_bpf[log_only]) < 0)
		return -errno;
#ifdef SILO_NETD_TEST_HOOKS
	/* test builds only (tests/e2e/test_netd.py): a call no list allows */
	if (getenv("SILO_NETD_TEST_SYSCALL"))
		syscall(SYS_getppid);
#endif
	return 0;
}
