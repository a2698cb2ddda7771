/*
 * The process-wide part of silo-vmm's jail: namespaces of its own, an empty
 * root, no capabilities, rlimits. What it still cannot do, and why, is in
 * docs/security.md ("The jail").
 *
 * Two calls. jail_start(), at the top of main, and jail_enter_process(),
 * once the VM is built (every file open, every socket bound) and before
 * any thread of the VM starts. Between them a task of our own (maker.c,
 * which says why it is made as it is) makes the namespaces and the empty
 * root while we build the VM; we then join them.
 *
 * Order, each step needing the one before:
 *   1. (the task) when not root, unshare(CLONE_NEWUSER), mapping its uid
 *      and gid to themselves so the files we already reach stay
 *      reachable: it gives the task the capabilities the next steps need,
 *      inside that namespace only, and the namespaces made next belong to
 *      it.
 *   2. (the task) unshare of the mount, network, IPC, UTS and cgroup
 *      namespaces: an empty network namespace has no interface at all, so
 *      silo-vmm has no network even if its seccomp filter let a socket
 *      through (the control and vsock sockets are bound already and keep
 *      working). The cgroup namespace is rooted at the group the
 *      supervisor put us in before exec, which the task shares.
 *   3. (the task) a descriptor of each of those namespaces, then an empty
 *      root: a read-only tmpfs with nothing in it becomes / and the host's
 *      tree is detached, so no path reaches a host file whatever a filter
 *      lets through (the PID namespace comes from the supervisor,
 *      supervise.c: a process cannot enter one itself). Needs the mount
 *      namespace and CAP_SYS_ADMIN of steps 1-2. The task exits.
 *   4. (jail_enter_process) setns on each descriptor, the user namespace
 *      first (when not root: we own it, being its creator's uid one level
 *      up, so we may, and get its capabilities for the rest). Joining the
 *      mount namespace moves our root and working directory to its
 *      (empty) root. Both need a process with no other thread and its own
 *      filesystem context: no thread runs yet, and the task never shared
 *      ours.
 *   5. rlimits, only ever lowered: no core dump (it would hold guest
 *      memory), the open-file limit pinned at its current value.
 *   6. the bounding and ambient capability sets dropped (the bounding set
 *      needs CAP_SETPCAP, so before we lose it), then, when started as
 *      root, the dedicated uid and gid (read by the task), then effective,
 *      permitted and inheritable dropped and no_new_privs, so nothing can
 *      gain them back.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/jail/jail.h"
#include "vmm/jail/maker.h"
#include "vmm/log.h"

static int drop_caps(bool root, uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	/* up to the running kernel's last capability, which may be past our
	 * headers' CAP_LAST_CAP: EINVAL says we are past it */
	for (int cap = 0;; cap++)
		if (prctl(PR_CAPBSET_DROP, cap) < 0) {
			if (errno == EINVAL)
				break;
			return err_ret(-errno, "jail: dropping capability %d: %m", cap);
		}
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
	uid_t uid = 0;
	gid_t gid = 0;
	int ret = jail_join_namespaces(&uid, &gid);

	if (ret)
		return ret;
	if (setrlimit(RLIMIT_CORE, &none) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: rlimits: %m");
	nofile.rlim_max = nofile.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: RLIMIT_NOFILE: %m");
	return drop_caps(getuid() == 0, uid, gid);
}
