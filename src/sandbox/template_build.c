/* template_build.c: silo template build (docs/snapshots.md "Templates").
 *
 * A template is a sandbox caught ready: booted as any other (create +
 * start, with the create flags given), Docker answering unless
 * --no-docker, its page cache dropped and the freed pages handed back
 * (free page reporting, virtio-balloon), then saved by silo-vmm's control
 * request `snapshot DIR` (which leaves the VM paused) and its scratch disk
 * cloned while it is still paused, so disk and memory match. The build
 * sandbox is removed after.
 *
 * A build command (`silo template build -- CMD...`) runs after Docker is
 * ready and before the caches are dropped, as `silo exec` runs it (user
 * agent, /workspace), so a template can hold what it made (an image built
 * as a Dockerfile's RUN would): its stdout goes to our stderr, its stderr
 * is kept, and a non-zero exit fails the build with the tail of it.
 *
 * Everything goes into <data>/templates/.<T>.tmp-<pid>/ and is renamed to
 * <data>/templates/<T>/ last: a failed or interrupted build leaves no
 * template, and a build killed outright leaves only a hidden directory,
 * which the next build removes.
 *
 * Last, a test clone restored from the new template records the working
 * set every later clone prefetches (record_working_set); a template whose
 * clone does not restore is removed again.
 */
#include "sandbox/sandbox.h"

#include "client/client.h"
#include "proto/scm.h"
#include "vmm/snapshot/wset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The guest's part, as root: what is dirty goes to disk (the clone then
 * holds it); the page cache goes (echo 3: clean pages and slab), and with
 * it the pages it held, which free page reporting hands to silo-vmm: it
 * reports after 2 s of quiet (PAGE_REPORTING_DELAY), and a reported page is
 * a hole in the snapshot's memory file. The clones read those blocks back
 * through the host's page cache, which they share. */
#define PREPARE_SH "sync; echo 3 > /proc/sys/vm/drop_caches; sleep 3; sync"
/* The same, but with the Docker client's pages and the daemon's path to an
 * answer read back in before the snapshot: every clone's first Docker
 * command needs them, and a clone that faults them in reads them from its
 * disks through virtio-blk (4.5 s of a clone's first `docker info`
 * in the lab, docs/snapshots.md), while a page in the memory file comes from
 * the host's page cache, shared by every clone. */
#define PREPARE_DOCKER_SH                                                        \
	"sync; echo 3 > /proc/sys/vm/drop_caches; docker info >/dev/null 2>&1; " \
	"sleep 3; sync"

/* How much of a failed build command's stderr the error repeats. */
#define PREP_TAIL 1024

/* Writing guest RAM out (a hole per page never touched) is quick; this
 * bounds a host whose disk is very slow, not the normal case. */
#define SNAPSHOT_TIMEOUT_S 300

/* The request line, with nfds descriptors (SCM_RIGHTS) on its bytes. */
static int send_req(int fd, const char *req, const int *fds, unsigned int nfds)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", req);

	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = EINVAL;
		return -1;
	}
	return scm_send_fds(fd, line, (size_t)n, fds, nfds, MSG_NOSIGNAL) == n ? 0 : -1;
}

int sb_control(const char *ctl, const char *req, const int *fds, unsigned int nfds, char *reply,
	       size_t n, int timeout_s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	size_t len = 0;
	int fd, r = -1;

	if (strlen(ctl) >= sizeof(a.sun_path))
		return sb_fail("control socket path too long: %s", ctl);
	memcpy(a.sun_path, ctl, strlen(ctl) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sb_fail("socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || send_req(fd, req, fds, nfds) < 0) {
		sb_fail("silo-vmm control socket %s: %s", ctl, strerror(errno));
		goto out;
	}
	while (len + 1 < n && !memchr(reply, '\n', len)) {
		ssize_t k = read(fd, reply + len, n - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	reply[len] = 0;
	reply[strcspn(reply, "\r\n")] = 0;
	r = len ? 0 : sb_fail("silo-vmm did not answer '%s' within %d s", req, timeout_s);
out:
	close(fd);
	return r;
}

/* Builds whose silo was killed outright: .<T>.tmp-<pid> of a dead pid. */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *dash = strrchr(e->d_name, '-');
		if (e->d_name[0] != '.' || !strstr(e->d_name, ".tmp-") || !dash)
			continue;
		int pid = atoi(dash + 1);
		if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
			sb_rmtree_at(dirfd(d), e->d_name);
	}
	closedir(d);
}

/* <data>/templates made, T not there yet, a fresh tmp directory. */
static int prepare_dirs(const struct sb_paths *p, const char *name, char *tmp)
{
	char base[SB_PATH_MAX], final[SB_PATH_MAX];

	if (sb_template_dir(p, name, final) < 0 || sb_templates_dir(p, base) < 0)
		return -1;
	if (sb_mkdir_p(base, 0700) < 0)
		return sb_fail("cannot create %s: %s", base, strerror(errno));
	if (sb_dir_private(p->data, "data directory", p->data_hint, false) < 0 ||
	    sb_dir_private(base, "templates directory", p->data_hint, false) < 0)
		return -1;
	if (sb_exists(final))
		return sb_fail("template %s exists: remove it first with 'silo template rm %s'",
			       name, name);
	remove_stale(base);
	if (sb_path(tmp, "%s/.%s.tmp-%d", base, name, (int)getpid()) < 0)
		return -1;
	if (mkdir(tmp, 0700) < 0)
		return sb_fail("cannot create %s: %s", tmp, strerror(errno));
	return 0;
}

/* Boot the build sandbox (locked in *sb) and wait until it is ready. */
static int boot(struct sandbox *sb, const struct sb_paths *p, const char *name,
		const struct sb_config *want, const struct sb_opts *opts)
{
	char sbname[SB_NAME_MAX + 1];

	/* named after the template, so `silo ls` says what it is */
	snprintf(sbname, sizeof(sbname), "tmpl-%s", name);
	if (sb_create(sb, p, sbname, want, NULL) < 0)
		return -1;
	sb_close(sb);
	if (sb_open(sb, p, sbname, true) < 0)
		return -2; /* created, but not ours to clean up: removed meanwhile */
	sb->opts = opts;
	if (sb_start(sb) < 0)
		return -1;
	if (!want->no_docker && sb_wait_docker(sb, sb_boot_timeout(sb)) < 0)
		return -1;
	return 0;
}

/* The build command, as `silo exec` would run it; its stdout goes to our
 * stderr (our stdout is the template's name), its stderr to a memfd whose
 * tail a failure shows. No time limit: an image build may be long. */
static int run_prep(struct sandbox *sb, const char *const *cmd)
{
	char tail[PREP_TAIL + 1];
	int efd = memfd_create("silo-prep-err", MFD_CLOEXEC), rc = -1;
	struct aclient_exec_opts o = { .argv = cmd,
				       .env = (const char *const *)sb->cfg.env,
				       .cwd = "/workspace",
				       .user = "agent",
				       .in_fd = -1,
				       .out_fd = STDERR_FILENO,
				       .err_fd = efd,
				       .sig_fd = -1,
				       .tty_fd = -1 };
	struct aclient_err e = { 0 };
	struct proto_exit x;

	if (efd < 0)
		return sb_fail("memfd: %s", strerror(errno));
	sb_progress_begin(sb_status_line(sb), sb->name);
	sb_progress_step(sb_status_line(sb), "running the build command");
	sb_progress_end(sb_status_line(sb));
	if (aclient_exec(sb->addr, &o, &x, &e) < 0) {
		sb_fail("template build: %s: %s", cmd[0], e.msg);
		goto out;
	}
	int code = (x.flags & EXIT_F_SIGNALED) ? 128 + (x.code & 0x7f) : (x.code & 0xff);
	if (code != 0) {
		/* the tail to stderr, its last line in the error */
		const char *last = sb_fd_tail(efd, tail, sizeof(tail)), *nl = strrchr(last, '\n');

		if (nl) {
			fprintf(stderr, "%.*s\n", (int)(nl - last), last);
			last = nl + 1;
		}
		sb_fail("template build: the build command failed (exit %d)%s%s", code,
			last[0] ? ": " : "", last);
		goto out;
	}
	rc = 0;
out:
	close(efd);
	return rc;
}

/* The snapshot's files in tmp, opened here and passed to silo-vmm with
 * the request (it opens no file: docs/security.md); the state file gets
 * its name once silo-vmm said it is complete. */
static int snapshot_to(struct sandbox *sb, const char *tmp)
{
	char ctl[SB_PATH_MAX], reply[512];
	int dfd, fds[2] = { -1, -1 }, rc = -1;

	if (sb_path(ctl, "%s/control.sock", sb->rundir) < 0)
		return -1;
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return sb_fail("%s: %s", tmp, strerror(errno));
	fds[0] = openat(dfd, "mem", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	fds[1] =
		openat(dfd, ".state.tmp", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fds[0] < 0 || fds[1] < 0) {
		sb_fail("%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (sb_control(ctl, "snapshot", fds, 2, reply, sizeof(reply), SNAPSHOT_TIMEOUT_S) < 0)
		goto out;
	if (strcmp(reply, "ok")) {
		sb_fail("sandbox %s: snapshot failed: %s", sb->name,
			strncmp(reply, "error ", 6) ? reply : reply + 6);
		goto out;
	}
	if (fsync(fds[0]) < 0 || fsync(fds[1]) < 0 ||
	    renameat(dfd, ".state.tmp", dfd, "state") < 0) {
		sb_fail("%s: saving the snapshot: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(dfd);
	return rc; /* a failed build's tmp goes whole (sb_template_build) */
}

/* The guest quiet and small, then `snapshot` into tmp. */
static int snapshot(struct sandbox *sb, const char *tmp, bool docker)
{
	char *out;
	int rc = -1;

	sb_progress_begin(sb_status_line(sb), sb->name);
	sb_progress_step(sb_status_line(sb), "dropping the guest's caches");
	if (sb_guest_sh(sb, docker ? PREPARE_DOCKER_SH : PREPARE_SH, &out, NULL) != 0)
		goto out;
	free(out);
	if (sb_cancelled(sb)) {
		sb_fail("template build interrupted");
		goto out;
	}
	sb_progress_step(sb_status_line(sb), "saving the snapshot");
	rc = snapshot_to(sb, tmp);
out:
	sb_progress_end(sb_status_line(sb));
	return rc;
}

/* The template file and the scratch disk, beside mem and state in tmp. */
static int keep(const struct sandbox *sb, const char *tmp, const struct sb_template *t)
{
	char src[SB_PATH_MAX], *text = NULL;
	size_t len = 0;
	int dfd, r = -1;

	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return sb_fail("%s: %s", tmp, strerror(errno));
	FILE *m = open_memstream(&text, &len);
	if (!m || sb_template_format(t, m) < 0 || fclose(m) != 0) {
		sb_fail("cannot format the template file");
		goto out;
	}
	sb_progress_begin(sb_status_line(sb), sb->name);
	sb_progress_step(sb_status_line(sb), "copying the scratch disk");
	r = sb_path(src, "%s/scratch.img", sb->dir) < 0 ? -1
							: sb_clone_file(src, dfd, "scratch.img");
	sb_progress_end(sb_status_line(sb));
	if (r == 0) {
		int fd = openat(dfd, SB_TEMPLATE_FILE,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
			r = sb_fail("%s/%s: %s", tmp, SB_TEMPLATE_FILE, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
out:
	free(text);
	close(dfd);
	return r;
}

/* silo-vmm's `working-set` of sb into dir/workingset, through a hidden
 * name: a template has a whole file or none. */
static int save_working_set(const struct sandbox *sb, const char *dir)
{
	char ctl[SB_PATH_MAX], reply[512];
	int dfd, fd, r = -1;

	if (sb_path(ctl, "%s/control.sock", sb->rundir) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return sb_fail("%s: %s", dir, strerror(errno));
	fd = openat(dfd, ".workingset.tmp", O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		sb_fail("%s/.workingset.tmp: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	if (sb_control(ctl, "working-set", &fd, 1, reply, sizeof(reply), SNAPSHOT_TIMEOUT_S) == 0) {
		if (strncmp(reply, "ok ", 3))
			sb_fail("sandbox %s: working set: %s", sb->name,
				strncmp(reply, "error ", 6) ? reply : reply + 6);
		else if (fsync(fd) < 0 || renameat(dfd, ".workingset.tmp", dfd, WSET_FILE) < 0)
			sb_fail("%s/%s: %s", dir, WSET_FILE, strerror(errno));
		else
			r = 0;
	}
	if (r < 0)
		unlinkat(dfd, ".workingset.tmp", 0);
	close(fd);
	close(dfd);
	return r;
}

/* The working set of the template's clones (src/vmm/snapshot/wset.h,
 * docs/snapshots.md): a test clone restored from the new template answers
 * what a clone is most likely asked first (`docker info`; a template
 * without Docker, nothing), then silo-vmm writes which guest pages it wrote
 * into dir/workingset, which every later restore faults in as its guest
 * starts. The test clone also proves the template restores. */
static int record_working_set(const struct sb_paths *p, const char *name,
			      const struct sb_config *want, const struct sb_opts *opts,
			      const char *dir)
{
	struct sb_config c = *want; /* read only by sb_create */
	struct sandbox sb = { .lock_fd = -1 };
	char sbname[SB_NAME_MAX + 1], saved[1024], *out = NULL;
	int r = -1;

	snprintf(c.template, sizeof(c.template), "%s", name);
	snprintf(sbname, sizeof(sbname), "tmpl-%s", name);
	if (sb_create(&sb, p, sbname, &c, NULL) < 0)
		return -1;
	sb_close(&sb);
	if (sb_open(&sb, p, sbname, true) < 0)
		return -1; /* created, but removed meanwhile: not ours */
	sb.opts = opts;
	if (sb_start(&sb) == 0) {
		sb_progress_begin(sb_status_line(&sb), sb.name);
		sb_progress_step(sb_status_line(&sb), "recording a clone's working set");
		sb_progress_end(sb_status_line(&sb));
		if (sb_guest_sh(&sb, want->no_docker ? "true" : "docker info >/dev/null", &out,
				NULL) == 0)
			r = save_working_set(&sb, dir);
		free(out);
	}
	snprintf(saved, sizeof(saved), "%s", sb_errmsg());
	if (sb_stop(&sb, 0) < 0 || sb_remove(&sb) < 0)
		sb_warn("%s", sb_errmsg());
	sb_close(&sb);
	if (r < 0)
		sb_fail("%s", saved);
	return r;
}

int sb_template_build(const struct sb_paths *p, const char *name, const struct sb_config *want,
		      const char *const *cmd, const struct sb_agent *agent,
		      const struct sb_opts *opts)
{
	char tmp[SB_PATH_MAX], final[SB_PATH_MAX];
	struct sb_template t = { .cpus = want->cpus,
				 .memory = want->memory,
				 .disk = want->disk,
				 .created = (int64_t)time(NULL),
				 .no_docker = want->no_docker,
				 .net = want->policy != NULL };
	struct sandbox sb = { .lock_fd = -1 };
	int r;

	char agent_dir[SB_PATH_MAX];

	snprintf(t.name, sizeof(t.name), "%s", name);
	if (agent)
		snprintf(t.agent, sizeof(t.agent), "%s %s", agent->name, agent->version);
	if (sb_template_dir(p, name, final) < 0 || sb_base_id(p, &t.base) < 0)
		return -1;
	/* the package before anything boots: npm is the likely failure */
	if (agent && sb_agent_fetch(p, agent, agent_dir) < 0)
		return -1;
	if (prepare_dirs(p, name, tmp) < 0)
		return -1;
	r = boot(&sb, p, name, want, opts);
	if (r == 0 && agent) {
		sb_progress_begin(sb_status_line(&sb), sb.name);
		sb_progress_step(sb_status_line(&sb), "installing the agent");
		r = sb_agent_install(&sb, agent, agent_dir);
		sb_progress_end(sb_status_line(&sb));
	}
	if (r == 0 && cmd && cmd[0])
		r = run_prep(&sb, cmd);
	if (r == 0 && sb_cancelled(&sb))
		r = sb_fail("template build interrupted");
	if (r == 0)
		r = snapshot(&sb, tmp, !want->no_docker);
	if (r == 0)
		r = keep(&sb, tmp, &t);
	/* Ctrl-C during the snapshot or the copy: no template either */
	if (r == 0 && sb_cancelled(&sb))
		r = sb_fail("template build interrupted");
	if (r == -2) {
		sb_rmtree(tmp);
		return -1;
	}
	/* The build sandbox goes either way (its VM is paused after a
	 * snapshot: stopped through the control socket, no guest shutdown). */
	char saved[1024];
	snprintf(saved, sizeof(saved), "%s", sb_errmsg());
	if (sb.name[0]) {
		if (sb_stop(&sb, 0) < 0 || sb_remove(&sb) < 0)
			sb_warn("%s", sb_errmsg());
		sb_close(&sb);
	}
	if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
		r = sb_fail("cannot create %s: %s", final,
			    errno == EEXIST || errno == ENOTEMPTY
				    ? "another build made it meanwhile"
				    : strerror(errno));
	else if (r < 0)
		sb_fail("%s", saved);
	if (r < 0) {
		sb_rmtree(tmp);
		return r;
	}
	/* A template that does not restore is no template */
	if (record_working_set(p, name, want, opts, final) < 0) {
		snprintf(saved, sizeof(saved), "%s", sb_errmsg());
		if (sb_template_remove(p, name) < 0)
			sb_warn("%s", sb_errmsg());
		return sb_fail("template %s: its test restore failed: %s", name, saved);
	}
	return 0;
}
