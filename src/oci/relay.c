/* relay.c: the host process behind a container's (or an exec's) process.
 *
 * containerd's runc shim is a subreaper: it waits for the pid that create
 * (or exec --detach) wrote to --pid-file and takes its exit status as the
 * container's. A VM's process is not a host process, so that pid is a
 * relay's: it runs the process in the guest through the agent, with the
 * shim's stdio (or a pty whose master went to --console-socket), passes
 * signals on, and exits with the guest process's status (128+N if killed
 * by signal N, as the shim reports a killed runc init).
 *
 * A pod's sandbox container has no process in the guest: its relay stands
 * for the pod's VM until a signal ends it or the VM ends.
 */
#include "oci/oci.h"
#include "client/exec_fe.h"
#include "proto/scm.h"
#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t started, end_sig;
static int sig_wr = -1;

/* What a process with the default disposition shrugs off. */
static bool ignored_by_default(int sig)
{
	return sig == SIGCHLD || sig == SIGWINCH || sig == SIGURG || sig == SIGCONT ||
	       sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == OCI_RELAY_SIG) {
		/* only what `kill` queued: its value is the signal */
		if (si->si_code != SI_QUEUE || si->si_value.sival_int < 1 ||
		    si->si_value.sival_int > 64)
			return;
		sig = si->si_value.sival_int;
	}
	if (!started || sig_wr < 0) {
		/* no guest process yet (before start), or none at all (a
		 * pod's sandbox): the relay itself is the process */
		if (!ignored_by_default(sig))
			end_sig = sig;
		return;
	}
	int e = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sig_wr, &b, 1) < 0) {
		/* a full pipe: the relay is wedged behind the agent anyway */
	}
	errno = e;
}

static void catch_signals(bool restart)
{
	struct sigaction sa = { .sa_sigaction = on_signal,
				.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0) };
	sigfillset(&sa.sa_mask);
	for (int s = 1; s < SIGRTMIN; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGPIPE)
			sigaction(s, &sa, NULL);
	sigaction(OCI_RELAY_SIG, &sa, NULL);
}

/* runc's console socket: the pty master travels with SCM_RIGHTS, the
 * slave's name as the message (what go-runc's ReceiveMaster reads). */
static int send_master(const char *sock, int master, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(sa.sun_path))
		return sb_fail("--console-socket %s: path too long", sock);
	strcpy(sa.sun_path, sock);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return sb_fail("--console-socket %s: %s", sock, strerror(e));
	}
	ssize_t w = scm_send_fds(s, name, strlen(name), &master, 1, MSG_NOSIGNAL);
	int e = errno;
	close(s);
	return w < 0 ? sb_fail("--console-socket %s: %s", sock, strerror(e)) : 0;
}

/* A host pty for a terminal process: its master to the console socket,
 * its slave (raw: the guest's pty does the line discipline) returned. */
static int open_pty(const struct oci_relay *r)
{
	if (!r->console_socket)
		return sb_fail("process.terminal is true but no --console-socket was given");
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave = -1;
	char name[64];
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, name, sizeof(name)) != 0 ||
	    (slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		int e = errno;
		if (master >= 0)
			close(master);
		return sb_fail("cannot open a pty: %s", strerror(e));
	}
	struct termios t;
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	if (r->proc->rows && r->proc->cols) {
		struct winsize ws = { .ws_row = (unsigned short)r->proc->rows,
				      .ws_col = (unsigned short)r->proc->cols };
		ioctl(master, TIOCSWINSZ, &ws);
	}
	int rc = send_master(r->console_socket, master, name);
	close(master);
	if (rc < 0) {
		close(slave);
		return -1;
	}
	return slave;
}

/* pid (0: the caller) into the cgroup at path, if any. */
static void join_cgroup(const char *cgroup, pid_t pid)
{
	char procs[SB_PATH_MAX + 16], num[16];
	if (!cgroup || snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup) < 0)
		return;
	int fd = open(procs, O_WRONLY | O_CLOEXEC), r = fd < 0 ? -errno : 0;
	if (r == 0 && !pid) {
		r = sb_cg_join(fd);
	} else if (r == 0) {
		int n = snprintf(num, sizeof(num), "%d", (int)pid);
		r = write(fd, num, (size_t)n) == n ? 0 : -errno;
	}
	if (r < 0)
		fprintf(stderr, "silo-runtime: warning: cannot join the cgroup %s: %s\n", cgroup,
			strerror(-r));
	if (fd >= 0)
		close(fd);
}

struct booting {
	const struct oci_relay *r;
	pid_t relay;
	int ready_fd; /* create's, until written */
};

/* sb_start made the VM's cgroup (the engine's linux.cgroupsPath) and has
 * started nothing in it yet: the relay goes in now, before create
 * returns, as runc's init is in its group when runc create returns (the
 * shim reads the group of the pid create wrote, for stats and OOM
 * events). Not sooner: sb_start empties the group first (what a crashed
 * run left). */
static void cgroup_ready(void *arg, const char *path)
{
	struct booting *b = arg;
	(void)path; /* the same group: both come from linux.cgroupsPath */
	if (getppid() == b->relay)
		join_cgroup(b->r->cgroup, b->relay);
	if (b->ready_fd >= 0 && write(b->ready_fd, "c", 1) < 0)
		fprintf(stderr, "silo-runtime: cannot tell create: %s\n", strerror(errno));
	if (b->ready_fd >= 0)
		close(b->ready_fd); /* not for what sb_start spawns next */
	b->ready_fd = -1;
}

/* A container's own VM boots while the engine goes on (create.c): in a
 * child of the relay, which says how it went in r->booted or
 * r->boot_error. */
static pid_t boot(const struct oci_relay *r)
{
	pid_t relay = getpid(), p = fork();
	if (p != 0)
		return p;
	signal(SIGTERM, SIG_DFL);
	struct booting b = { r, relay, r->ready_fd };
	struct sb_opts o = { .cgroup_ready = cgroup_ready, .cgroup_arg = &b };
	struct sandbox sb;
	bool opened = sb_open(&sb, r->paths, r->sandbox, true) == 0;
	if (opened) {
		sb.opts = &o;
		if (sb_start(&sb) == 0) {
			sb_close(&sb);
			_exit(sb_write_file_atomic(r->booted, "", 0) < 0);
		}
	}
	/* the error first: start and a pod's containers wait for it, and a
	 * VM that failed after its cgroup was made took the relay with it */
	char line[1100];
	int n = snprintf(line, sizeof(line), "%s\n", sb_errmsg());
	sb_write_file_atomic(r->boot_error, line, (size_t)n);
	fprintf(stderr, "silo-runtime: %s", line);
	if (opened) { /* a VM that does not come up is removed */
		sb_discard(&sb);
		sb_close(&sb);
	}
	_exit(1);
}

/* The pod's VM is this container's: the relay ends with a signal, or when
 * the VM ended (or never came up). */
static int hold_vm(const struct oci_relay *r, pid_t booter)
{
	for (unsigned tick = 0;; tick++) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		/* the VM stays until delete: the pod's containers end first
		 * (CRI stops them before the sandbox), and the relay, in the
		 * VM's cgroup, would be killed with it */
		if (end_sig)
			return 128 + end_sig;
		int ws;
		if (booter > 0 && waitpid(booter, &ws, WNOHANG) == booter) {
			booter = 0;
			if (!WIFEXITED(ws) || WEXITSTATUS(ws))
				return ACLIENT_EXIT_OWN;
		}
		if (booter > 0)
			continue;
		if (tick % 10)
			continue;
		struct sandbox sb;
		struct sb_status st;
		if (sb_open(&sb, r->paths, r->sandbox, false) < 0)
			return 255;
		int rc = sb_status(&sb, &st);
		sb_close(&sb);
		if (rc == 0 && st.state != SB_RUNNING) {
			fprintf(stderr, "silo-runtime: the pod's VM %s ended\n", r->sandbox);
			return 255;
		}
	}
}

static int run_in_guest(const struct oci_relay *r, int tty, int sig_rd)
{
	struct sandbox sb;
	char **env = NULL;
	if (sb_open(&sb, r->paths, r->sandbox, false) < 0 ||
	    sb_exec_env(&sb, (const char *const *)r->proc->env, &env) < 0) {
		fprintf(stderr, "silo-runtime: %s\n", sb_errmsg());
		return ACLIENT_EXIT_OWN;
	}
	struct aclient_exec_opts o = { .argv = (const char *const *)r->proc->args,
				       .env = (const char *const *)env,
				       .cwd = r->proc->cwd,
				       .user = r->proc->user,
				       .tty = tty >= 0,
				       .rows = (uint16_t)r->proc->rows,
				       .cols = (uint16_t)r->proc->cols,
				       .in_fd = 0,
				       .out_fd = 1,
				       .err_fd = tty >= 0 ? 1 : 2,
				       .sig_fd = sig_rd,
				       .tty_fd = tty };
	struct proto_exit x;
	struct aclient_err err;
	int rc = aclient_exec(sb.addr, &o, &x, &err);
	if (rc < 0)
		fprintf(stderr, "silo-runtime: %s\n", err.msg);
	sb_env_free(env);
	sb_close(&sb);
	return aclient_exit_status(rc, &x, &err);
}

/* The booter's end: 0 if the VM is up. A signal meanwhile (the process
 * was released, so it is the process's) ends the relay as it would have
 * ended the process. */
static int wait_boot(pid_t booter)
{
	int ws;
	while (waitpid(booter, &ws, 0) < 0)
		if (errno != EINTR || end_sig)
			return end_sig ? 128 + end_sig : ACLIENT_EXIT_OWN;
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : ACLIENT_EXIT_OWN;
}

static void __attribute__((noreturn)) relay_main(const struct oci_relay *cr, int tty)
{
	struct oci_relay r = *cr;
	setsid();
	if (tty >= 0) {
		ioctl(tty, TIOCSCTTY, 0);
		for (int fd = 0; fd < 3; fd++)
			dup2(tty, fd);
		close(tty);
		tty = 0;
	}
	/* nothing of create's but stdio and, for the booter, ready_fd (as 3) */
	if (r.booted && r.ready_fd >= 0) {
		if ((r.ready_fd != 3 && dup2(r.ready_fd, 3) < 0) ||
		    fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
			_exit(ACLIENT_EXIT_OWN);
		r.ready_fd = 3;
		close_range(4, ~0u, 0);
	} else {
		close_range(3, ~0u, 0);
	}
	signal(SIGPIPE, SIG_IGN);
	/* the container's cgroup, as runc's init joins it: the shim reads
	 * its pid's group for the container's stats (a VM of its own: the
	 * booter moves the relay in, cgroup_ready) */
	pid_t booter = r.booted ? boot(&r) : 0;
	if (booter < 0) {
		fprintf(stderr, "silo-runtime: fork: %s\n", strerror(errno));
		_exit(ACLIENT_EXIT_OWN);
	}
	if (r.booted && r.ready_fd >= 0)
		close(r.ready_fd); /* the booter's now: create sees EOF if it dies */
	if (!r.booted)
		join_cgroup(r.cgroup, 0);
	/* until start, a signal ends the relay: open(2) on the fifo must
	 * return EINTR for it, hence no SA_RESTART */
	catch_signals(false);
	if (r.fifo) {
		int fd;
		while ((fd = open(r.fifo, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR && !end_sig)
			;
		if (end_sig)
			_exit(128 + end_sig);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			fprintf(stderr, "silo-runtime: %s: %s\n", r.fifo, strerror(errno));
			_exit(ACLIENT_EXIT_OWN);
		}
		close(fd);
	}
	if (end_sig)
		_exit(128 + end_sig);
	if (r.kind == OCI_POD_SANDBOX)
		_exit(hold_vm(&r, booter));
	/* start waited for the boot (create.c); the booter may not have
	 * exited yet */
	int rc = booter > 0 ? wait_boot(booter) : 0;
	if (rc)
		_exit(rc);
	/* from here on signals go to the guest process, through a pipe
	 * that aclient_exec reads */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "silo-runtime: pipe: %s\n", strerror(errno));
		_exit(ACLIENT_EXIT_OWN);
	}
	fcntl(pfd[1], F_SETFL, O_NONBLOCK);
	sig_wr = pfd[1];
	catch_signals(true);
	started = 1;
	if (end_sig) /* it came before the pipe was there */
		_exit(128 + end_sig);
	_exit(run_in_guest(&r, tty, pfd[0]));
}

int oci_relay_spawn(const struct oci_relay *r, int *pid)
{
	int tty = -1;
	if (r->kind != OCI_POD_SANDBOX && r->proc->terminal && (tty = open_pty(r)) < 0)
		return -1;
	fflush(NULL);
	pid_t p = fork();
	if (p < 0) {
		int e = errno;
		if (tty >= 0)
			close(tty);
		return sb_fail("fork: %s", strerror(e));
	}
	if (p == 0)
		relay_main(r, tty);
	if (tty >= 0)
		close(tty);
	*pid = p;
	return 0;
}
