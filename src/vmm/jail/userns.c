/* userns.c: see userns.h. */
#include "vmm/jail/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		n = -errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : n < 0 ? (int)n : -EIO;
}

int jail_map_ids(uid_t uid, gid_t gid)
{
	char map[64];
	int ret;

	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if ((ret = write_file("/proc/self/setgroups", "deny")) ||
	    (ret = write_file("/proc/self/uid_map", map)))
		return ret;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

int jail_own_user_ns(const char **what)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	int ret;

	*what = "a user namespace";
	if (unshare(CLONE_NEWUSER) < 0)
		return -errno;
	*what = "mapping its uid and gid";
	ret = jail_map_ids(uid, gid);
	return ret;
}
