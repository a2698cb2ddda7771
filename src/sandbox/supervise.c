/* supervise.c: "silo _supervise", the detached parent of one silo-vmm
 * (the role conmon plays for podman). It exists so that somebody waits for
 * silo-vmm: its exit status, including death by a signal (kill -9, OOM),
 * becomes the sandbox's exit record, and the sockets it leaves are removed.
 *
 *   silo _supervise RUNDIR [--fsize BYTES] [--cgroup DIR] [--netd PATH
 *                   --net-dir DIR [--publish SPEC]...] -- VMM [ARGS]...
 *
 * Started detached (setsid, stdin /dev/null, stdout/stderr appended to the
 * console log) by sb_start. silo-vmm reports its exit reason on a pipe of
 * its own (--exit-fd), never through the console log: the guest writes
 * that file too, and could otherwise forge the reason `silo ls` shows.
 * --fsize caps every file silo-vmm writes (RLIMIT_FSIZE, SIGXFSZ ignored so
 * an overrun is a failed write, not a killed VM): a backstop behind
 * silo-vmm's own console cap.
 *
 * --netd: the sandbox has a network. Its broker silo-netd (docs/network.md)
 * starts beside silo-vmm, and silo-vmm's guest runs only once the broker
 * said "ready" on a pipe (silo-vmm's --start-gate): its vsock listeners
 * exist before the guest can connect, and a published port already in use
 * on the host ends the start, with silo-netd's one line as the exit reason
 * ("network: ..."), before any guest instruction ran. It dies with its
 * supervisor (PR_SET_PDEATHSIG) and is stopped when silo-vmm ends.
 *
 * --cgroup: the sandbox's cgroup v2 group (cgroup.h), made by sb_start with
 * its limits. silo-netd and silo-vmm each move themselves in between fork
 * and exec, before silo-vmm unshares a cgroup namespace of its own and
 * before the guest runs; the supervisor stays out, so it can remove the
 * group once both ended. One that cannot join ends the start ("cgroup:
 * ..."): the limits the start promised must hold. A SIGKILL that
 * memory.events counts as an OOM kill says so in the exit reason.
 *
 * silo-vmm and silo-netd each start in a PID namespace of their own
 * (clone_ns): part of their jails (docs/security.md) that they cannot make
 * themselves, since a process never changes its own PID namespace, only
 * its children's. SILO_VMM_JAIL=0 and SILO_NETD_JAIL=0 (read here as the
 * children read them: this is the supervisor's own process, not the
 * library) leave it out with the rest of each jail.
 */
#include "sandbox/sandbox.h"
#include "sandbox/cgroup.h"
#include "proto/contract.h"
#include "vmm/jail/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t vmm_pid;

/* SIGTERM to us means "stop the VM": silo-vmm exits 9 on SIGTERM. */
static void forward(int sig)
{
	if (vmm_pid > 0)
		kill(vmm_pid, sig);
}

static void write_pid(const char *rundir, const char *file, int pid)
{
	char f[SB_PATH_MAX], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", pid);
	if (sb_path(f, "%s/%s", rundir, file) == 0)
		sb_write_file_atomic(f, buf, (size_t)n);
}

/* The fd silo-vmm gets for its exit reason (--exit-fd). */
#define EXIT_FD	 3
#define PEER_FD	 4 /* silo-vmm's --vsock-peer (make_peer) */
#define GATE_FD	 5 /* silo-vmm's --start-gate (run_vmm) */
/* ... and the ports silo-netd serves there (docs/network.md) */
#define PEER_ARG "4:1053,1080"
_Static_assert(PEER_FD == 4 && SILO_NET_PORT_DNS == 1053 && SILO_NET_PORT_CONNECT == 1080,
	       "PEER_ARG spells PEER_FD and silo-netd's ports");

/* --cgroup: the group's path and its cgroup.procs, open for the children
 * to write themselves into (-1: no group). */
struct sup_cgroup {
	const char *path;
	int procs;
};

/* silo-vmm's last words from its exit pipe, e.g. "guest reset (i8042)
 * (exit 0)": one line, at most n - 1 bytes; "" if it said nothing. */
static void read_reason(int fd, char *out, size_t n)
{
	size_t len = 0;
	out[0] = 0;
	while (len + 1 < n) {
		ssize_t r = read(fd, out + len, n - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	out[len] = 0;
	out[strcspn(out, "\r\n")] = 0; /* the record is key=value lines */
}

/* A new pair's two descriptors moved above GATE_FD, the highest of the
 * fixed ones silo-vmm gets (EXIT_FD, PEER_FD, GATE_FD), so exec_vmm's
 * dup2s onto those cannot close one; close-on-exec. The originals are
 * closed; out is -1s when either could not move. */
static void lift_pair(const int in[2], int out[2])
{
	out[0] = fcntl(in[0], F_DUPFD_CLOEXEC, GATE_FD + 1);
	out[1] = fcntl(in[1], F_DUPFD_CLOEXEC, GATE_FD + 1);
	close(in[0]);
	close(in[1]);
	if (out[0] < 0 || out[1] < 0) {
		if (out[0] >= 0)
			close(out[0]);
		if (out[1] >= 0)
			close(out[1]);
		out[0] = out[1] = -1;
	}
}

/* The socket pair between silo-vmm (--vsock-peer) and silo-netd
 * (--peer-fd): the guest's connections to the broker's ports reach it as
 * descriptors on it, not as connects to paths in the run directory, which
 * a jailed silo-vmm cannot reach (docs/security.md). SEQPACKET: each
 * message is one connection, its port and its descriptor together, both
 * ends lifted (lift_pair). Without it (no descriptors left) silo-vmm falls
 * back to the broker's paths, which only an unjailed one reaches: the guest's
 * streams are then refused, and the sandbox runs without a network. */
static void make_peer(int peer[2])
{
	int sv[2];

	peer[0] = peer[1] = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0)
		lift_pair(sv, peer);
}

/* fork(), the child in a new PID namespace (its pid 1 there) unless its
 * jail is off (jail_env "0"). CLONE_NEWPID needs CAP_SYS_ADMIN: not root, a user namespace
 * comes in the same clone and gives it (in that namespace only). Raw clone
 * with no new stack returns twice as fork does; the supervisor has one
 * thread, so nothing of libc's is left half-done in the child. *userns
 * says whether the child must map its ids. */
static bool jail_on(const char *jail_env)
{
	const char *jail = getenv(jail_env);

	return !jail || strcmp(jail, "0");
}

static int clone_ns(const char *jail_env, bool *userns)
{
	unsigned long flags = SIGCHLD;

	*userns = false;
	if (jail_on(jail_env)) {
		flags |= CLONE_NEWPID;
		if (geteuid() != 0) {
			flags |= CLONE_NEWUSER;
			*userns = true;
		}
	}
	return (int)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
}

static void exec_vmm(char **vmm_argv, int argc, int exit_w, int peer, int gate,
		     unsigned long long fsize, const struct sup_cgroup *cg, bool userns,
		     unsigned uid, unsigned gid)
{
	int r;

	/* in a new user namespace the child is nobody until it maps our
	 * ids (userns.h); before exec, so silo-vmm starts as that uid, with
	 * no capabilities */
	if (userns && (r = jail_map_ids(uid, gid)) < 0) {
		dprintf(exit_w,
			"jail: mapping uid %u in silo-vmm's user namespace: %s (exit 127)\n", uid,
			strerror(-r));
		_exit(127);
	}
	if (cg->procs >= 0 && (r = sb_cg_join(cg->procs)) < 0) {
		dprintf(exit_w, "cgroup: cannot move silo-vmm into %s: %s (exit 127)\n", cg->path,
			strerror(-r));
		_exit(127);
	}
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* ignored survives exec: past the limit, write() fails with EFBIG */
	signal(SIGXFSZ, SIG_IGN);
	if (fsize) {
		struct rlimit rl = { fsize, fsize };
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			goto fail;
	}
	if (exit_w != EXIT_FD && dup2(exit_w, EXIT_FD) < 0)
		goto fail;
	if (exit_w == EXIT_FD && fcntl(EXIT_FD, F_SETFD, 0) < 0)
		goto fail;
	/* peer and gate are above GATE_FD (lift_pair): no dup2 here closes
	 * one before it is used */
	if (peer >= 0 && dup2(peer, PEER_FD) < 0)
		goto fail;
	if (gate >= 0 && dup2(gate, GATE_FD) < 0)
		goto fail;
	char **argv = calloc((size_t)argc + 7, sizeof(*argv));
	if (!argv)
		goto fail;
	int a = 0;
	argv[a++] = vmm_argv[0];
	argv[a++] = "--exit-fd";
	argv[a++] = "3";
	_Static_assert(EXIT_FD == 3, "argv[2] spells EXIT_FD");
	if (peer >= 0) {
		argv[a++] = "--vsock-peer";
		argv[a++] = PEER_ARG;
	}
	if (gate >= 0) {
		argv[a++] = "--start-gate";
		argv[a++] = "5";
		_Static_assert(GATE_FD == 5, "the gate's argument spells GATE_FD");
	}
	for (int i = 1; i < argc; i++)
		argv[a++] = vmm_argv[i];
	/* Jailed, silo-vmm gets descriptors instead of paths (vmm_fds.c);
	 * after the dup2s above, so none lands on EXIT_FD, PEER_FD or GATE_FD. */
	char why[SB_PATH_MAX + 200];
	struct sb_vmm_fd_words words = { .n = 0 };
	if (jail_on("SILO_VMM_JAIL") && sb_vmm_open_fds(argv, &words, why, sizeof(why)) < 0) {
		dprintf(EXIT_FD, "setup failed: %s (exit %d)\n", why, VMM_EXIT_SETUP);
		dprintf(STDERR_FILENO, "silo-vmm: setup failed: %s (exit %d)\n", why,
			VMM_EXIT_SETUP);
		_exit(VMM_EXIT_SETUP);
	}
	execv(argv[0], argv);
fail:
	dprintf(EXIT_FD, "cannot execute %s: %s (exit 127)\n", vmm_argv[0], strerror(errno));
	dprintf(STDERR_FILENO, "silo-vmm: cannot execute %s: %s (exit 127)\n", vmm_argv[0],
		strerror(errno));
	_exit(127);
}

/* How long silo-netd may take to bind its sockets before the start fails. */
#define NETD_READY_MS 10000

struct netd_opts {
	const char *path, *dir;
	const char *publish[SB_PUBLISH_MAX];
	int npublish;
	int peer;		 /* its end of the vsock peer socket (make_peer), or -1 */
	int secrets;		 /* --secrets-fd (SB_SECRETS_FD), or -1 */
	const char *upstream_ca; /* --upstream-ca, or NULL */
};

/* The broker's files, named under rundir and the sandbox's dir. */
struct netd_files {
	char vsock[SB_PATH_MAX], policy[SB_PATH_MAX], log[SB_PATH_MAX], stats[SB_PATH_MAX];
	char fdnum[16], peernum[16], secretsnum[16], ca_out[SB_PATH_MAX];
};

/* silo-netd's argv (docs/network.md "The broker"); --ready-fd last, as
 * silo-netd reports errors in the arguments before it there too. */
static void netd_argv(const struct netd_opts *o, const struct netd_files *f, const char **argv)
{
	int a = 0;

	argv[a++] = o->path;
	argv[a++] = "--vsock";
	argv[a++] = f->vsock;
	argv[a++] = "--policy";
	argv[a++] = f->policy;
	argv[a++] = "--log";
	argv[a++] = f->log;
	argv[a++] = "--stats";
	argv[a++] = f->stats;
	for (int i = 0; i < o->npublish; i++) {
		argv[a++] = "--publish";
		argv[a++] = o->publish[i];
	}
	if (o->peer >= 0) {
		argv[a++] = "--peer-fd";
		argv[a++] = f->peernum;
	}
	if (o->secrets >= 0) {
		argv[a++] = "--secrets-fd";
		argv[a++] = f->secretsnum;
		argv[a++] = "--ca-out";
		argv[a++] = f->ca_out;
	}
	if (o->secrets >= 0 && o->upstream_ca) {
		argv[a++] = "--upstream-ca";
		argv[a++] = o->upstream_ca;
	}
	argv[a++] = "--ready-fd";
	argv[a++] = f->fdnum;
	argv[a] = NULL;
}

/* The child's side of clone_ns: dies with us, reports an exec failure on
 * the ready pipe. */
static void exec_netd(int alive[2], const char *path, const char **argv, int ready, int peer,
		      int secrets, const struct sup_cgroup *cg, bool userns, unsigned uid,
		      unsigned gid)
{
	struct pollfd p = { .fd = alive[0] };
	int r;

	/* gone with us, even by SIGKILL: no broker outlives its VM. Did we
	 * die before the prctl? getppid cannot say from a new PID namespace
	 * (0 there): the write end of alive, which only we hold, can. */
	close(alive[1]);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || poll(&p, 1, 0) != 0)
		_exit(125);
	if (userns && (r = jail_map_ids(uid, gid)) < 0) {
		dprintf(ready, "error: jail: mapping uid %u in silo-netd's user namespace: %s\n",
			uid, strerror(-r));
		_exit(127);
	}
	if (cg->procs >= 0 && (r = sb_cg_join(cg->procs)) < 0) {
		dprintf(ready, "error: cgroup: cannot move silo-netd into %s: %s\n", cg->path,
			strerror(-r));
		_exit(127);
	}
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (fcntl(ready, F_SETFD, 0) < 0 || (peer >= 0 && fcntl(peer, F_SETFD, 0) < 0) ||
	    (secrets >= 0 && fcntl(secrets, F_SETFD, 0) < 0))
		_exit(125);
	execv(path, (char **)argv);
	dprintf(ready, "error: cannot execute %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* The first line on fd within NETD_READY_MS, without its newline; its
 * length (0: nothing came). */
static size_t read_ready_line(int fd, char *line, size_t size)
{
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		int r = poll(&p, 1, NETD_READY_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t k = read(fd, line + len, size - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
		if (memchr(line, '\n', len) || len == size - 1)
			break;
	}
	line[len] = 0;
	line[strcspn(line, "\r\n")] = 0;
	return len;
}

/* A broker started and not yet ready (netd_spawn, netd_wait_ready). */
struct netd_start {
	int pid;
	int ready; /* read end of its ready pipe */
	int alive; /* write end: it exits once this closes before it execs */
};

/* Start silo-netd; its pid (ns->pid), or -1 with the reason in why. */
static int netd_spawn(const char *rundir, const struct netd_opts *o, const struct sup_cgroup *cg,
		      struct netd_start *ns, char *why, size_t n)
{
	struct netd_files f;
	const char *argv[24 + 2 * SB_PUBLISH_MAX];
	int ready[2];

	if (sb_path(f.vsock, "%s/vsock.sock", rundir) < 0 ||
	    sb_path(f.policy, "%s/%s", o->dir, SB_POLICY_FILE) < 0 ||
	    sb_path(f.log, "%s/%s", o->dir, SB_NET_LOG) < 0 ||
	    sb_path(f.stats, "%s/%s", rundir, SB_NET_STATS) < 0 ||
	    sb_path(f.ca_out, "%s/%s", rundir, SB_EGRESS_CA) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
		snprintf(why, n, "cannot set up the network broker: %s", strerror(errno));
		return -1;
	}
	snprintf(f.fdnum, sizeof(f.fdnum), "%d", ready[1]);
	snprintf(f.peernum, sizeof(f.peernum), "%d", o->peer);
	snprintf(f.secretsnum, sizeof(f.secretsnum), "%d", o->secrets);
	netd_argv(o, &f, argv);
	int alive[2];
	if (pipe2(alive, O_CLOEXEC) < 0) {
		snprintf(why, n, "cannot start the network broker: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
	bool userns;
	int pid = clone_ns("SILO_NETD_JAIL", &userns);
	if (pid == 0)
		exec_netd(alive, o->path, argv, ready[1], o->peer, o->secrets, cg, userns, uid,
			  gid);
	close(ready[1]);
	close(alive[0]);
	if (pid < 0) {
		snprintf(why, n,
			 "cannot start the network broker in a PID namespace of its own: %s",
			 strerror(errno));
		close(alive[1]);
		close(ready[0]);
		return -1;
	}
	*ns = (struct netd_start){ .pid = pid, .ready = ready[0], .alive = alive[1] };
	return pid;
}

/* Wait for the broker's "ready" line: 0, or -1 with the reason in why
 * (its own "error: ..." line when it gave one) and the broker gone. */
static int netd_wait_ready(const struct netd_opts *o, struct netd_start *ns, char *why, size_t n)
{
	char line[400];
	/* the broker is past its check once it said anything */
	size_t len = read_ready_line(ns->ready, line, sizeof(line));

	close(ns->alive);
	close(ns->ready);
	ns->alive = ns->ready = -1;
	if (!strcmp(line, "ready"))
		return 0;
	kill(ns->pid, SIGKILL);
	while (waitpid(ns->pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (!strncmp(line, "error: ", 7))
		snprintf(why, n, "%s", line + 7);
	else /* (cut: a path and a line may exceed the reason's room) */
		snprintf(why, n, "the network broker %.200s did not start (%.150s)", o->path,
			 len ? line : "no answer");
	return -1;
}

/* SIGTERM, then SIGKILL after a short wait: it must not outlive the VM. */
static void stop_netd(int pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Sockets first: a live exit record means nothing is listening. */
static void remove_sockets(const char *rundir)
{
	char f[SB_PATH_MAX];
	if (sb_path(f, "%s/vsock.sock", rundir) == 0)
		unlink(f);
	glob_t g;
	char pat[SB_PATH_MAX + 8];
	snprintf(pat, sizeof(pat), "%s/vsock.sock_*", rundir);
	if (glob(pat, 0, NULL, &g) == 0)
		for (size_t i = 0; i < g.gl_pathc; i++)
			unlink(g.gl_pathv[i]);
	globfree(&g);
	if (sb_path(f, "%s/control.sock", rundir) == 0)
		unlink(f);
	if (sb_path(f, "%s/%s", rundir, SB_NETD_PID) == 0)
		unlink(f);
	if (sb_path(f, "%s/%s", rundir, SB_NET_STATS) == 0)
		unlink(f);
}

static void write_exit(const char *rundir, int code, int sig, const char *line)
{
	char rec[600], f[SB_PATH_MAX];
	int n = snprintf(rec, sizeof(rec), "code=%d\nsignal=%d\nreason=%s\n", code, sig, line);
	if (n >= (int)sizeof(rec))
		n = (int)sizeof(rec) - 1;
	if (sb_path(f, "%s/exit", rundir) == 0)
		sb_write_file_atomic(f, rec, (size_t)n);
	if (sb_path(f, "%s/vmm.pid", rundir) == 0)
		unlink(f);
	if (sb_path(f, "%s/supervisor.pid", rundir) == 0)
		unlink(f);
}

/* "[--fsize N] [--cgroup DIR] [--netd PATH --net-dir DIR [--publish SPEC]...
 * [--secrets-fd 3 [--upstream-ca FILE]]] -- VMM ARGV": the index of the VMM's argv in argv; a malformed line
 * exits 125 (it comes from silo itself, never from a user). */
static int parse_supervise_args(int argc, char **argv, unsigned long long *fsize,
				struct sup_cgroup *cg, struct netd_opts *netd)
{
	int i = 1;

	while (i + 1 < argc && strcmp(argv[i], "--")) {
		const char *opt = argv[i], *val = argv[i + 1];
		if (!strcmp(opt, "--fsize")) {
			char *end;
			errno = 0;
			*fsize = strtoull(val, &end, 10);
			if (errno || *end || !*fsize)
				_exit(125);
		} else if (!strcmp(opt, "--cgroup")) {
			cg->path = val;
		} else if (!strcmp(opt, "--netd")) {
			netd->path = val;
		} else if (!strcmp(opt, "--net-dir")) {
			netd->dir = val;
		} else if (!strcmp(opt, "--publish") && netd->npublish < SB_PUBLISH_MAX) {
			netd->publish[netd->npublish++] = val;
		} else if (!strcmp(opt, "--secrets-fd") && !strcmp(val, "3")) {
			/* silo-netd's alone: silo-vmm must not inherit it */
			netd->secrets = SB_SECRETS_FD;
			if (fcntl(netd->secrets, F_SETFD, FD_CLOEXEC) < 0)
				_exit(125);
		} else if (!strcmp(opt, "--upstream-ca")) {
			netd->upstream_ca = val;
		} else {
			_exit(125);
		}
		i += 2;
	}
	if (i + 1 >= argc || strcmp(argv[i], "--") || (netd->path && !netd->dir))
		_exit(125);
	return i + 1;
}

/* Remove the group once nothing runs in it: we reaped both children, but
 * KVM's worker thread of the VM, which shares the group, ends with the
 * VM's teardown, a moment later (up to 5 s; stop, rm and the next start
 * remove what is still there). */
static void cgroup_end(struct sup_cgroup *cg)
{
	if (!cg->path)
		return;
	close(cg->procs);
	for (int i = 0; i < 250 && rmdir(cg->path) < 0 && errno == EBUSY; i++)
		usleep(20000);
}

/* The group's cgroup.procs, before any child: one that cannot be opened
 * ends the start, as a broker that cannot start does. */
static void cgroup_open(const char *rundir, struct sup_cgroup *cg)
{
	char f[SB_PATH_MAX], line[SB_PATH_MAX + 100];

	cg->procs = -1;
	if (!cg->path)
		return;
	if (sb_path(f, "%s/cgroup.procs", cg->path) == 0 &&
	    (cg->procs = open(f, O_WRONLY | O_CLOEXEC)) >= 0)
		return;
	snprintf(line, sizeof(line), "cgroup: cannot open %s/cgroup.procs: %s", cg->path,
		 strerror(errno));
	dprintf(STDERR_FILENO, "silo: %s\n", line);
	write_exit(rundir, VMM_EXIT_SETUP, 0, line);
	_exit(0);
}

/* The broker could not start: the start ends here, its reason the exit
 * record, as silo-vmm's own host set-up failures (no guest ran). */
static void netd_failed(const char *rundir, struct sup_cgroup *cg, const char *why)
{
	char line[420 + 16];

	dprintf(STDERR_FILENO, "silo: network: %s\n", why);
	snprintf(line, sizeof(line), "network: %s", why);
	remove_sockets(rundir);
	cgroup_end(cg);
	write_exit(rundir, VMM_EXIT_SETUP, 0, line);
	_exit(0);
}

/* The broker, started beside silo-vmm: its exec, OpenSSL's start and its
 * jail take ~0.13 s in the lab, silo-vmm's restore about as much, and
 * neither needs the other until the guest runs. Its
 * secrets go with it and with nobody else: silo-vmm is started next. The
 * guest waits at silo-vmm's --start-gate until the broker is ready
 * (run_vmm): its vsock listeners and its CA exist before the guest can
 * reach them, and a broker that fails (a published port in use) ends the
 * start before any guest instruction ran, as when it came first. Returns
 * its pid (0: no network). */
static int supervise_netd(const char *rundir, const struct netd_opts *netd, struct sup_cgroup *cg,
			  struct netd_start *ns)
{
	char why[400];
	int pid;

	*ns = (struct netd_start){ .pid = 0, .ready = -1, .alive = -1 };
	if (!netd->path)
		return 0;
	pid = netd_spawn(rundir, netd, cg, ns, why, sizeof(why));
	if (netd->secrets >= 0)
		close(netd->secrets); /* the broker has its own */
	if (pid < 0)
		netd_failed(rundir, cg, why);
	write_pid(rundir, SB_NETD_PID, pid);
	return pid;
}

/* silo-netd ended while the VM runs (a crash, the seccomp filter, a kill):
 * the guest keeps running without a network, which `silo logs` says. */
static void netd_ended(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == NETD_EXIT_SECCOMP)
		dprintf(STDERR_FILENO,
			"silo: silo-netd was killed by seccomp (its line above names "
			"the syscall): no network until the sandbox restarts\n");
	else if (WIFSIGNALED(status))
		dprintf(STDERR_FILENO,
			"silo: silo-netd was killed by signal %d: no network until "
			"the sandbox restarts\n",
			WTERMSIG(status));
	else
		dprintf(STDERR_FILENO,
			"silo: silo-netd exited (code %d): no network until the "
			"sandbox restarts\n",
			WEXITSTATUS(status));
}

/* The pipe behind silo-vmm's --start-gate, both ends lifted (lift_pair);
 * -1s when it cannot be made (then the broker is waited for before
 * silo-vmm starts). */
static void make_gate(int gate[2])
{
	int p[2];

	gate[0] = gate[1] = -1;
	if (pipe2(p, O_CLOEXEC) == 0)
		lift_pair(p, gate);
}

/* Run silo-vmm to its end; its status and the reason it gave. A broker
 * still starting (ns->pid) is waited for once silo-vmm runs, and its
 * guest is let in at the gate once the broker is ready; a broker that
 * fails ends the start (netd_failed). A broker (*netd_pid) that ends
 * later is reaped and said (netd_ended), and *netd_pid becomes 0. */
static void run_vmm(const char *rundir, char **vmm_argv, int vmm_argc, int peer,
		    unsigned long long fsize, struct sup_cgroup *cg, const struct netd_opts *netd,
		    struct netd_start *ns, int *netd_pid, int *code, int *sig, char *line,
		    size_t len)
{
	/* Non-blocking read end: a process silo-vmm left behind holding
	 * the write end must not keep us from writing the record. */
	int exit_pipe[2], gate[2] = { -1, -1 }, status = 0;
	char why[400];
	if (pipe2(exit_pipe, O_CLOEXEC) < 0 || fcntl(exit_pipe[0], F_SETFL, O_NONBLOCK) < 0)
		_exit(125);
	if (ns->pid > 0)
		make_gate(gate);
	if (ns->pid > 0 && gate[0] < 0 && netd_wait_ready(netd, ns, why, sizeof(why)) < 0)
		netd_failed(rundir, cg, why);
	/* the ids as the parent sees them: in a new user namespace the child
	 * is nobody until it maps them */
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
	bool userns;
	int pid = clone_ns("SILO_VMM_JAIL", &userns);
	if (pid < 0) {
		snprintf(line, len,
			 "jail: cannot start silo-vmm in a PID namespace of its own: %s "
			 "(SILO_VMM_JAIL=0 runs without)",
			 strerror(errno));
		dprintf(STDERR_FILENO, "silo: %s\n", line);
		close(exit_pipe[0]);
		close(exit_pipe[1]);
		*code = 127;
		*sig = 0;
		return;
	}
	if (pid == 0)
		exec_vmm(vmm_argv, vmm_argc, exit_pipe[1], peer, gate[0], fsize, cg, userns, uid,
			 gid);
	close(exit_pipe[1]);
	if (gate[0] >= 0)
		close(gate[0]);
	if (peer >= 0)
		close(peer); /* silo-vmm's now: its end closes when it ends */
	vmm_pid = pid;
	/* its start time first: the CLI looks once the pid file is there
	 * (state.c, live_pid) */
	unsigned long long start;
	char st, startf[SB_PATH_MAX], buf[32];
	if (sb_proc_start(pid, &start, &st) == 0 &&
	    sb_path(startf, "%s/" SB_VMM_PID SB_START_SUFFIX, rundir) == 0)
		sb_write_file_atomic(startf, buf,
				     (size_t)snprintf(buf, sizeof(buf), "%llu\n", start));
	write_pid(rundir, SB_VMM_PID, pid);
	if (gate[1] >= 0) {
		if (netd_wait_ready(netd, ns, why, sizeof(why)) < 0) {
			/* silo-vmm is still at its gate: no guest ran */
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			vmm_pid = 0;
			netd_failed(rundir, cg, why);
		}
		/* EPIPE when silo-vmm ended already: its status says why */
		if (write(gate[1], "1", 1) < 0)
			dprintf(STDERR_FILENO, "silo: silo-vmm left before its start: %s\n",
				strerror(errno));
		close(gate[1]);
	}
	for (;;) {
		int r = waitpid(-1, &status, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && r == *netd_pid) {
			*netd_pid = 0;
			netd_ended(status);
			continue;
		}
		if (r == pid || r < 0)
			break;
	}
	vmm_pid = 0;

	*code = -1;
	*sig = 0;
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		/* memory.oom.group: silo-netd went with it */
		if (*sig == SIGKILL && cg->path && sb_cg_oom_killed(cg->path))
			snprintf(line, len,
				 "killed by the OOM killer: the sandbox's memory limit "
				 "(its cgroup's memory.max)");
		else
			snprintf(line, len, "killed by signal %d", *sig);
		dprintf(STDERR_FILENO, "silo: silo-vmm %s\n", line);
	} else {
		*code = WEXITSTATUS(status);
		read_reason(exit_pipe[0], line, len);
		if (!line[0])
			snprintf(line, len, "exit code %d", *code);
	}
}

void sb_supervise_main(int argc, char **argv)
{
	const char *rundir = argc > 0 ? argv[0] : NULL;
	unsigned long long fsize = 0;
	struct netd_opts netd = { .secrets = -1 };
	struct sup_cgroup cg = { 0 };
	int at = parse_supervise_args(argc, argv, &fsize, &cg, &netd);

	struct sigaction sa = { .sa_handler = forward };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	write_pid(rundir, "supervisor.pid", getpid());

	cgroup_open(rundir, &cg);
	int peer[2] = { -1, -1 };
	if (netd.path)
		make_peer(peer);
	netd.peer = peer[1];
	struct netd_start ns;
	int netd_pid = supervise_netd(rundir, &netd, &cg, &ns);
	if (peer[1] >= 0)
		close(peer[1]);
	char line[200];
	int code, sig;
	run_vmm(rundir, argv + at, argc - at, peer[0], fsize, &cg, &netd, &ns, &netd_pid, &code,
		&sig, line, sizeof(line));
	/* the order of the end: no broker, no sockets, then the record
	 * (a live exit record means nothing is listening) */
	if (netd_pid > 0)
		stop_netd(netd_pid);
	remove_sockets(rundir);
	write_exit(rundir, code, sig, line);
	/* after the record: waiting on the kernel must not delay a stop */
	cgroup_end(&cg);
	_exit(0);
}
