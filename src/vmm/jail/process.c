/*
 * The process-wide part of silo-vmm's jail, entered once the VM is built
 * (every file is open, every socket bound) and before any thread starts:
 * namespaces of its own, no capabilities, rlimits. What it still cannot
 * do, and why, is in docs/security.md ("The jail").
 *
 * Order, each step needing the one before:
 *   1. unshare(CLONE_NEWUSER) when not root (the kernel refuses it in a
 *      multithreaded process: hence before vm_run), mapping our uid and
 *      gid to themselves so the files we already reach stay reachable; it
 *      gives us the capabilities the next step needs, inside that
 *      namespace only.
 *   2. unshare of the network, IPC, UTS and cgroup namespaces: an empty
 *      network namespace has no interface at all, so silo-vmm has no
 *      network even if its seccomp filter let a socket through (AF_UNIX
 *      sockets are files: the control and vsock sockets keep working).
 *   3. rlimits, only ever lowered: no core dump (it would hold guest
 *      memory), the open-file limit pinned at its current value.
 *   4. every capability dropped: the bounding set (needs CAP_SETPCAP, so
 *      before the rest), the ambient set, then effective, permitted and
 *      inheritable; and no_new_privs, so nothing can gain them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/jail/jail.h"
#include "vmm/log.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
}

/* Step 1: a user namespace in which we are who we were. */
static int own_user_ns(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int ret;

	if (unshare(CLONE_NEWUSER) < 0)
		return err_ret(-errno, "jail: a user namespace: %m (SILO_VMM_JAIL=0 runs without)");
	/* user_namespaces(7): setgroups must be denied before an
	 * unprivileged process may write gid_map */
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if ((ret = write_file("/proc/self/setgroups", "deny")) ||
	    (ret = write_file("/proc/self/uid_map", map)))
		return err_ret(ret, "jail: mapping uid %u: %s", (unsigned)uid, strerror(-ret));
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if ((ret = write_file("/proc/self/gid_map", map)))
		return err_ret(ret, "jail: mapping gid %u: %s", (unsigned)gid, strerror(-ret));
	return 0;
}

static int drop_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap) < 0 && errno != EINVAL)
			return err_ret(-errno, "jail: dropping capability %d: %m", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_ret(-errno, "jail: clearing ambient capabilities: %m");
	if (syscall(SYS_capset, &h, d) < 0)
		return err_ret(-errno, "jail: dropping capabilities: %m");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_ret(-errno, "jail: no_new_privs: %m");
	return 0;
}

int jail_enter_process(void)
{
	struct rlimit nofile, none = { 0, 0 };
	int ret;

	if (getuid() != 0 && (ret = own_user_ns()))
		return ret;
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
		return err_ret(-errno, "jail: namespaces: %m (SILO_VMM_JAIL=0 runs without)");
	if (setrlimit(RLIMIT_CORE, &none) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: rlimits: %m");
	nofile.rlim_max = nofile.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: RLIMIT_NOFILE: %m");
	return drop_caps();
}
