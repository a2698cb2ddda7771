/* state.c: where sandboxes live, opening and locking one, and deciding its
 * status from what is on disk and in /proc (no daemon keeps it for us). */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Where a location came from: the hint in an error says how to change it. */
enum { FROM_DEFAULT, FROM_ENV, FROM_FLAG };

static int pick(char *dst, const char *flag, const char *e, const char *fmt, const char *a,
		const char *b)
{
	if (flag && flag[0])
		return sb_path(dst, "%s", flag) < 0 ? -1 : FROM_FLAG;
	if (e && e[0])
		return sb_path(dst, "%s", e) < 0 ? -1 : FROM_ENV;
	return sb_path(dst, fmt, a, b) < 0 ? -1 : FROM_DEFAULT;
}

int sb_dir_private(const char *path, const char *what, const char *hint, bool create)
{
	struct stat st;
	hint = hint ? hint : "";
	/* O_NOFOLLOW|O_DIRECTORY, then fstat: what we check is what we opened */
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (sb_mkdir_p(path, 0700) < 0)
			return sb_fail("cannot create %s %s: %s", what, path, strerror(errno));
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 1;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return sb_fail("%s %s is a symbolic link: remove it%s", what, path, hint);
		if (e == ENOTDIR)
			return sb_fail("%s %s is not a directory: remove it%s", what, path, hint);
		return sb_fail("%s %s: %s", what, path, strerror(e));
	}
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return sb_fail("%s %s: %s", what, path, strerror(errno));
	if (st.st_uid != geteuid())
		return sb_fail("%s %s is owned by uid %u (not you): remove it%s", what, path,
			       (unsigned)st.st_uid, hint);
	if (st.st_mode & 077)
		return sb_fail("%s %s is open to other users (mode 0%o): run 'chmod 700 %s'%s",
			       what, path, (unsigned)(st.st_mode & 07777), path, hint);
	return 0;
}

/* Where one of silo's installed parts is, the one place that decides it:
 * the setting given when set; else next to this executable
 * (the build tree: build/silo-vmm, build/guest); else where make install
 * puts it relative to PREFIX (PREFIX/libexec/silo/silo-vmm,
 * PREFIX/share/silo), so an install works wherever PREFIX is. PREFIX is
 * above this executable's directory: PREFIX/bin, or PREFIX/libexec/silo
 * for silo-serve. Neither present: the build-tree path, which the errors
 * then name ("run make"). */
int sb_find_part(char *dst, const char *self, const char *given, const char *build_name,
		 const char *install_rel)
{
	static const char libexec[] = "/libexec/silo";
	if (given && given[0])
		return sb_path(dst, "%s", given);
	char bindir[SB_PATH_MAX], prefix[SB_PATH_MAX];
	snprintf(bindir, sizeof(bindir), "%s", self);
	dirname(bindir);
	snprintf(prefix, sizeof(prefix), "%s", bindir);
	size_t n = strlen(prefix), k = sizeof(libexec) - 1;
	if (n >= k && !strcmp(prefix + n - k, libexec))
		prefix[n - k > 0 ? n - k : 1] = 0; /* "/libexec/silo": PREFIX is / */
	else
		dirname(prefix);
	if (sb_path(dst, "%s/%s", bindir, build_name) < 0)
		return -1;
	if (access(dst, F_OK) == 0)
		return 0;
	char inst[SB_PATH_MAX];
	if (sb_path(inst, "%s/%s", strcmp(prefix, "/") ? prefix : "", install_rel) < 0)
		return -1;
	if (access(inst, F_OK) == 0)
		memcpy(dst, inst, sizeof(inst));
	return 0;
}

int sb_find_parts(const char *self, const struct sb_settings *s, char *vmm, char *guest)
{
	if (sb_find_part(vmm, self, s ? s->vmm : NULL, "silo-vmm", "libexec/silo/silo-vmm") < 0 ||
	    sb_find_part(guest, self, s ? s->guest_dir : NULL, "guest", "share/silo") < 0)
		return -1;
	return 0;
}

/* silo-netd: the setting, else beside silo-vmm. */
static int netd_path(struct sb_paths *p, const char *given)
{
	if (given && given[0])
		return snprintf(p->netd, sizeof(p->netd), "%s", given) >= (int)sizeof(p->netd)
			       ? sb_fail("SILO_NETD is too long")
			       : 0;
	const char *slash = strrchr(p->vmm, '/');
	int dir = slash ? (int)(slash - p->vmm) : 0;
	if (snprintf(p->netd, sizeof(p->netd), "%.*s%ssilo-netd", dir, p->vmm, slash ? "/" : "") >=
	    (int)sizeof(p->netd))
		return sb_fail("silo-netd path too long");
	return 0;
}

int sb_paths_init(struct sb_paths *p, const struct sb_settings *s)
{
	static const struct sb_settings none;
	static const char *const data_hints[] = { " or set SILO_DATA_DIR",
						  " or set SILO_DATA_DIR to another directory",
						  " or choose another --data-dir" };
	static const char *const run_hints[] = { " or set XDG_RUNTIME_DIR (or SILO_RUN_DIR)",
						 " or set SILO_RUN_DIR to another directory",
						 " or choose another --run-dir" };
	memset(p, 0, sizeof(*p));
	s = s ? s : &none;
	ssize_t n = readlink("/proc/self/exe", p->self, sizeof(p->self) - 1);
	if (n <= 0)
		return sb_fail("cannot find the silo executable: %s", strerror(errno));
	p->self[n] = 0;
	memcpy(p->super, p->self, sizeof(p->super));

	const char *home = s->home, *xdg_data = s->xdg_data, *xdg_run = s->xdg_run;
	const char *data_flag = s->data_flag, *run_flag = s->run_flag;
	char uid[32];
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	int d, r;
	if (geteuid() == 0) {
		d = pick(p->data, data_flag, s->data_env, "%s%s", "/var/lib/silo", "");
		r = pick(p->run, run_flag, s->run_env, "%s%s", "/run/silo", "");
	} else {
		if (xdg_data && xdg_data[0])
			d = pick(p->data, data_flag, s->data_env, "%s%s", xdg_data, "/silo");
		else
			d = pick(p->data, data_flag, s->data_env, "%s%s", home ? home : "/tmp",
				 "/.local/share/silo");
		/* /tmp/silo-UID: anyone can make it first; sb_dir_private
                 * below refuses it then (ssh-agent's and tmux's rule). */
		if (xdg_run && xdg_run[0])
			r = pick(p->run, run_flag, s->run_env, "%s/silo-%s", xdg_run, uid);
		else
			r = pick(p->run, run_flag, s->run_env, "%s/silo-%s", "/tmp", uid);
	}
	if (d < 0 || r < 0 || sb_find_parts(p->self, s, p->vmm, p->guest) < 0 ||
	    netd_path(p, s->netd) < 0)
		return -1;
	if (s->boot_timeout < 0 || s->boot_timeout > 86400)
		return sb_fail("boot timeout %d s out of range: use 1..86400", s->boot_timeout);
	p->boot_timeout = s->boot_timeout ? s->boot_timeout : SB_BOOT_TIMEOUT_DEFAULT;
	if (s->cmdline_extra && snprintf(p->cmdline_extra, sizeof(p->cmdline_extra), "%s",
					 s->cmdline_extra) >= (int)sizeof(p->cmdline_extra))
		return sb_fail("SILO_GUEST_CMDLINE_EXTRA is too long (at most %zu bytes)",
			       sizeof(p->cmdline_extra) - 1);
	/* silo-netd loads it long after this, from its own view: an absolute
	 * path to a file that is there now */
	if (s->egress_ca && s->egress_ca[0] &&
	    (s->egress_ca[0] != '/' || access(s->egress_ca, R_OK) < 0 ||
	     snprintf(p->egress_ca, sizeof(p->egress_ca), "%s", s->egress_ca) >=
		     (int)sizeof(p->egress_ca)))
		return sb_fail("SILO_EGRESS_CA %s: not a readable file by absolute path",
			       s->egress_ca);
	p->data_hint = data_hints[d];
	p->run_hint = run_hints[r];
	/* <run> now, before anything looks inside it: made later, someone
         * else could make it between our look and our use. <data> is made
         * by the first create (sb_create checks it then). */
	if (sb_dir_private(p->run, "run directory", p->run_hint, true) < 0 ||
	    sb_dir_private(p->data, "data directory", p->data_hint, false) < 0)
		return -1;
	return 0;
}

static const char *approx_size(uint64_t b, char *buf, size_t n)
{
	if (b >= (1ull << 30))
		snprintf(buf, n, "%.1fG", (double)b / (1ull << 30));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)(b >> 20));
	return buf;
}

int sb_disk_check(const struct sb_paths *p, uint64_t add)
{
	struct statvfs vfs;
	char a[32], b[32];
	if (statvfs(p->data, &vfs) < 0)
		return 0; /* no data dir yet: nothing to compare with */
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (add > avail)
		return sb_fail("a %s scratch disk does not fit in %s (%s free): choose a smaller "
			       "--disk or free some space",
			       approx_size(add, a, sizeof(a)), p->data,
			       approx_size(avail, b, sizeof(b)));
	char **names;
	size_t n;
	uint64_t could = add;
	if (sb_list(p, &names, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char img[SB_PATH_MAX];
		struct stat st;
		if (sb_path(img, "%s/sandboxes/%s/scratch.img", p->data, names[i]) < 0 ||
		    lstat(img, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		uint64_t used = (uint64_t)st.st_blocks * 512;
		if ((uint64_t)st.st_size > used)
			could += (uint64_t)st.st_size - used;
	}
	sb_names_free(names, n);
	if (could > avail)
		sb_warn("the sandboxes' sparse disks could still write %s to %s, but only %s is "
			"free there: a guest that fills its disk then sees I/O errors",
			approx_size(could, a, sizeof(a)), p->data,
			approx_size(avail, b, sizeof(b)));
	return 0;
}

int sb_check_host(const struct sb_paths *p)
{
	static const char *const parts[] = { "vmlinux", "agent.cpio.gz", "rootfs.ext4" };
	char f[SB_PATH_MAX];
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (sb_path(f, "%s/%s", p->guest, parts[i]) < 0)
			return -1;
		if (access(f, R_OK) < 0)
			return sb_fail("guest image not found at %s (no %s): run 'make image'",
				       p->guest, parts[i]);
	}
	if (access(p->vmm, X_OK) < 0)
		return sb_fail("silo-vmm not found at %s: run 'make' (or set SILO_VMM)", p->vmm);
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sb_fail(
			"KVM is not usable here (/dev/kvm: %s): run silo in the lab instead, "
			"e.g. 'tests/lab/run build/silo run -- uname -a'",
			strerror(errno));
	close(fd);
	return 0;
}

/* flock the sandbox's lock file, waiting at most timeout_ms (< 0: for
 * ever); still taken then: -1 with errno EWOULDBLOCK. */
static int take_lock(struct sandbox *sb, int timeout_ms)
{
	char f[SB_PATH_MAX];
	struct timespec t0, t, nap = { 0, 50 * 1000000L };
	if (sb_path(f, "%s/lock", sb->dir) < 0)
		return -1;
	if (sb->lock_fd < 0)
		sb->lock_fd = open(f, O_RDWR | O_CLOEXEC);
	if (sb->lock_fd < 0)
		return sb_fail("no such sandbox: %s (see 'silo ls')", sb->name);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (flock(sb->lock_fd, LOCK_EX | (timeout_ms >= 0 ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return sb_fail("lock %s: %s", f, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &t);
		long waited_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited_ms >= timeout_ms) {
			sb_fail("sandbox %s is busy: another silo command holds its lock",
				sb->name);
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

int sb_lock(struct sandbox *sb, int timeout_ms)
{
	char f[SB_PATH_MAX];
	if (take_lock(sb, timeout_ms) < 0)
		return -1;
	/* A concurrent rm may have removed it while we waited. */
	if (sb_path(f, "%s/config", sb->dir) < 0 || !sb_exists(f)) {
		close(sb->lock_fd);
		sb->lock_fd = -1;
		sb_fail("no such sandbox: %s (see 'silo ls')", sb->name);
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int sb_open(struct sandbox *sb, const struct sb_paths *p, const char *name, bool lock)
{
	memset(sb, 0, sizeof(*sb));
	sb->lock_fd = -1;
	sb->paths = p;
	if (sb_name_check(name, "sandbox") < 0)
		return -1;
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	if (sb_path(sb->dir, "%s/sandboxes/%s", p->data, name) < 0 ||
	    sb_path(sb->rundir, "%s/%s", p->run, name) < 0)
		return -1;
	snprintf(sb->addr, sizeof(sb->addr), "vsock:%s/vsock.sock", sb->rundir);
	char f[SB_PATH_MAX];
	/* Every directory we will read pid files from or connect in. */
	if (sb_path(f, "%s/sandboxes", p->data) < 0 ||
	    sb_dir_private(f, "data directory", p->data_hint, false) < 0 ||
	    sb_dir_private(sb->dir, "sandbox directory", "", false) < 0 ||
	    sb_dir_private(sb->rundir, "run directory", "", false) < 0)
		return -1;
	if (lock && take_lock(sb, -1) < 0)
		goto err;
	/* After the lock: a concurrent rm may have removed it meanwhile. */
	char *text;
	if (sb_path(f, "%s/config", sb->dir) < 0)
		goto err;
	if (sb_read_file(f, &text, NULL) < 0) {
		if (errno == ENOENT)
			sb_fail("no such sandbox: %s (see 'silo ls')", name);
		else
			sb_fail("%s: %s", f, strerror(errno));
		goto err;
	}
	int r = sb_config_parse(text, &sb->cfg);
	free(text);
	if (r < 0) {
		/* sb_fail writes the buffer sb_errmsg() points to: copy it */
		char why[256];
		snprintf(why, sizeof(why), "%s", sb_errmsg());
		sb_fail("%s: %s", f, why);
		goto err;
	}
	return 0;
err:
	sb_close(sb);
	return -1;
}

void sb_close(struct sandbox *sb)
{
	if (sb->lock_fd >= 0)
		close(sb->lock_fd);
	sb->lock_fd = -1;
	sb_config_free(&sb->cfg);
}

/* A pid file names a live process of ours only if it is the same process
 * (pids are reused) and not a zombie (it no longer runs anything). Same:
 * for the supervisor, /proc/PID/cmdline holds marker (its run directory);
 * for silo-vmm, whose command line names descriptors only (vmm_fds.c), its
 * start time is the one the supervisor wrote beside the pid file. */
static int live_pid(const char *dir, const char *file, const char *marker)
{
	char f[SB_PATH_MAX], *text;
	unsigned long long want = 0, start;
	if (sb_path(f, "%s/%s", dir, file) < 0 || sb_read_file(f, &text, NULL) < 0)
		return -1;
	int pid = atoi(text);
	free(text);
	if (pid <= 0)
		return 0;
	if (!marker) {
		if (sb_path(f, "%s/%s" SB_START_SUFFIX, dir, file) < 0 ||
		    sb_read_file(f, &text, NULL) < 0)
			return 0;
		want = strtoull(text, NULL, 10);
		free(text);
	}
	char state;
	if (sb_proc_start(pid, &start, &state) < 0 || state == 'Z' || state == 'X')
		return 0;
	if (!marker)
		return start == want ? pid : 0;
	char *cmd;
	size_t len;
	snprintf(f, sizeof(f), "/proc/%d/cmdline", pid);
	if (sb_read_file(f, &cmd, &len) < 0)
		return 0;
	bool ours = false;
	for (size_t i = 0; i < len; i += strlen(cmd + i) + 1)
		if (strstr(cmd + i, marker))
			ours = true;
	free(cmd);
	return ours ? pid : 0;
}

/* The exit record, when there is one: 1 (st filled), else 0. */
static int read_exit_record(const struct sandbox *sb, struct sb_status *st)
{
	char f[SB_PATH_MAX], *text;
	int r;

	if (sb_path(f, "%s/exit", sb->rundir) < 0 || sb_read_file(f, &text, NULL) < 0)
		return 0;
	r = sb_exit_parse(text, &st->exit);
	free(text);
	if (r < 0)
		return 0;
	st->state = SB_EXITED;
	return 1;
}

int sb_status(const struct sandbox *sb, struct sb_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = SB_STOPPED;
	if (!sb_exists(sb->rundir))
		return 0; /* never started, stopped, or host rebooted */
	/* The exit record first: the supervisor writes it before it goes. */
	if (read_exit_record(sb, st))
		return 0;
	int vmm = live_pid(sb->rundir, SB_VMM_PID, NULL);
	int sup = live_pid(sb->rundir, "supervisor.pid", sb->rundir);
	if (vmm > 0 || sup > 0) {
		st->state = SB_RUNNING;
		st->vmm_pid = vmm > 0 ? vmm : 0;
		st->sup_pid = sup > 0 ? sup : 0;
		/* paused: its marker beside the pid files (pause.c) */
		char marker[SB_PATH_MAX];
		st->paused =
			sb_path(marker, "%s/" SB_PAUSED_FILE, sb->rundir) == 0 && sb_exists(marker);
		return 0;
	}
	/* Nobody home. The supervisor may have written its record and gone
	 * between our look for the record and at its pid: look again before
	 * calling it a death. */
	if (read_exit_record(sb, st))
		return 0;
	if (vmm == 0 || sup == 0) {
		/* pid files but nobody home: the supervisor itself died */
		st->state = SB_EXITED;
		st->exit.code = -1;
		snprintf(st->exit.reason, sizeof(st->exit.reason), "vmm died unexpectedly");
	}
	return 0;
}

const char *sb_state_name(enum sb_state s)
{
	return s == SB_RUNNING ? "running" : s == SB_EXITED ? "exited" : "stopped";
}

const char *sb_status_name(const struct sb_status *st)
{
	return st->state == SB_RUNNING && st->paused ? "paused" : sb_state_name(st->state);
}

void sb_status_text(const struct sb_status *st, char *buf, size_t n)
{
	if (st->state == SB_EXITED)
		snprintf(buf, n, "exited (%s)", st->exit.reason);
	else
		snprintf(buf, n, "%s", sb_status_name(st));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sb_dir_names(const char *d, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	DIR *dir = opendir(d);
	if (!dir)
		return errno == ENOENT ? 0 : sb_fail("%s: %s", d, strerror(errno));
	struct dirent *e;
	size_t cap = 0;
	while ((e = readdir(dir))) {
		/* hidden entries are creations and removals in progress */
		if (e->d_name[0] == '.' || !sb_name_valid(e->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char **v = realloc(*names, cap * sizeof(*v));
			if (!v)
				break;
			*names = v;
		}
		if (((*names)[*n] = strdup(e->d_name)))
			(*n)++;
	}
	closedir(dir);
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return 0;
}

int sb_list(const struct sb_paths *p, char ***names, size_t *n)
{
	char d[SB_PATH_MAX];
	*names = NULL;
	*n = 0;
	if (sb_path(d, "%s/sandboxes", p->data) < 0 ||
	    sb_dir_private(d, "data directory", p->data_hint, false) < 0)
		return -1;
	return sb_dir_names(d, names, n);
}

void sb_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The line comes from the newest of silo-vmm's capped console segments
 * (console.c) that has bytes. A boot that timed out names it, since
 * `silo run` removes the sandbox, and its log, before printing why. */
const char *sb_console_last_line(const struct sandbox *sb, char *buf, size_t n)
{
	static const char *const parts[] = SB_CONSOLE_PARTS;
	char f[SB_PATH_MAX], tail[512];
	const char *line = "";

	for (size_t i = sizeof(parts) / sizeof(parts[0]); i-- > 0 && !*line;) {
		int fd = sb_path(f, "%s/%s", sb->dir, parts[i]) < 0
				 ? -1
				 : open(f, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		line = sb_fd_tail(fd, tail, sizeof(tail));
		close(fd);
		const char *nl = strrchr(line, '\n');
		line = nl ? nl + 1 : line;
	}
	return sb_escape(line, buf, n);
}
