/* lifecycle.c: create, start, stop and remove a sandbox.
 *
 * Every step that can fail leaves nothing behind: a new sandbox is built in
 * a hidden directory and renamed into place (RENAME_NOREPLACE, so two
 * creators of one name cannot both win); a start that fails kills what it
 * spawned; removal renames the directory away before deleting it, so a
 * half-deleted sandbox is never listed.
 */
#include "sandbox/sandbox.h"
#include "sandbox/cgroup.h"
#include "net/policy.h"
#include "client/client.h"
#include "proto/contract.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool sb_cancelled(const struct sandbox *sb)
{
	return sb->opts && sb->opts->cancel && *sb->opts->cancel;
}

int sb_boot_timeout(const struct sandbox *sb)
{
	return sb->opts && sb->opts->boot_timeout > 0 ? sb->opts->boot_timeout
						      : sb->paths->boot_timeout;
}

struct sb_progress *sb_status_line(const struct sandbox *sb)
{
	return sb->opts ? sb->opts->progress : NULL;
}

/* How long `stop` waits for the agent to acknowledge SHUTDOWN (connect,
 * handshake and the DONE frame each), whatever the agent timeouts. */
#define STOP_ACK_MS 5000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mkdir_p(const char *path, mode_t mode)
{
	return sb_mkdir_p(path, mode);
}

/* Run argv, wait; 0 if it exited 0. Output goes to stderr. posix_spawn,
 * not fork: safe in a process with other threads (a server), and the
 * child gets none of the caller's other descriptors. */
static int run_cmd(char *const argv[])
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	int pid, st, r;

	if (posix_spawn_file_actions_init(&fa))
		return -1;
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, 2, 1);
	r = r ? r : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = r ? r : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void gen_name(char *out, size_t n)
{
	static const char *const adj[] = { "brave", "calm",  "eager", "fancy", "gentle", "happy",
					   "jolly", "keen",  "lucid", "merry", "nimble", "proud",
					   "quiet", "rapid", "sunny", "tidy",  "vivid",	 "witty" };
	static const char *const noun[] = { "otter", "falcon", "badger", "heron", "lynx",  "panda",
					    "raven", "tiger",  "whale",	 "yak",	  "zebra", "koala",
					    "bison", "crane",  "dingo",	 "gecko", "moose", "newt" };
	unsigned r;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &r, sizeof(r)) != sizeof(r))
		r = (unsigned)getpid() ^ (unsigned)time(NULL);
	if (fd >= 0)
		close(fd);
	snprintf(out, n, "%s-%s-%02x", adj[r % 18], noun[(r / 18) % 18], (r >> 16) & 0xff);
}

/* A new file in the new sandbox's directory (dfd): O_EXCL|O_NOFOLLOW, so
 * never anything that was there before, nor through a symlink. */
static int write_new(int dfd, const char *dir, const char *file, const char *data, size_t len)
{
	int fd = openat(dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return sb_fail("%s/%s: %s", dir, file, strerror(e));
	}
	close(fd);
	return 0;
}

/* The workspace to snapshot, made absolute in wsreal (SB_PATH_MAX). */
static int check_workspace(const char *workspace, char *wsreal)
{
	struct stat st;
	if (!realpath(workspace, wsreal) || stat(wsreal, &st) < 0)
		return sb_fail("workspace %s: %s", workspace, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return sb_fail("workspace %s is not a directory", workspace);
	return 0;
}

/* <data>/sandboxes, made now if it was not there: ours alone before
 * anything goes in. */
static int sandboxes_dir(const struct sb_paths *p, char *base)
{
	if (sb_path(base, "%s/sandboxes", p->data) < 0)
		return -1;
	if (mkdir_p(base, 0700) < 0)
		return sb_fail("cannot create %s: %s", base, strerror(errno));
	if (sb_dir_private(p->data, "data directory", p->data_hint, false) < 0 ||
	    sb_dir_private(base, "data directory", p->data_hint, false) < 0)
		return -1;
	return 0;
}

static int name_in_use(const char *name)
{
	return sb_fail("name already in use: %s (remove it with 'silo rm %s' or choose another "
		       "--name)",
		       name, name);
}

/* The name asked for, or a generated one not yet taken, in gen; its
 * directory in final. */
static int pick_name(const char *base, const char *name, char *gen, char *final)
{
	for (int attempt = 0;; attempt++) {
		if (!name)
			gen_name(gen, SB_NAME_MAX + 1);
		else
			snprintf(gen, SB_NAME_MAX + 1, "%s", name);
		if (sb_path(final, "%s/%s", base, gen) < 0)
			return -1;
		if (!sb_exists(final))
			return 0;
		if (name || attempt > 20)
			return name_in_use(gen);
	}
}

/* The config file of the new sandbox: *want under its final name, with
 * its creation time and workspace. */
static int write_config(int dfd, const char *tmp, const struct sb_config *want, const char *name,
			const char *wsreal)
{
	struct sb_config c = *want;
	char *cfg = NULL;
	size_t cfglen = 0;
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.created = (int64_t)time(NULL);
	snprintf(c.workspace, sizeof(c.workspace), "%s", wsreal);
	c.workspace_pending = wsreal[0] != 0;
	c.restore_pending = want->template[0] != 0;
	/* the env strings stay owned by *want; only borrowed for printing */
	for (unsigned i = 0; i < want->nenv; i++)
		c.env[i] = want->env[i];
	c.nenv = want->nenv;
	c.env[c.nenv] = NULL;
	FILE *f = open_memstream(&cfg, &cfglen);
	int r = 0;
	if (!f || sb_config_format(&c, f) < 0 || fclose(f) != 0)
		r = sb_fail("cannot format the config");
	else
		r = write_new(dfd, tmp, "config", cfg, cfglen);
	free(cfg);
	return r;
}

/* Sparse: costs host space only as the guest writes, never beyond
 * (sb_disk_check warns when they all could outgrow the host). */
static int size_scratch(int dfd, const char *tmp, uint64_t size)
{
	int fd = openat(dfd, "scratch.img", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		sb_fail("scratch disk %s/scratch.img: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Snapshot the tree now (what "copied in at create" means); owned by the
 * guest's agent user (uid 1000) once inside, without setuid/setgid/sticky
 * bits (the guest's tar extracts as root, keeping modes), as `silo cp` in
 * does. */
static int snapshot_workspace(const char *tmp, const char *wsreal)
{
	char tarf[SB_PATH_MAX];
	if (sb_path(tarf, "%s/workspace.tar", tmp) < 0)
		return -1;
	char *argv[] = { "tar",
			 "-c",
			 "-f",
			 tarf,
			 "-C",
			 (char *)wsreal,
			 "--owner=1000",
			 "--group=1000",
			 "--numeric-owner",
			 "--mode=ug-s,-t",
			 ".",
			 NULL };
	if (run_cmd(argv) < 0)
		return sb_fail("cannot read workspace %s (tar failed; see above)", wsreal);
	return 0;
}

/* A new empty disk, or (--template) a clone of the template's: the
 * disk its snapshot's memory was saved with. */
static int make_scratch(const struct sb_paths *p, int dfd, const char *tmp,
			const struct sb_config *want)
{
	char dir[SB_PATH_MAX], src[SB_PATH_MAX];

	if (!want->template[0])
		return write_new(dfd, tmp, "scratch.img", "", 0) < 0
			       ? -1
			       : size_scratch(dfd, tmp, want->disk);
	if (sb_template_dir(p, want->template, dir) < 0 || sb_path(src, "%s/scratch.img", dir) < 0)
		return -1;
	if (!sb_exists(src))
		return sb_fail("no such template: %s (see 'silo template ls')", want->template);
	return sb_clone_file(src, dfd, "scratch.img");
}

/* Everything a new sandbox holds, into the hidden directory tmp (dfd). */
static int fill_new(const struct sb_paths *p, int dfd, const char *tmp,
		    const struct sb_config *want, const char *name, const char *wsreal)
{
	if (write_config(dfd, tmp, want, name, wsreal) < 0 ||
	    write_new(dfd, tmp, "lock", "", 0) < 0 || make_scratch(p, dfd, tmp, want) < 0)
		return -1;
	/* The network policy (network.c); none: no network. */
	if (want->policy &&
	    write_new(dfd, tmp, SB_POLICY_FILE, want->policy, strlen(want->policy)) < 0)
		return -1;
	return wsreal[0] ? snapshot_workspace(tmp, wsreal) : 0;
}

int sb_create(struct sandbox *sb, const struct sb_paths *p, const char *name,
	      const struct sb_config *want, const char *workspace)
{
	char gen[SB_NAME_MAX + 1], base[SB_PATH_MAX], tmp[SB_PATH_MAX], final[SB_PATH_MAX];
	char wsreal[SB_PATH_MAX] = "";
	if (name && sb_name_check(name, "sandbox") < 0)
		return -1;
	if (workspace && check_workspace(workspace, wsreal) < 0)
		return -1;
	if (sandboxes_dir(p, base) < 0 || pick_name(base, name, gen, final) < 0 ||
	    sb_disk_check(p, want->disk) < 0 ||
	    sb_path(tmp, "%s/.new-%s-%d", base, gen, (int)getpid()) < 0)
		return -1;
	/* shared: the template stays until the new sandbox, whose config
	 * then says it uses the template, is in place */
	int tlock = want->template[0] ? sb_templates_lock(p, false) : -2;
	if (tlock == -1)
		return -1;
	if (mkdir(tmp, 0700) < 0) {
		sb_fail("cannot create %s: %s", tmp, strerror(errno));
		goto unlock;
	}
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		sb_fail("cannot open %s: %s", tmp, strerror(errno));
		rmdir(tmp);
		goto unlock;
	}
	int r = fill_new(p, dfd, tmp, want, gen, wsreal);
	close(dfd);
	if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			name_in_use(gen);
		else
			sb_fail("cannot create %s: %s", final, strerror(errno));
		r = -1;
	}
	if (tlock >= 0)
		close(tlock);
	if (r < 0) {
		sb_rmtree(tmp);
		return -1;
	}
	return sb_open(sb, p, gen, false);
unlock:
	if (tlock >= 0)
		close(tlock);
	return -1;
}

/* Run fn with the calling thread's agent timeouts capped at ms (never
 * longer than the caller's own, e.g. SILO_AGENT_TIMEOUT). */
static int with_timeouts(int ms, int (*fn)(const void *arg), const void *arg)
{
	struct aclient_timeouts saved, t;
	aclient_get_timeouts(&saved);
	t = saved;
	if (t.connect_ms > (uint32_t)ms)
		t.connect_ms = (uint32_t)ms;
	if (t.request_ms > (uint32_t)ms)
		t.request_ms = (uint32_t)ms;
	if (t.idle_ms > (uint32_t)ms)
		t.idle_ms = (uint32_t)ms;
	aclient_set_timeouts(&t);
	int r = fn(arg);
	aclient_set_timeouts(&saved);
	return r;
}

static int ping(const void *addr)
{
	struct aclient_err e;
	uint32_t v;
	return aclient_ping(addr, &v, &e);
}

static int shutdown_req(const void *addr)
{
	struct aclient_err e;
	return aclient_shutdown(addr, &e);
}

struct restored_try {
	const struct sandbox *sb;
	struct aclient_err err;
};

static int restored_req(const void *arg)
{
	struct restored_try *t = (struct restored_try *)arg;
	return sb_restored_try(t->sb, &t->err);
}

/* The client's own deadlines bound it: a guest that hangs mid-answer only
 * makes this fail. */
static int ping_once(const char *addr, int timeout_ms)
{
	return with_timeouts(timeout_ms, ping, addr);
}

static int wait_exit_record(struct sandbox *sb, double seconds, struct sb_status *st)
{
	double end = now() + seconds;
	for (;;) {
		if (sb_status(sb, st) < 0)
			return -1;
		if (st->state != SB_RUNNING)
			return 0;
		if (now() > end)
			return -1;
		sb_nap_ms(50);
	}
}

/* Hard stop: SIGTERM (silo-vmm ends the VM and exits 9; the supervisor
 * writes the record), then SIGKILL silo-vmm, then the supervisor too (its
 * record is lost then). Only used when the gentler ways failed. */
static void kill_all(struct sandbox *sb, struct sb_status *st)
{
	if (sb_status(sb, st) < 0 || st->state != SB_RUNNING)
		return;
	if (st->vmm_pid)
		kill(st->vmm_pid, SIGTERM);
	if (wait_exit_record(sb, 3, st) == 0)
		return;
	if (st->vmm_pid)
		kill(st->vmm_pid, SIGKILL);
	if (wait_exit_record(sb, 5, st) == 0)
		return;
	if (st->sup_pid)
		kill(st->sup_pid, SIGKILL);
	wait_exit_record(sb, 5, st);
}

void sb_kill(struct sandbox *sb)
{
	struct sb_status st;
	if (sb_status(sb, &st) < 0 || st.state != SB_RUNNING)
		return;
	/* the broker first: once its supervisor is gone it would only get
         * a SIGTERM (PR_SET_PDEATHSIG) and could still be exiting */
	int netd = sb_netd_pid(sb);
	if (netd > 0)
		kill(netd, SIGKILL);
	if (st.vmm_pid)
		kill(st.vmm_pid, SIGKILL);
	if (st.sup_pid)
		kill(st.sup_pid, SIGKILL);
}

static void spawn_supervisor(struct sandbox *sb, char **argv, const char *console, int secrets)
{
	/* Double fork + setsid: the supervisor is nobody's child we would
         * have to reap and survives this CLI and its terminal. */
	int pid = fork();
	if (pid != 0) {
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		return;
	}
	setsid();
	if (fork() != 0)
		_exit(0);
	int in = open("/dev/null", O_RDONLY);
	int log = open(console, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (in < 0 || log < 0)
		_exit(125);
	dup2(in, 0);
	dup2(log, 1);
	dup2(log, 2);
	/* the secrets for silo-netd at SB_SECRETS_FD, inherited: every other
	 * descriptor of ours is closed */
	if (secrets >= 0 &&
	    (dup2(secrets, SB_SECRETS_FD) < 0 || fcntl(SB_SECRETS_FD, F_SETFD, 0) < 0))
		_exit(125);
	close_range(secrets >= 0 ? SB_SECRETS_FD + 1 : 3, ~0u, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	(void)sb;
	execv(argv[0], argv);
	_exit(127);
}

/* A fresh run directory; its vsock path must fit a Unix socket address. */
static int prepare_rundir(struct sandbox *sb)
{
	const struct sb_paths *p = sb->paths;
	char vsock[SB_PATH_MAX];
	if (sb_path(vsock, "%s/vsock.sock", sb->rundir) < 0)
		return -1;
	/* room for the guest-initiated "_PORT" suffix too */
	if (strlen(vsock) + 12 >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return sb_fail("run directory %s is too long for a Unix socket: set SILO_RUN_DIR "
			       "or --run-dir to a shorter path",
			       p->run);
	sb_rmtree(sb->rundir);
	if (mkdir_p(p->run, 0700) < 0 || mkdir(sb->rundir, 0700) < 0)
		return sb_fail("cannot create %s: %s", sb->rundir, strerror(errno));
	return 0;
}

/* What the command line depends on beyond the sandbox itself: the network
 * (a policy file, and not mode none, network.c) and the caller's
 * settings (sb_paths). */
static int vmm_inputs(const struct sandbox *sb, struct sb_vmm_in *in, char *netd, size_t n,
		      int *secrets)
{
	struct net_policy *pol = NULL;
	*in = (struct sb_vmm_in){ .paths = sb->paths,
				  .name = sb->name,
				  .dir = sb->dir,
				  .rundir = sb->rundir,
				  .cfg = &sb->cfg,
				  .boot_timeout = sb_boot_timeout(sb),
				  .cmdline_extra = sb->paths->cmdline_extra };
	if (sb_net_load(sb, &pol) < 0)
		return -1;
	bool net = pol && pol->mode != NET_MODE_NONE;
	free(pol);
	if (net && sb_netd_path(sb->paths, netd, n) < 0)
		return -1;
	in->netd = net ? netd : NULL;
	/* the secrets go with a network only: without one there is nothing
	 * to add them to */
	char *env = NULL, f[SB_PATH_MAX];
	if (net && sb_secrets_netd(sb->paths, secrets, &env) < 0)
		return -1;
	in->secrets = *secrets >= 0;
	if (env && (sb_path(f, "%s/%s", sb->rundir, SB_SECRET_ENV) < 0 ||
		    sb_write_file_atomic(f, env, strlen(env)) < 0)) {
		free(env);
		return sb_fail("%s: %s", f, strerror(errno));
	}
	free(env);
	return 0;
}

/* silo-vmm ended before the agent answered: say why, and what to do. */
static void boot_failed(const struct sandbox *sb, const struct sb_exit *x)
{
	int c = x->code;
	/* silo-netd refused to start (supervise.c): no guest ran */
	if (!strncmp(x->reason, "network: ", 9)) {
		sb_fail("sandbox %s did not start: %s", sb->name, x->reason + 9);
		return;
	}
	/* its silo-vmm or silo-netd could not join its cgroup (supervise.c) */
	if (!strncmp(x->reason, "cgroup: ", 8)) {
		sb_fail("sandbox %s did not start: %s", sb->name, x->reason);
		return;
	}
	/* silo-vmm's reason says what is wrong with the snapshot */
	if (sb->cfg.restore_pending) {
		sb_fail("sandbox %s: cannot restore template %s: silo-vmm: %s", sb->name,
			sb->cfg.template, x->reason);
		return;
	}
	sb_fail("sandbox %s did not boot: silo-vmm: %s%s", sb->name, x->reason,
		(c == VMM_EXIT_SETUP || c == VMM_EXIT_KVM_ERROR || c == VMM_EXIT_BOOT_TIMEOUT)
			? " (KVM cannot run the guest here: run silo in the lab, "
			  "e.g. 'tests/lab/run build/silo ...')"
			: "; see 'silo logs'");
}

/* Ready when the agent answers; fail early when silo-vmm ended. Each
 * file the supervisor and silo-vmm make in the run directory (vmm.pid,
 * vsock.sock, exit) wakes the loop: a restore is ready within a few ms of
 * its vsock.sock on real KVM, well inside a fixed poll interval. */
static int wait_ready(struct sandbox *sb, const char *vsock, int boot_timeout, struct sb_status *st)
{
	double end = now() + boot_timeout + 5;
	int watch = sb_dir_watch(sb->rundir), rc = -1;
	for (;;) {
		if (sb_status(sb, st) < 0)
			break;
		if (st->state == SB_EXITED) {
			boot_failed(sb, &st->exit);
			break;
		}
		if (sb_cancelled(sb)) {
			sb_fail("sandbox %s: start interrupted", sb->name);
			break;
		}
		/* A restored guest's first request is RESTORED itself, not a
		 * ping before it: one agent connection fewer on every restore
		 * (the agent forks one process per connection). Its error is
		 * final: the agent answered. */
		if (sb_exists(vsock) && sb->cfg.restore_pending) {
			struct restored_try t = { .sb = sb };
			rc = with_timeouts(5000, restored_req, &t);
			if (rc == 0 || t.err.remote)
				break;
		} else if (sb_exists(vsock) && ping_once(sb->addr, 5000) == 0) {
			rc = 0;
			break;
		}
		/* vmm.pid appears once the supervisor has started silo-vmm */
		sb_progress_step(sb_status_line(sb), st->state != SB_RUNNING ? "starting silo-vmm"
						     : sb->cfg.restore_pending
							     ? "restoring the template, waiting "
							       "for its agent"
							     : "booting the guest, waiting for its "
							       "agent");
		if (now() > end) {
			char last[256];
			sb_console_last_line(sb, last, sizeof(last));
			sb_fail("sandbox %s: the guest agent did not answer within %d s "
				"(SILO_BOOT_TIMEOUT raises the limit); %s%s%s; see 'silo logs %s'",
				sb->name, boot_timeout,
				*last ? "its console ends \"" : "its console is empty", last,
				*last ? "\"" : "", sb->name);
			break;
		}
		sb_dir_wait(watch, 100);
	}
	if (watch >= 0)
		close(watch);
	return rc;
}

/* The first start of a sandbox made from a template: silo-vmm --restore
 * of the template's directory (tdir, SB_PATH_MAX), if the template is still
 * what the sandbox's disk was cloned from. */
static int restore_inputs(struct sandbox *sb, struct sb_vmm_in *in, char *tdir)
{
	const char *name = sb->cfg.template;
	struct sb_template t;
	struct sb_base_id base;
	char f[SB_PATH_MAX];
	struct stat st;

	if (sb_template_load(sb->paths, name, &t) < 0 || sb_base_id(sb->paths, &base) < 0 ||
	    sb_template_dir(sb->paths, name, tdir) < 0 || sb_path(f, "%s/mem", tdir) < 0)
		return -1;
	/* its page cache holds the old image's blocks */
	if (memcmp(&base, &t.base, sizeof(base)))
		return sb_fail("template %s was built on another guest image (rebuilt since): "
			       "build it again ('silo template rm %s', 'silo template build "
			       "--name %s')",
			       name, name, name);
	/* silo-vmm refuses it too, but only once it runs */
	if (stat(f, &st) < 0 || (uint64_t)st.st_size != t.memory)
		return sb_fail("template %s is damaged: its memory file %s is %s", name, f,
			       errno == ENOENT ? "missing" : "not its memory's size");
	in->restore = tdir;
	/* in use (template.c) from before silo-vmm maps it until it ends */
	if (sb_path(f, "%s/template", sb->rundir) < 0 ||
	    sb_write_file_atomic(f, name, strlen(name)) < 0)
		return sb_fail("%s: %s", f, strerror(errno));
	return 0;
}

int sb_start(struct sandbox *sb)
{
	struct sb_status st;
	if (sb_status(sb, &st) < 0)
		return -1;
	if (st.state == SB_RUNNING)
		return sb_fail("sandbox %s is already running", sb->name);
	if (sb_check_host(sb->paths) < 0)
		return -1;
	/* what a crashed run left (its record is in the old run dir) */
	sb_cgroup_remove(sb, SB_CGROUP_FS);
	if (prepare_rundir(sb) < 0)
		return -1;
	struct sb_vmm_cmd cmd;
	struct sb_vmm_in in;
	struct sb_cgroup cg;
	char netd[SB_PATH_MAX], tdir[SB_PATH_MAX];
	int secrets = -1;
	if (vmm_inputs(sb, &in, netd, sizeof(netd), &secrets) < 0 ||
	    (sb->cfg.restore_pending && restore_inputs(sb, &in, tdir) < 0)) {
		if (secrets >= 0)
			close(secrets);
		return -1;
	}
	sb_cgroup_setup(sb, SB_CGROUP_FS, in.netd != NULL, &cg);
	in.cgroup = cg.path[0] ? cg.path : NULL;
	if (sb->opts && sb->opts->cgroup_ready)
		sb->opts->cgroup_ready(sb->opts->cgroup_arg, cg.path);
	if (sb_vmm_cmd(&in, &cmd) < 0) {
		if (secrets >= 0)
			close(secrets);
		sb_cgroup_remove(sb, SB_CGROUP_FS);
		return -1;
	}
	spawn_supervisor(sb, cmd.argv, cmd.console, secrets);
	if (secrets >= 0)
		close(secrets);
	sb_progress_begin(sb_status_line(sb), sb->name);
	/* A restore is ready once the guest took, before anything else ran
	 * in it (the workspace copy below included), its fresh entropy, the
	 * time, this sandbox's hostname and a machine-id of its own
	 * (restored.c, wait_ready). A clone that did not take them is not
	 * started: it would share the template's RNG state. */
	int rc = wait_ready(sb, cmd.vsock, in.boot_timeout, &st);
	/* Restored once: every later start boots the sandbox's own disk. */
	if (rc == 0 && sb->cfg.restore_pending) {
		sb->cfg.restore_pending = false;
		rc = sb_save_config(sb);
	}
	/* before anything of the user's runs: the guest trusts this run's
	 * CA (a new one each start, silo-netd's) */
	if (rc == 0 && in.secrets)
		rc = sb_secrets_guest(sb);
	if (rc == 0 && sb->cfg.workspace_pending) {
		sb_progress_step(sb_status_line(sb), "copying the workspace in");
		rc = sb_workspace_copy_in(sb);
	}
	sb_progress_end(sb_status_line(sb));
	if (rc < 0) {
		/* kill_all leaves a silo-vmm that already ended alone */
		char saved[1024];
		snprintf(saved, sizeof(saved), "%s", sb_errmsg());
		kill_all(sb, &st);
		sb_cgroup_remove(sb, SB_CGROUP_FS);
		sb_fail("%s", saved);
		return -1;
	}
	return 0;
}

int sb_discard(struct sandbox *sb)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", sb_errmsg());
	/* its logs go with it: an error ending in a pointer there loses it */
	char *see = strstr(msg, "; see 'silo logs"), *q = see ? strchr(see + 16, '\'') : NULL;
	if (q && !q[1])
		*see = 0;
	sb_stop(sb, 0);
	sb_remove(sb);
	return sb_fail("%s", msg);
}

/* silo-vmm's control socket (src/vmm/control.c): "stop" ends the VM at
 * once. A send timeout bounds connect(2) and the write, so a VMM whose
 * event loop is stuck only makes this fail. */
static int control_stop(const char *ctl)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	if (strlen(ctl) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, ctl, strlen(ctl) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r = -1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(fd, "stop\n", 5, MSG_NOSIGNAL) == 5)
		r = 0;
	close(fd);
	return r;
}

int sb_stop(struct sandbox *sb, int timeout_s)
{
	struct sb_status st;
	if (sb_status(sb, &st) < 0)
		return -1;
	if (st.state == SB_RUNNING) {
		char ctl[SB_PATH_MAX];
		if (sb_path(ctl, "%s/control.sock", sb->rundir) < 0)
			return -1;
		/* 1: the guest syncs and unmounts its disks (nothing lost);
                 * 2: silo-vmm ends the VM at once; 3: SIGTERM, then SIGKILL.
                 * Every step has a deadline, so a guest (or VMM) that never
                 * answers only moves us on to the next: we hold the lock. The
                 * agent acknowledges SHUTDOWN at once (src/agent/main.c). */
		bool done = false;
		/* A paused guest cannot shut down: let it run again first
		 * (on failure the steps below still end it). */
		if (timeout_s > 0 && st.paused)
			sb_resume(sb);
		if (timeout_s > 0 && with_timeouts(STOP_ACK_MS, shutdown_req, sb->addr) == 0)
			done = wait_exit_record(sb, timeout_s, &st) == 0;
		if (!done && control_stop(ctl) == 0)
			done = wait_exit_record(sb, 10, &st) == 0;
		if (!done)
			kill_all(sb, &st);
		if (st.state == SB_RUNNING)
			return sb_fail("sandbox %s: could not stop silo-vmm (pid %d)", sb->name,
				       st.vmm_pid);
	}
	/* Stopped: the run dir only held runtime state; the cgroup is
	 * gone with the supervisor unless it died first. */
	sb_cgroup_remove(sb, SB_CGROUP_FS);
	if (sb_rmtree(sb->rundir) < 0)
		return sb_fail("cannot remove %s: %s", sb->rundir, strerror(errno));
	return 0;
}

int sb_remove(struct sandbox *sb)
{
	struct sb_status st;
	if (sb_status(sb, &st) < 0)
		return -1;
	if (st.state == SB_RUNNING)
		return sb_fail("sandbox %s is running: stop it first or use 'silo rm -f %s'",
			       sb->name, sb->name);
	sb_cgroup_remove(sb, SB_CGROUP_FS);
	if (sb_rmtree(sb->rundir) < 0)
		return sb_fail("cannot remove %s: %s", sb->rundir, strerror(errno));
	/* Rename away, then remove, both relative to <data>/sandboxes opened
         * O_NOFOLLOW: never a tree some symlink points to. */
	char base[SB_PATH_MAX], gone[SB_NAME_MAX + 32];
	if (sb_path(base, "%s/sandboxes", sb->paths->data) < 0)
		return -1;
	snprintf(gone, sizeof(gone), ".rm-%s-%d", sb->name, (int)getpid());
	int dfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return sb_fail("cannot remove %s: %s", sb->dir, strerror(errno));
	int r = 0;
	if (renameat(dfd, sb->name, dfd, gone) < 0)
		r = sb_fail("cannot remove %s: %s", sb->dir, strerror(errno));
	else if (sb_rmtree_at(dfd, gone) < 0)
		r = sb_fail("cannot remove %s/%s: %s", base, gone, strerror(errno));
	close(dfd);
	return r;
}
