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
 *   2. unshare of the mount, network, IPC, UTS and cgroup namespaces: an
 *      empty network namespace has no interface at all, so silo-vmm has no
 *      network even if its seccomp filter let a socket through (the
 *      control and vsock sockets are bound already and keep working).
 *   3. an empty root (empty_root): a read-only tmpfs with nothing in it
 *      becomes / and the host's tree is detached, so no path reaches a
 *      host file whatever a filter lets through (the PID namespace comes
 *      from the supervisor, supervise.c: a process cannot enter one
 *      itself). Needs the mount namespace and CAP_SYS_ADMIN of step 2.
 *   4. rlimits, only ever lowered: no core dump (it would hold guest
 *      memory), the open-file limit pinned at its current value.
 *   5. the bounding and ambient capability sets dropped (the bounding set
 *      needs CAP_SETPCAP, so before we lose it), then, when started as
 *      root, the dedicated uid and gid (dedicated_ids), then effective,
 *      permitted and inheritable dropped and no_new_privs, so nothing can
 *      gain them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/jail/jail.h"
#include "vmm/jail/userns.h"
#include "vmm/log.h"

/* Step 1: a user namespace in which we are who we were. */
static int own_user_ns(void)
{
	const char *what;
	int ret = jail_own_user_ns(&what);

	return ret ? err_ret(ret, "jail: %s: %s (SILO_VMM_JAIL=0 runs without)", what,
			     strerror(-ret))
		   : 0;
}

#ifndef __SANITIZE_ADDRESS__
/* Step 3. /proc is a directory every Linux host has: a tmpfs mounted on it
 * in our own mount namespace (private, so the host sees nothing) is the
 * empty directory pivot_root needs; pivot_root(".", ".") stacks the old
 * root under the new one, and detaching it leaves only the tmpfs
 * (pivot_root(2), NOTES). Then read-only: nothing can be created there. */
static int empty_root(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_ret(-errno, "jail: making the mounts private: %m");
	if (mount("silo-vmm", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=4k,nr_inodes=2,mode=0500") < 0)
		return err_ret(-errno, "jail: an empty tmpfs for the root: %m");
	if (chdir("/proc") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return err_ret(-errno, "jail: pivot_root into an empty root: %m");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return err_ret(-errno, "jail: the empty root read-only: %m");
	return 0;
}
#endif

/* Started as root: the ids of the "silo-vmm" system user when the host has
 * one (made by the package, in /etc/passwd as system users are), else
 * nobody/nogroup (65534). Not root (a user namespace maps only our own ids)
 * there is nothing to choose. Read before the empty root hides the file,
 * with fgetpwent rather than getpwnam: a system user for one daemon is a
 * local one, and the name service (nsswitch.conf, its modules loaded and
 * asked in turn) cost more than the rest of the jail (lab: getpwnam 7-10
 * ms of a start, fgetpwent 3-4 ms). */
static void dedicated_ids(uid_t *uid, gid_t *gid)
{
	FILE *f = fopen("/etc/passwd", "re");
	struct passwd *pw;

	*uid = *gid = 65534;
	while (f && (pw = fgetpwent(f)))
		if (!strcmp(pw->pw_name, "silo-vmm")) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			break;
		}
	if (f)
		fclose(f);
}

static int drop_caps(bool root, uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap) < 0 && errno != EINVAL)
			return err_ret(-errno, "jail: dropping capability %d: %m", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_ret(-errno, "jail: clearing ambient capabilities: %m");
	/* groups first: setgroups needs CAP_SETGID, which setresuid ends */
	if (root && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		     setresuid(uid, uid, uid) < 0))
		return err_ret(-errno, "jail: becoming uid %u gid %u: %m", (unsigned)uid,
			       (unsigned)gid);
	if (syscall(SYS_capset, &h, d) < 0)
		return err_ret(-errno, "jail: dropping capabilities: %m");
#ifdef __SANITIZE_ADDRESS__
	/* The uid change made us undumpable, and the leak check at exit
	 * ptraces our threads from a helper of our own uid: an ASan build
	 * stays traceable (a release build does not). */
	if (root)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_ret(-errno, "jail: no_new_privs: %m");
	return 0;
}

int jail_enter_process(void)
{
	struct rlimit nofile, none = { 0, 0 };
	bool root = getuid() == 0;
	uid_t uid = 0;
	gid_t gid = 0;
	int ret;

	if (root)
		dedicated_ids(&uid, &gid);
	if (!root && (ret = own_user_ns()))
		return ret;
	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
		return err_ret(-errno, "jail: namespaces: %m (SILO_VMM_JAIL=0 runs without)");
#ifndef __SANITIZE_ADDRESS__
	/* The sanitizer's leak check reads /proc/self at exit: an ASan build
	 * keeps the host's tree (as it keeps its filters in log mode). */
	if ((ret = empty_root()))
		return ret;
#endif
	if (setrlimit(RLIMIT_CORE, &none) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: rlimits: %m");
	nofile.rlim_max = nofile.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: RLIMIT_NOFILE: %m");
	return drop_caps(root, uid, gid);
}
