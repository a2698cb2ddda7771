/* cgroup.c: a cgroup v2 group per running sandbox (cgroup.h; the numbers
 * and the rootless rules are in docs/security.md, "cgroups"). */
#include "sandbox/cgroup.h"
#include "netd/netd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

_Static_assert(SB_CG_NETD_TASKS == NETD_MAX_CONNS + 16, "silo-netd's threads: update the bound");

static const char *const cg_name[] = { "memory", "cpu", "pids", "io" };
#define CG_N (sizeof(cg_name) / sizeof(cg_name[0]))

void sb_cg_limits(const struct sb_config *cfg, bool netd, struct sb_cg_limits *l)
{
	l->memory_max = cfg->memory + SB_CG_VMM_OVERHEAD + cfg->memory / SB_CG_MARGIN_DIV;
	l->cpu_quota = cfg->cpus * SB_CG_CPU_PERIOD;
	l->cpu_period = SB_CG_CPU_PERIOD;
	l->pids_max = cfg->cpus + SB_CG_VMM_TASKS + (netd ? SB_CG_NETD_TASKS : 0);
	l->io_weight = SB_CG_IO_WEIGHT;
}

int sb_cg_parse_self(const char *text, char *path, size_t n)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t len = strcspn(l, "\n");
		if (len < 4 || strncmp(l, "0::/", 4))
			continue;
		if (len - 3 >= n)
			return -1;
		memcpy(path, l + 3, len - 3);
		path[len - 3] = 0;
		return 0;
	}
	return -1;
}

unsigned sb_cg_parse_controllers(const char *text)
{
	unsigned mask = 0;
	const char *p = text;

	while (*p) {
		p += strspn(p, " \t\n");
		size_t len = strcspn(p, " \t\n");
		for (size_t i = 0; i < CG_N; i++)
			if (len == strlen(cg_name[i]) && !strncmp(p, cg_name[i], len))
				mask |= 1u << i;
		p += len;
	}
	return mask;
}

long long sb_cg_parse_key(const char *text, const char *key)
{
	size_t k = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ' ')
			return strtoll(l + k + 1, NULL, 10);
	return -1;
}

char *sb_cg_names(unsigned mask, char *buf, size_t n)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < CG_N; i++)
		if (mask & (1u << i) && at < n)
			at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "",
					       cg_name[i]);
	return buf;
}

int sb_cg_group_name(const char *name, const char *dir, char *buf, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	int len = snprintf(buf, n, "%s-%012llx", name, (unsigned long long)(h & 0xffffffffffffull));
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* A small cgroup file at dirfd into buf: 0, or -1. */
static int read_at(int dirfd, const char *file, char *buf, size_t n)
{
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t len;

	if (fd < 0)
		return -1;
	len = read(fd, buf, n - 1);
	close(fd);
	if (len < 0)
		return -1;
	buf[len] = 0;
	return 0;
}

/* Open, never create: a cgroup's files exist, or their controller is off. */
static int write_at(int dirfd, const char *file, const char *text)
{
	int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t len;

	if (fd < 0)
		return -1;
	len = write(fd, text, strlen(text));
	close(fd);
	return len == (ssize_t)strlen(text) ? 0 : -1;
}

unsigned sb_cg_enable(int dirfd, unsigned want)
{
	char buf[512];
	unsigned avail, on;
	int fd;

	if (read_at(dirfd, "cgroup.controllers", buf, sizeof(buf)) < 0)
		return 0;
	avail = sb_cg_parse_controllers(buf) & want;
	if (read_at(dirfd, "cgroup.subtree_control", buf, sizeof(buf)) < 0)
		return 0;
	on = sb_cg_parse_controllers(buf) & want;
	if ((avail & ~on) == 0 ||
	    (fd = openat(dirfd, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return on;
	for (size_t i = 0; i < CG_N; i++) {
		if (!(avail & ~on & (1u << i)))
			continue;
		snprintf(buf, sizeof(buf), "+%s", cg_name[i]);
		if (write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf))
			on |= 1u << i;
	}
	close(fd);
	return on;
}

unsigned sb_cg_write_limits(int gfd, const struct sb_cg_limits *l)
{
	unsigned done = 0;
	char v[64];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory_max);
	if (write_at(gfd, "memory.max", v) == 0) {
		done |= SB_CG_MEMORY;
		/* The limit is the whole of it: no guest page goes to swap
		 * to make room (absent without swap accounting). One OOM
		 * kill ends silo-vmm and silo-netd together: neither is of
		 * use without the other. */
		write_at(gfd, "memory.swap.max", "0");
		write_at(gfd, "memory.oom.group", "1");
	}
	snprintf(v, sizeof(v), "%u %u", l->cpu_quota, l->cpu_period);
	if (write_at(gfd, "cpu.max", v) == 0)
		done |= SB_CG_CPU;
	snprintf(v, sizeof(v), "%u", l->pids_max);
	if (write_at(gfd, "pids.max", v) == 0)
		done |= SB_CG_PIDS;
	snprintf(v, sizeof(v), "default %u", l->io_weight);
	if (write_at(gfd, "io.weight", v) == 0)
		done |= SB_CG_IO;
	return done;
}

int sb_cg_join(int procs_fd)
{
	return write(procs_fd, "0", 1) == 1 ? 0 : -errno;
}

bool sb_cg_oom_killed(const char *path)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -1 : read_at(fd, "memory.events", buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	return r == 0 && sb_cg_parse_key(buf, "oom_kill") > 0;
}

/* --- a sandbox's group ------------------------------------------------- */

/* sb's group name, from its directory as the kernel resolves it: one
 * sandbox whatever spelling of SILO_DATA_DIR reached it. */
static int group_name(const struct sandbox *sb, char *buf, size_t n)
{
	char real[PATH_MAX];

	return sb_cg_group_name(sb->name, realpath(sb->dir, real) ? real : sb->dir, buf, n);
}

/* SIGKILL every process of the group (cgroup.kill, else one by one from
 * cgroup.procs before Linux 5.14), then rmdir it, waiting up to 5 s for
 * them to be gone: KVM's worker thread of the VM (kvm-nx-lpage-recovery,
 * in the group of the process that made the VM) ends only with the VM's
 * teardown. 0 when it is gone, else -1 with errno. */
static int kill_and_rmdir(int pfd, const char *name)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char buf[4096];

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (write_at(fd, "cgroup.kill", "1") < 0 &&
	    read_at(fd, "cgroup.procs", buf, sizeof(buf)) == 0)
		for (char *p = buf, *end; *p; p = end) {
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
		}
	close(fd);
	for (int i = 0; i < 250; i++) {
		if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		sb_nap_ms(20);
	}
	return -1;
}

int sb_cg_make(const char *fsroot, const char *rel, char *path, char *why, size_t n)
{
	struct statfs fs;
	if (statfs(fsroot, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, n, "%.200s is not a cgroup v2 mount", fsroot);
		return -1;
	}
	if (!sb_cgroup_path_valid(rel) || sb_path(path, "%s%s", fsroot, rel) < 0) {
		snprintf(why, n, "invalid cgroup path %.200s", rel);
		path[0] = 0;
		return -1;
	}
	int fd = open(fsroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned on = SB_CG_ALL;
	char comp[NAME_MAX + 1];
	for (const char *p = rel; fd >= 0 && *p;) {
		p += strspn(p, "/");
		size_t len = strcspn(p, "/");
		if (!len)
			break;
		if (len > NAME_MAX) {
			close(fd);
			fd = -1;
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		p += len;
		/* each level hands the controllers down (a level with
		 * processes of its own cannot: then the leaf has fewer) */
		on = sb_cg_enable(fd, on);
		int next = -1;
		if (mkdirat(fd, comp, 0755) == 0 || errno == EEXIST)
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		int e = errno;
		close(fd);
		fd = next;
		errno = e;
	}
	if (fd < 0) {
		snprintf(why, n, "cannot create %.200s: %s", path, strerror(errno));
		path[0] = 0;
	}
	return fd;
}

/* Remove the group at path (a full path) if it is sb's: under fsroot and
 * named as sb's group, whatever the record says. */
static void remove_path(const char *path, const char *fsroot, const char *gname)
{
	char parent[SB_PATH_MAX];
	const char *base = strrchr(path, '/');
	size_t rl = strlen(fsroot);

	if (!base || strncmp(path, fsroot, rl) || path[rl] != '/' || strcmp(base + 1, gname) ||
	    (size_t)(base - path) >= sizeof(parent))
		return;
	memcpy(parent, path, (size_t)(base - path));
	parent[base - path] = 0;
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return;
	if (kill_and_rmdir(pfd, gname) < 0)
		sb_warn("cannot remove the cgroup %s: %s", path, strerror(errno));
	close(pfd);
}

int sb_cgroup_load(const struct sandbox *sb, struct sb_cgroup *cg)
{
	char f[SB_PATH_MAX], *text = NULL;
	size_t len;

	*cg = (struct sb_cgroup){ 0 };
	if (sb_path(f, "%s/%s", sb->rundir, SB_CGROUP_FILE) < 0 || sb_read_file(f, &text, &len) < 0)
		return -1;
	char *save;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "path=", 5))
			snprintf(cg->path, sizeof(cg->path), "%s", l + 5);
		else if (!strncmp(l, "note=", 5))
			snprintf(cg->note, sizeof(cg->note), "%s", l + 5);
		else if (!strncmp(l, "enforced=", 9))
			cg->enforced = (unsigned)strtoul(l + 9, NULL, 10);
	}
	free(text);
	return 0;
}

void sb_cgroup_remove(const struct sandbox *sb, const char *fsroot)
{
	char gname[SB_NAME_MAX + 16], path[SB_PATH_MAX];
	struct sb_cgroup cg;

	/* the engine's group (silo-runtime): its leaf, named as the engine
	 * named it; a runc delete removes it too */
	if (sb->cfg.cgroup[0] && sb_path(path, "%s%s", fsroot, sb->cfg.cgroup) == 0) {
		const char *base = strrchr(path, '/');
		remove_path(path, fsroot, base + 1);
	}
	if (group_name(sb, gname, sizeof(gname)) < 0)
		return;
	if (sb_cgroup_load(sb, &cg) == 0 && cg.path[0])
		remove_path(cg.path, fsroot, gname);
	/* the record may be gone with its run dir; as root the path is known */
	if (geteuid() == 0 && sb_path(path, "%s/%s/%s", fsroot, SB_CGROUP_PARENT, gname) == 0 &&
	    strcmp(path, cg.path))
		remove_path(path, fsroot, gname);
}

/* Where silo's groups go: fsroot as root; rootless, the parent of our own
 * cgroup when it is delegated to us. Its path in parent (SB_PATH_MAX), or
 * -1 with why. Moving the supervisor's child from our cgroup into
 * <parent>/silo/G needs write access to the cgroup.procs of their common
 * ancestor, which is parent (cgroup-v2.rst, "Delegation Containment"). */
static int find_parent(const char *fsroot, char *parent, char *why, size_t n)
{
	char self[SB_PATH_MAX], f[SB_PATH_MAX], *text = NULL, *slash;
	struct statfs fs;
	size_t len;
	int r;

	if (statfs(fsroot, &fs) < 0) {
		snprintf(why, n, "no cgroup file system at %.200s", fsroot);
		return -1;
	}
	if (fs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, n, "%.200s is not a cgroup v2 mount: a cgroup v1 or hybrid host",
			 fsroot);
		return -1;
	}
	if (geteuid() == 0)
		return sb_path(parent, "%s", fsroot);
	r = sb_read_file("/proc/self/cgroup", &text, &len);
	if (r == 0)
		r = sb_cg_parse_self(text, self, sizeof(self));
	free(text);
	if (r < 0) {
		snprintf(why, n, "no cgroup v2 entry in /proc/self/cgroup");
		return -1;
	}
	slash = strrchr(self, '/');
	if (slash == self) {
		snprintf(why, n, "not root, and silo's cgroup %.200s is not in a delegated subtree",
			 self);
		return -1;
	}
	*slash = 0;
	if (sb_path(parent, "%s%s", fsroot, self) < 0 ||
	    sb_path(f, "%s/cgroup.procs", parent) < 0) {
		snprintf(why, n, "its cgroup path is too long");
		return -1;
	}
	if (access(parent, W_OK) < 0 || access(f, W_OK) < 0) {
		snprintf(why, n, "not root, and the cgroup %.200s is not delegated to uid %u",
			 parent, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* <parent>/silo/<gname> with the limits l: the controllers enforced, the
 * group's path in path, or 0 with why. */
static unsigned make_group(const char *parent, const char *gname, const struct sb_cg_limits *l,
			   char *path, char *why, size_t n)
{
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC), sfd = -1, gfd = -1;
	unsigned on = 0, done = 0;

	if (pfd < 0) {
		snprintf(why, n, "cannot open %.200s: %s", parent, strerror(errno));
		return 0;
	}
	on = sb_cg_enable(pfd, SB_CG_ALL);
	if ((mkdirat(pfd, SB_CGROUP_PARENT, 0755) < 0 && errno != EEXIST) ||
	    (sfd = openat(pfd, SB_CGROUP_PARENT, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) <
		    0) {
		snprintf(why, n, "cannot create %.200s/%s: %s", parent, SB_CGROUP_PARENT,
			 strerror(errno));
		goto out;
	}
	on = sb_cg_enable(sfd, on);
	/* a crashed run's whose record went with its run dir */
	kill_and_rmdir(sfd, gname);
	if (mkdirat(sfd, gname, 0755) < 0 ||
	    (gfd = openat(sfd, gname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(why, n, "cannot create %.200s/%s/%s: %s", parent, SB_CGROUP_PARENT, gname,
			 strerror(errno));
		goto out;
	}
	done = sb_cg_write_limits(gfd, l);
	close(gfd);
	snprintf(why, n, "not available in %.200s", parent);
	/* no group that limits nothing */
	if (done && sb_path(path, "%s/%s/%s", parent, SB_CGROUP_PARENT, gname) < 0)
		done = 0;
	if (!done)
		unlinkat(sfd, gname, AT_REMOVEDIR);
out:
	if (sfd >= 0)
		close(sfd);
	close(pfd);
	return done;
}

static void record(const struct sandbox *sb, const struct sb_cgroup *cg)
{
	char f[SB_PATH_MAX], *text = NULL;
	int len = asprintf(&text, "path=%s\nenforced=%u\nnote=%s\n", cg->path, cg->enforced,
			   cg->note);

	if (len > 0 && sb_path(f, "%s/%s", sb->rundir, SB_CGROUP_FILE) == 0 &&
	    sb_write_file_atomic(f, text, (size_t)len) < 0)
		sb_warn("cannot write %s: %s", f, strerror(errno));
	free(text);
}

void sb_cgroup_setup(const struct sandbox *sb, const char *fsroot, bool netd, struct sb_cgroup *cg)
{
	char parent[SB_PATH_MAX], gname[SB_NAME_MAX + 16], why[400] = "", names[64];
	struct sb_cg_limits l;
	unsigned missing;

	*cg = (struct sb_cgroup){ 0 };
	sb_cg_limits(&sb->cfg, netd, &l);
	if (sb->cfg.cgroup[0]) {
		/* the engine's (silo-runtime's linux.cgroupsPath): its
		 * accounting covers the VM; silo's limits go on its leaf */
		int gfd = sb_cg_make(fsroot, sb->cfg.cgroup, cg->path, why, sizeof(why));
		if (gfd >= 0) {
			cg->enforced = sb_cg_write_limits(gfd, &l);
			snprintf(why, sizeof(why), "not available in %.200s", cg->path);
			close(gfd);
		}
	} else if (group_name(sb, gname, sizeof(gname)) == 0 &&
		   find_parent(fsroot, parent, why, sizeof(why)) == 0) {
		cg->enforced = make_group(parent, gname, &l, cg->path, why, sizeof(why));
	}
	missing = SB_CG_ALL & ~cg->enforced;
	if (missing)
		snprintf(cg->note, sizeof(cg->note), "%s (%s)",
			 sb_cg_names(missing, names, sizeof(names)), why);
	if (missing & SB_CG_REQUIRED)
		sb_warn("sandbox %s: cgroup limits not enforced: %s; see docs/security.md",
			sb->name, cg->note);
	record(sb, cg);
}
