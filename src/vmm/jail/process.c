/*
 * The process-wide part of silo-vmm's jail: namespaces of its own, an empty
 * root, no capabilities, rlimits. What it still cannot do, and why, is in
 * docs/security.md ("The jail").
 *
 * Two calls. jail_start(), at the top of main, and jail_enter_process(),
 * once the VM is built (every file open, every socket bound) and before
 * any thread of the VM starts. Between them a short-lived copy of silo-vmm
 * (jail_maker_main) makes the namespaces and the empty root while we build
 * the VM: a network namespace alone costs ~4 ms under TCG (setup_net runs
 * every pernet init), the empty root ~1.5 ms and the passwd read ~3 ms, a
 * tenth of the start if done in line (issue 18's budget is 5 %).
 * Namespaces belong to tasks, so we then join the copy's with setns(2) on
 * its pidfd, and it exits. Why a new program (posix_spawn: vfork and exec,
 * we wait for its exec only) and not a thread or a fork: a thread shares
 * our address space, and its faults and our mmaps took turns on the mmap
 * lock (lab: its work took 3x as long and slowed the build); a fork has
 * its own, but leaves every page we write afterwards to a copy-on-write
 * fault (lab: +14 ms of our CPU).
 *
 * Order, each step needing the one before:
 *   1. (the copy) when not root, unshare(CLONE_NEWUSER), mapping its uid
 *      and gid to themselves so the files we already reach stay
 *      reachable: it gives the copy the capabilities the next steps need
 *      (exec left it none), inside that namespace only, and the namespaces
 *      made next belong to it.
 *   2. (the copy) unshare of the mount, network, IPC, UTS and cgroup
 *      namespaces: an empty network namespace has no interface at all, so
 *      silo-vmm has no network even if its seccomp filter let a socket
 *      through (the control and vsock sockets are bound already and keep
 *      working). The cgroup namespace is rooted at the group the
 *      supervisor put us in before exec, which the copy inherits.
 *   3. (the copy) an empty root (empty_root): a read-only tmpfs with
 *      nothing in it becomes / and the host's tree is detached, so no path
 *      reaches a host file whatever a filter lets through (the PID
 *      namespace comes from the supervisor, supervise.c: a process cannot
 *      enter one itself). Needs the mount namespace and CAP_SYS_ADMIN of
 *      steps 1-2.
 *   4. (jail_enter_process) setns into all of the copy's namespaces at
 *      once on its pidfd, its user namespace first (when not root: we own
 *      it, being its creator's uid one level up, so we may, and get its
 *      capabilities for the steps below). Joining its mount namespace
 *      moves our root and working directory to its (empty) root. Both
 *      need a process with no other thread: none runs yet. Then the copy
 *      may exit.
 *   5. rlimits, only ever lowered: no core dump (it would hold guest
 *      memory), the open-file limit pinned at its current value.
 *   6. the bounding and ambient capability sets dropped (the bounding set
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
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
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

#ifndef __SANITIZE_ADDRESS__
/* Step 3. /proc is a directory every Linux host has: a tmpfs mounted on it
 * in our own mount namespace (private, so the host sees nothing) is the
 * empty directory pivot_root needs; pivot_root(".", ".") stacks the old
 * root under the new one, and detaching it leaves only the tmpfs
 * (pivot_root(2), NOTES). Then read-only: nothing can be created there.
 * In the copy: 0 or -errno, *what the step. */
static int empty_root(const char **what)
{
	*what = "making the mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	*what = "an empty tmpfs for the root";
	if (mount("silo-vmm", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=4k,nr_inodes=2,mode=0500") < 0)
		return -errno;
	*what = "pivot_root into an empty root";
	if (chdir("/proc") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -errno;
	*what = "the empty root read-only";
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return -errno;
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

/* Steps 2 and 3, made by the copy; what it tells us on its pipe. */
#define JAIL_NS (CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

struct ns_report {
	int ret; /* 0 or -errno of the step in what */
	char what[48];
	uid_t uid;
	gid_t gid;
};

static struct {
	pid_t pid; /* 0: none */
	int pidfd;
	int report; /* read end: the copy's ns_report */
	int hold;   /* write end: the copy lives until it closes */
} maker = { 0, -1, -1, -1 };

/* Every descriptor but stdio, a and b (a < b, both > 2) closed. */
static int keep_only(int a, int b)
{
	if (a > 3 && close_range(3, (unsigned)a - 1, 0) < 0)
		return -errno;
	if (b > a + 1 && close_range((unsigned)a + 1, (unsigned)b - 1, 0) < 0)
		return -errno;
	return close_range((unsigned)b + 1, ~0U, 0) < 0 ? -errno : 0;
}

/* silo-vmm JAIL_MAKER_ARG PARENT REPORT HOLD: the copy's body. It holds
 * none of the VM's descriptors (nobody waits on an end it holds), dies
 * with its parent, and lives until the parent closes HOLD. */
int jail_maker_main(int argc, char **argv)
{
	struct ns_report r = { 0 };
	const char *what = "its descriptors";
	int report, hold;
	char c;

	if (argc != 5)
		return 2;
	report = atoi(argv[3]);
	hold = atoi(argv[4]);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != atoi(argv[2]) || report < 3 || hold < 3 || report == hold)
		return 2;
	r.ret = keep_only(report < hold ? report : hold, report < hold ? hold : report);
	if (!r.ret && getuid() != 0)
		r.ret = jail_own_user_ns(&what);
	if (!r.ret) {
		what = "namespaces"; /* not the user namespace's last step */
		if (unshare(JAIL_NS) < 0)
			r.ret = -errno;
	}
	if (!r.ret && getuid() == 0)
		dedicated_ids(&r.uid, &r.gid);
#ifndef __SANITIZE_ADDRESS__
	/* The sanitizer's leak check reads /proc/self at exit: an ASan build
	 * keeps the host's tree (as it keeps its filters in log mode). */
	if (!r.ret)
		r.ret = empty_root(&what);
#endif
	snprintf(r.what, sizeof(r.what), "%s", what);
	if (write(report, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	while (read(hold, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* The copy, started: posix_spawn (vfork and exec: we wait only for its
 * exec), its two pipe ends passed by number (a dup2 onto itself clears
 * close-on-exec). 0 or -errno, *what the step. */
static int spawn_maker(int report, int hold, const char **what)
{
	char parent[16], rep[16], hol[16];
	char *argv[] = { "silo-vmm", JAIL_MAKER_ARG, parent, rep, hol, NULL };
	char *envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int ret;

	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	snprintf(rep, sizeof(rep), "%d", report);
	snprintf(hol, sizeof(hol), "%d", hold);
	*what = "starting a copy of itself to make them";
	if ((ret = posix_spawn_file_actions_init(&fa)))
		return -ret;
	ret = posix_spawn_file_actions_adddup2(&fa, report, report);
	if (!ret)
		ret = posix_spawn_file_actions_adddup2(&fa, hold, hold);
	if (!ret)
		ret = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return -ret;
	maker.pid = pid;
	*what = "a pidfd of the copy";
	/* no reuse of pid before we read the copy's report: it lives until
	 * we close hold */
	maker.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return maker.pidfd < 0 ? -errno : 0;
}

int jail_start(void)
{
	int rep[2], hold[2], ret;
	const char *what;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return err_ret(-errno, "jail: a pipe: %m");
	if (pipe2(hold, O_CLOEXEC) < 0) {
		ret = -errno;
		close(rep[0]);
		close(rep[1]);
		return err_ret(ret, "jail: a pipe: %m");
	}
	/* SIGCHLD ignored: the kernel reaps the copy when it ends (silo-vmm
	 * has no other child), after step 4 has joined its namespaces */
	signal(SIGCHLD, SIG_IGN);
	ret = spawn_maker(rep[1], hold[0], &what);
	close(rep[1]);
	close(hold[0]);
	maker.report = rep[0];
	maker.hold = hold[1];
	if (ret) {
		int err = err_ret(ret, "jail: namespaces: %s: %s (SILO_VMM_JAIL=0 runs without)",
				  what, strerror(-ret));
		if (maker.pid)
			kill(maker.pid, SIGKILL);
		close(maker.report);
		close(maker.hold);
		maker.pid = 0;
		return err;
	}
	return 0;
}

/* Step 4, and the copy's end; *uid and *gid the dedicated ids it read. */
static int join_namespaces(uid_t *uid, gid_t *gid)
{
	struct ns_report r;
	ssize_t n;
	int ret = 0;

	if (!maker.pid)
		return err_ret(-EINVAL, "jail: jail_start was not called");
	while ((n = read(maker.report, &r, sizeof(r))) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(r))
		ret = err_ret(n < 0 ? -errno : -EPIPE,
			      "jail: its namespaces' copy of silo-vmm ended early");
	else if (r.ret)
		ret = err_ret(r.ret, "jail: %s: %s (SILO_VMM_JAIL=0 runs without)", r.what,
			      strerror(-r.ret));
	else if (setns(maker.pidfd, JAIL_NS | (getuid() ? CLONE_NEWUSER : 0)) < 0)
		ret = err_ret(-errno, "jail: joining its namespaces: %m");
	else {
		*uid = r.uid;
		*gid = r.gid;
	}
	close(maker.report);
	close(maker.hold);
	close(maker.pidfd);
	maker.pid = 0;
	return ret;
}

int jail_enter_process(void)
{
	struct rlimit nofile, none = { 0, 0 };
	uid_t uid = 0;
	gid_t gid = 0;
	int ret = join_namespaces(&uid, &gid);

	if (ret)
		return ret;
	if (setrlimit(RLIMIT_CORE, &none) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: rlimits: %m");
	nofile.rlim_max = nofile.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_ret(-errno, "jail: RLIMIT_NOFILE: %m");
	return drop_caps(getuid() == 0, uid, gid);
}
