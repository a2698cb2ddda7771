/*
 * silo-netd's view of the host's files (docs/security.md "silo-netd's
 * jail"): a broker a guest took over must not read the user's home (keys,
 * other workspaces) nor another sandbox's files, and send them out on the
 * network it has. It keeps the host's network (it dials out) but gets a
 * root of its own with only what it reads or writes:
 *
 *   read-only   /etc (the resolver's files: resolv.conf, hosts,
 *               nsswitch.conf, gai.conf), /usr and the /lib links (glibc's
 *               NSS modules, loaded at the first lookup), and the
 *               directory of resolv.conf's target when it is a link out of
 *               /etc (systemd-resolved's stub in /run);
 *   read-write  its own directories: the sandbox's (the policy, its log and
 *               the log's rotation) and the run directory (the stats file,
 *               its sockets).
 *
 * Each at its own path, so the broker's code is unchanged. Order, once
 * every socket is bound and before any thread (main.c setup), before the
 * capabilities go (jail.c):
 *   1. not root: a user namespace that maps our uid and gid to themselves
 *      (userns.h), for the capabilities of the steps below;
 *   2. mount, IPC and UTS namespaces of its own (not network: it is the
 *      network broker), every mount made private so nothing propagates;
 *   3. an empty tmpfs on /dev (a directory every host has, and nothing the
 *      broker uses; covering it in our own namespace hides nothing from
 *      anyone else), the paths above bound into it, then pivot_root into
 *      it, the old root detached and the new one read-only. An ASan build
 *      also gets /proc, read-only: its leak check reads /proc/self/task.
 * SILO_NETD_JAIL=0 leaves all of it out (debugging).
 */
#include "netd/jail.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/jail/userns.h"

#define NEWROOT "/dev"

/* NEWROOT + path, its directories made (0755, in the tmpfs). */
static int mkdirs(const char *path, char *out, size_t n)
{
	if ((size_t)snprintf(out, n, NEWROOT "%s", path) >= n)
		return -ENAMETOOLONG;
	for (char *p = out + strlen(NEWROOT) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(out, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(out, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* path, a directory, at the same place in the new root; a symlink (the
 * /lib -> usr/lib of a merged /usr) is copied as a symlink; a missing one
 * is left out. */
static int add(const char *path, bool ro, const char **what)
{
	char dst[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;
	int ret;

	*what = path;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
			return -errno;
		link[n] = '\0';
		if ((size_t)snprintf(dst, sizeof(dst), NEWROOT "%s", path) >= sizeof(dst))
			return -ENAMETOOLONG;
		return symlink(link, dst) < 0 && errno != EEXIST ? -errno : 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if ((ret = mkdirs(path, dst, sizeof(dst))))
		return ret;
	if (mount(path, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (ro && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
			NULL) < 0)
		return -errno;
	return 0;
}

/* The directory of file (made absolute): one of ours. */
static int add_dir_of(const char *file, const char **what)
{
	char buf[PATH_MAX], *slash;

	*what = file;
	if (!realpath(file, buf)) {
		/* not there yet (the stats file): its directory is */
		if (strlen(file) >= sizeof(buf))
			return -ENAMETOOLONG;
		strcpy(buf, file);
		if ((slash = strrchr(buf, '/')))
			*slash = '\0';
		if (!realpath(slash ? (buf[0] ? buf : "/") : ".", buf))
			return -errno;
	} else if ((slash = strrchr(buf, '/'))) {
		*slash = '\0';
	}
	if (!buf[0])
		return -EINVAL; /* a file in / itself: that would be all of it */
	return add(buf, false, what);
}

int netd_view_enter(const char *const files[], size_t nfiles, const char **what)
{
	static const char *const sys[] = {
		"/etc",	 "/usr", "/lib", "/lib64", "/lib32", "/libx32",
#ifdef __SANITIZE_ADDRESS__
		"/proc",
#endif
	};
	const char *env = getenv("SILO_NETD_JAIL");
	char res[PATH_MAX], *slash;
	int ret;

	*what = "SILO_NETD_JAIL wants 1 or 0";
	if (env && *env && strcmp(env, "0") && strcmp(env, "1"))
		return -EINVAL;
	if (env && !strcmp(env, "0"))
		return 0;
	if (getuid() != 0 && (ret = jail_own_user_ns(what)))
		return ret;
	*what = "mount, IPC and UTS namespaces";
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return -errno;
	*what = "making the mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	*what = "an empty tmpfs for the root";
	if (mount("silo-netd", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if ((ret = add(sys[i], true, what)))
			return ret;
	/* resolv.conf may be a link out of /etc (systemd-resolved) */
	if (realpath("/etc/resolv.conf", res) && strncmp(res, "/etc/", 5) &&
	    (slash = strrchr(res, '/')) && slash != res) {
		*slash = '\0';
		if ((ret = add(res, true, what)))
			return ret;
	}
	for (size_t i = 0; i < nfiles; i++)
		if ((ret = add_dir_of(files[i], what)))
			return ret;
	*what = "pivot_root into its own root";
	if (chdir(NEWROOT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -errno;
	*what = "its root read-only";
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return -errno;
	return 0;
}
