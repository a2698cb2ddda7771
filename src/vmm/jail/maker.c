/*
 * Steps 1-3 of the jail (process.c gives the whole order): the namespaces
 * and the empty root, made by a task of their own while the VM is built,
 * then joined (step 4). A network namespace alone costs ~4 ms under TCG
 * (setup_net runs every pernet init), the empty root ~1.5 ms, the passwd
 * read ~3 ms: a tenth of the start if done in line (issue 18's budget is
 * 5 %).
 *
 * The task is made with clone(2) CLONE_VM | CLONE_FILES: it shares our
 * memory and our descriptor table, so starting it costs no exec (a copy
 * of silo-vmm through posix_spawn kept us waiting 9-18 ms for its exec in
 * the lab, and its dynamic linking then ran beside our build) and no
 * copy-on-write faults (a fork: +14 ms of our CPU in the lab); what it
 * opens lands in our table. It is still a process of its own (no
 * CLONE_THREAD, no CLONE_FS), with its own credentials, namespaces and
 * root, so its unshare and pivot_root change only itself. It opens a
 * descriptor of each namespace it made, leaves its result in `maker`, and
 * exits; we wait for that exit on its pidfd and join each namespace with
 * setns(2) on its descriptor (a namespace outlives its last task while a
 * descriptor holds it).
 *
 * It runs on our main thread's TLS (no CLONE_SETTLS: glibc sets up TLS
 * for its own threads only) at the same time as that thread. So it calls
 * nothing of libc that may write thread state, errno included: its system
 * calls are raw (sys(), -errno returned) and its helpers use nothing else.
 * glibc's own posix_spawn child lives by the same rule, with its parent
 * stopped; ours runs on, which is the point.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/jail/jail.h"
#include "vmm/jail/maker.h"
#include "vmm/log.h"

#ifndef __x86_64__
#error "sys() below is the x86-64 system call convention"
#endif

/* The namespaces the task makes, joined in this order: its user namespace
 * first (not root only), whose capabilities the others then need. */
static const struct {
	int flag;
	const char *path;
} ns_files[] = {
	{ CLONE_NEWUSER, "/proc/self/ns/user" }, { CLONE_NEWNS, "/proc/self/ns/mnt" },
	{ CLONE_NEWNET, "/proc/self/ns/net" },	 { CLONE_NEWIPC, "/proc/self/ns/ipc" },
	{ CLONE_NEWUTS, "/proc/self/ns/uts" },	 { CLONE_NEWCGROUP, "/proc/self/ns/cgroup" },
};
#define NR_NS	(sizeof(ns_files) / sizeof(ns_files[0]))
/* step 2: all of the above but the user namespace */
#define JAIL_NS (CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

/* Shared with the task: it writes, we read once waitid has seen it end. */
static struct {
	pid_t pid; /* 0: none */
	int pidfd;
	bool root;
	int ret;	  /* 0 or -errno of the step in what */
	const char *what; /* a string constant */
	int ns_fd[NR_NS]; /* -1: not made */
	uid_t uid;
	gid_t gid;
} maker = { .pidfd = -1 };

/* Its stack; 64 KiB of .bss costs only the pages it touches. */
static char maker_stack[64 * 1024] __attribute__((aligned(16)));
/* The passwd read, a chunk at a time. */
static char pw_buf[16 * 1024];

/* A system call that returns -errno and writes no errno. */
static long sys(long nr, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

#define S(p) ((long)(p))

static long write_file(const char *path, const char *text, long len)
{
	long fd = sys(SYS_openat, AT_FDCWD, S(path), O_WRONLY | O_CLOEXEC, 0, 0), n;

	if (fd < 0)
		return fd;
	n = sys(SYS_write, fd, S(text), len, 0, 0);
	sys(SYS_close, fd, 0, 0, 0, 0);
	return n == len ? 0 : n < 0 ? n : -EIO;
}

/* "ID ID 1\n" into buf (24 bytes); its length. */
static long id_map(char *buf, unsigned int id)
{
	char digits[10];
	long n = 0, len = 0;

	do
		digits[n++] = (char)('0' + id % 10);
	while ((id /= 10));
	for (int twice = 0; twice < 2; twice++) {
		for (long i = n; i > 0; i--)
			buf[len++] = digits[i - 1];
		buf[len++] = ' ';
	}
	buf[len++] = '1';
	buf[len++] = '\n';
	return len;
}

/* Step 1 (not root): a user namespace mapping our uid and gid to
 * themselves, so the files we already reach stay reachable; it gives the
 * task the capabilities the next steps need, inside it only. */
static long own_user_ns(void)
{
	char map[24];
	long uid = sys(SYS_getuid, 0, 0, 0, 0, 0), gid = sys(SYS_getgid, 0, 0, 0, 0, 0), ret;

	maker.what = "a user namespace";
	if ((ret = sys(SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0)))
		return ret;
	maker.what = "mapping its uid and gid";
	if ((ret = write_file("/proc/self/setgroups", "deny", 4)) ||
	    (ret = write_file("/proc/self/uid_map", map, id_map(map, (unsigned)uid))))
		return ret;
	return write_file("/proc/self/gid_map", map, id_map(map, (unsigned)gid));
}

int jail_passwd_ids(const char *text, size_t len, uid_t *uid, gid_t *gid)
{
	static const char name[] = "silo-vmm:";
	const char *end = text + len;

	for (const char *p = text; p < end;) {
		const char *q = p;
		unsigned long long ids[2] = { 0, 0 };
		size_t i = 0;
		bool ok = true;

		while (i < sizeof(name) - 1 && q < end && *q == name[i])
			q++, i++;
		ok = i == sizeof(name) - 1;
		while (ok && q < end && *q != ':' && *q != '\n') /* the password field */
			q++;
		for (int f = 0; ok && f < 2; f++) {
			ok = q < end && *q == ':' && ++q < end && *q >= '0' && *q <= '9';
			while (ok && q < end && *q >= '0' && *q <= '9' && ids[f] <= 0xffffffffULL)
				ids[f] = ids[f] * 10 + (unsigned)(*q++ - '0');
			/* (uid_t)-1 means "no change" to setresuid */
			ok = ok && ids[f] < 0xffffffffULL;
		}
		if (ok && q < end && *q == ':') {
			*uid = (uid_t)ids[0];
			*gid = (gid_t)ids[1];
			return 1;
		}
		while (p < end && *p != '\n')
			p++;
		p++;
	}
	return 0;
}

int jail_passwd_file_ids(const char *path, uid_t *uid, gid_t *gid)
{
	long fd = sys(SYS_openat, AT_FDCWD, S(path), O_RDONLY | O_CLOEXEC, 0, 0);
	size_t have = 0;
	bool skip = false; /* in a line longer than the buffer: not ours */
	int found = 0;

	if (fd < 0)
		return 0;
	while (!found) {
		long n = sys(SYS_read, fd, S(pw_buf + have), (long)(sizeof(pw_buf) - have), 0, 0);
		size_t start = 0, end;

		if (n <= 0) { /* the last line may end without a newline */
			found = !skip && jail_passwd_ids(pw_buf, have, uid, gid);
			break;
		}
		have += (size_t)n;
		for (end = have; end > 0 && pw_buf[end - 1] != '\n'; end--)
			;
		if (!end && have == sizeof(pw_buf)) { /* no newline in a full buffer */
			skip = true;
			have = 0;
			continue;
		}
		if (skip && end) { /* the long line ends here */
			while (pw_buf[start] != '\n')
				start++;
			start++;
			skip = false;
		}
		found = !skip && jail_passwd_ids(pw_buf + start, end - start, uid, gid);
		for (size_t i = 0; end + i < have; i++) /* a line's start, for the next read */
			pw_buf[i] = pw_buf[end + i];
		have -= end;
	}
	sys(SYS_close, fd, 0, 0, 0, 0);
	return found;
}

/* Started as root: the ids of the "silo-vmm" system user when the host has
 * one (made by the package, in /etc/passwd as system users are), else
 * nobody/nogroup (65534); docs/security.md. Not root (a user namespace
 * maps only our own ids) there is nothing to choose. Read from the file
 * itself, not the name service (getpwnam loads nsswitch.conf's modules,
 * no call for this task): a system user for one daemon is a local one.
 * Read before the empty root hides the file. */
static void dedicated_ids(void)
{
	if (!jail_passwd_file_ids("/etc/passwd", &maker.uid, &maker.gid))
		maker.uid = maker.gid = 65534;
}

#ifndef __SANITIZE_ADDRESS__
/* Step 3. /proc is a directory every Linux host has: a tmpfs mounted on it
 * in our own mount namespace (private, so the host sees nothing) is the
 * empty directory pivot_root needs; pivot_root(".", ".") stacks the old
 * root under the new one, and detaching it leaves only the tmpfs
 * (pivot_root(2), NOTES). Then read-only: nothing can be created there. */
static long empty_root(void)
{
	long ret;

	maker.what = "making the mounts private";
	if ((ret = sys(SYS_mount, 0, S("/"), 0, MS_REC | MS_PRIVATE, 0)))
		return ret;
	maker.what = "an empty tmpfs for the root";
	if ((ret = sys(SYS_mount, S("silo-vmm"), S("/proc"), S("tmpfs"),
		       MS_NOSUID | MS_NODEV | MS_NOEXEC, S("size=4k,nr_inodes=2,mode=0500"))))
		return ret;
	maker.what = "pivot_root into an empty root";
	if ((ret = sys(SYS_chdir, S("/proc"), 0, 0, 0, 0)) ||
	    (ret = sys(SYS_pivot_root, S("."), S("."), 0, 0, 0)) ||
	    (ret = sys(SYS_umount2, S("."), MNT_DETACH, 0, 0, 0)) ||
	    (ret = sys(SYS_chdir, S("/"), 0, 0, 0, 0)))
		return ret;
	maker.what = "the empty root read-only";
	return sys(SYS_mount, 0, S("/"), 0,
		   MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
}
#endif

/* The task's body: steps 1-3 (process.c), a descriptor of each namespace
 * made, then its end. */
static int maker_main(void *unused)
{
	long ret = 0;

	(void)unused;
	if (!maker.root)
		ret = own_user_ns();
	if (!ret) {
		maker.what = "namespaces"; /* not the user namespace's last step */
		ret = sys(SYS_unshare, JAIL_NS, 0, 0, 0, 0);
	}
	if (!ret && maker.root)
		dedicated_ids();
	/* while /proc is still there */
	for (size_t i = 0; !ret && i < NR_NS; i++) {
		if (maker.root && ns_files[i].flag == CLONE_NEWUSER)
			continue;
		maker.what = "opening its namespaces";
		ret = sys(SYS_openat, AT_FDCWD, S(ns_files[i].path), O_RDONLY | O_CLOEXEC, 0, 0);
		if (ret >= 0)
			maker.ns_fd[i] = (int)ret, ret = 0;
	}
#ifndef __SANITIZE_ADDRESS__
	/* The sanitizer's leak check reads /proc/self at exit: an ASan build
	 * keeps the host's tree (as it keeps its filters in log mode). */
	if (!ret)
		ret = empty_root();
#endif
	maker.ret = (int)ret;
	return 0;
}

int jail_start(void)
{
	int pid;

	for (size_t i = 0; i < NR_NS; i++)
		maker.ns_fd[i] = -1;
	maker.root = getuid() == 0;
	maker.ret = 0;
	/* exit signal SIGCHLD, so waitid on its pidfd reaps it; silo-vmm has
	 * no other child */
	pid = clone(maker_main, maker_stack + sizeof(maker_stack),
		    CLONE_VM | CLONE_FILES | CLONE_PIDFD | SIGCHLD, NULL, &maker.pidfd);
	if (pid < 0)
		return err_ret(-errno, "jail: namespaces: starting the task that makes them: %m "
				       "(SILO_VMM_JAIL=0 runs without)");
	maker.pid = pid;
	return 0;
}

int jail_join_namespaces(uid_t *uid, gid_t *gid)
{
	siginfo_t si;
	int ret = 0;

	if (!maker.pid)
		return err_ret(-EINVAL, "jail: jail_start was not called");
	/* its end: after it, its writes to maker are ours to read */
	while (waitid(P_PIDFD, (id_t)maker.pidfd, &si, WEXITED) < 0)
		if (errno != EINTR) {
			ret = err_ret(-errno,
				      "jail: waiting for the task that makes its namespaces: %m");
			goto out;
		}
	if (si.si_code != CLD_EXITED || si.si_status != 0)
		ret = err_ret(-ECHILD, "jail: the task that makes its namespaces ended early");
	else if (maker.ret)
		ret = err_ret(maker.ret, "jail: %s: %s (SILO_VMM_JAIL=0 runs without)", maker.what,
			      strerror(-maker.ret));
	for (size_t i = 0; !ret && i < NR_NS; i++)
		if (maker.ns_fd[i] >= 0 && setns(maker.ns_fd[i], ns_files[i].flag) < 0)
			ret = err_ret(-errno, "jail: joining its namespaces: %m");
	*uid = maker.uid;
	*gid = maker.gid;
out:
	for (size_t i = 0; i < NR_NS; i++)
		if (maker.ns_fd[i] >= 0)
			close(maker.ns_fd[i]);
	close(maker.pidfd);
	maker.pid = 0;
	return ret;
}
