/* main.c: silo-init entry point, accept loop and per-connection dispatch.
 *
 *   silo-init                        as the guest's PID 1: init.c duties, then
 *                                    serve on AF_VSOCK port SILO_AGENT_PORT
 *   silo-init --listen unix:PATH     a normal process serving the same protocol
 *   silo-init --listen vsock:PORT    on a Unix socket (host tests) or vsock
 *   silo-init --pid1 --listen ...    PID-1 duties too: for tests that run it
 *                                    as PID 1 of a pid+mount namespace
 *
 * Every connection is served by a forked process. For PID 1 that is the
 * safety property that matters: a bug hit by hostile input kills one handler,
 * never init (whose death panics the guest kernel), and whatever a handler
 * leaks ends with it. The main process only accepts, forks and reaps.
 */
#include "agent/agent.h"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIRST_FRAME_TIMEOUT_MS 60000 /* idle connections do not pin a process */

static bool is_pid1;

void agent_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dprintf(2, "silo-init: %s\n", buf);
}

pid_t agent_spawn(char *const argv[], int in_fd, int out_fd, int err_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid < 0 ? -errno : pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	int null = open("/dev/null", O_RDWR);
	/* All our fds are O_CLOEXEC and >= 3, so dup2 always makes a fresh,
         * inheritable copy on 0..2 and nothing else leaks into the helper. */
	if (dup2(in_fd >= 0 ? in_fd : null, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null, 1) < 0 ||
	    dup2(err_fd >= 0 ? err_fd : null, 2) < 0)
		_exit(126);
	execvp(argv[0], argv);
	dprintf(2, "%s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int agent_wait(pid_t pid)
{
	int st;
	for (;;) {
		if (waitpid(pid, &st, 0) == pid)
			return st;
		if (errno != EINTR)
			return -errno;
	}
}

/* The first frame decides the operation. HELLO and PING are answered in
 * place and may precede it on the same stream. */
static void serve_conn(int fd)
{
	struct proto_reader r;
	struct proto_frame f;
	uint32_t ver, feat;
	uint64_t nonce;
	struct pbuf b;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	pbuf_init(&b);
	if (proto_reader_init(&r, fd) < 0)
		return;
	if (poll(&p, 1, FIRST_FRAME_TIMEOUT_MS) <= 0)
		goto out;
	for (;;) {
		int rc = proto_read_frame(&r, &f);
		if (rc == 0)
			break;
		if (rc < 0) {
			proto_send_error(fd, -rc, "bad frame: %s", strerror(-rc));
			break;
		}
		switch (f.type) {
		case PT_HELLO:
			if (proto_dec_hello(&f, &ver, &feat) < 0)
				goto malformed;
			proto_enc_hello(&b, PROTO_VERSION, 0);
			if (proto_write_pbuf(fd, &b) < 0)
				goto out;
			continue;
		case PT_PING:
			if (proto_dec_ping(&f, &nonce, &ver) < 0)
				goto malformed;
			proto_enc_ping(&b, PT_PONG, nonce, PROTO_VERSION);
			if (proto_write_pbuf(fd, &b) < 0)
				goto out;
			continue;
		case PT_EXEC:
			exec_serve(fd, &r, &f);
			goto out;
		case PT_PUT_TAR:
		case PT_GET_TAR:
		case PT_PUT_FILE:
		case PT_GET_FILE:
		case PT_STAT:
		case PT_LIST:
		case PT_MKDIR:
		case PT_REMOVE:
			files_serve(fd, &r, &f);
			goto out;
		case PT_SHUTDOWN:
			if (proto_dec_empty(&f) < 0)
				goto malformed;
			proto_send_empty(fd, PT_DONE);
			/* The main process owns the power-off sequence. */
			kill(getppid(), SIGUSR2);
			goto out;
		case PT_RESTORED:
			restored_serve(fd, &f, is_pid1);
			goto out;
		default:
			proto_send_error(fd, EPROTO, "%s is not a request",
					 proto_type_name(f.type));
			goto out;
		}
malformed:
		proto_send_error(fd, EBADMSG, "malformed %s frame", proto_type_name(f.type));
		break;
	}
out:
	proto_reader_free(&r);
	pbuf_free(&b);
}

static int listen_on(const char *spec, char *unix_path, size_t plen)
{
	int fd;
	unix_path[0] = 0;
	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		if (strlen(spec + 5) >= sizeof(a.sun_path))
			return -ENAMETOOLONG;
		strcpy(a.sun_path, spec + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -errno;
		unlink(a.sun_path);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
		snprintf(unix_path, plen, "%s", a.sun_path);
	} else if (!strncmp(spec, "vsock:", 6)) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK,
					 .svm_cid = VMADDR_CID_ANY,
					 .svm_port = (unsigned)strtoul(spec + 6, NULL, 10) };
		if ((fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	} else {
		return -EINVAL;
	}
	if (listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:;
	int rc = -errno;
	close(fd);
	return rc;
}

/* Main process: accept, fork a handler, reap everything (handlers and, as
 * PID 1 or subreaper, every orphan in the system). Returns on SIGTERM/INT
 * or SHUTDOWN. */
static void reap_children(void)
{
	pid_t dead;
	while ((dead = waitpid(-1, NULL, WNOHANG)) > 0)
		trim_reaped(dead);
}

static void serve(int lfd, int sfd)
{
	struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
	/* A child of the set-up (the Docker watcher) that ended before
         * SIGCHLD was blocked sent a signal nobody kept: reap it now. */
	reap_children();
	for (;;) {
		trim_tick(); /* a no-op unless an idle trim is due */
		int n = poll(p, 2, trim_poll_ms());
		if (n <= 0) {
			if (n < 0 && errno != EINTR)
				agent_log("poll: %s", strerror(errno));
			continue;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				reap_children();
				if (si.ssi_signo == SIGUSR2 || si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT) {
					agent_log("%s from pid %u", strsignal((int)si.ssi_signo),
						  si.ssi_pid);
					return;
				}
			}
		}
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				agent_log("accept: %s", strerror(errno));
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			sigset_t none;
			sigemptyset(&none);
			close(lfd);
			close(sfd);
			sigprocmask(SIG_SETMASK, &none, NULL);
			serve_conn(fd);
			_exit(0);
		}
		if (pid < 0) {
			proto_send_error(fd, errno, "agent: fork: %s", strerror(errno));
			agent_log("fork: %s", strerror(errno));
		} else {
			trim_session(pid);
		}
		close(fd);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: silo-init [--listen unix:PATH|vsock:PORT] [--pid1]\n"
		"  As PID 1 (no options): set up the guest, serve on vsock port %u.\n"
		"  --listen: serve only; with --pid1 (as PID 1) also do the init duties.\n",
		SILO_AGENT_PORT);
}

int main(int argc, char **argv)
{
	char spec[256], upath[256];
	bool force_init = false;
	snprintf(spec, sizeof(spec), "vsock:%u", SILO_AGENT_PORT);
	is_pid1 = getpid() == 1;
	bool listen_given = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			snprintf(spec, sizeof(spec), "%s", argv[++i]);
			listen_given = true;
		} else if (!strcmp(argv[i], "--pid1")) {
			force_init = true;
		} else if (!is_pid1) {
			/* As init, the kernel passes unknown cmdline words
                         * as arguments: ignore them; otherwise be strict. */
			usage();
			return 2;
		}
	}
	/* --listen means "just serve" (host tests); --pid1 adds the PID-1
         * duties back, for testing them in a pid+mount namespace. */
	if (listen_given)
		is_pid1 = is_pid1 && force_init;
	else if (force_init && !is_pid1) {
		fprintf(stderr, "silo-init: --pid1 needs to run as PID 1 (e.g. unshare -fpm)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setenv("PATH", AGENT_PATH, 0);
	int lfd = -1;
	if (is_pid1) {
		init_early();
		/* A vsock listener needs no file system: listen before the
                 * root setup (mke2fs on first boot takes a while), so host
                 * CONNECTs wait in the backlog instead of being refused. */
		if (!strncmp(spec, "vsock:", 6))
			lfd = listen_on(spec, upath, sizeof(upath));
		init_system(); /* logs its own failures; we serve regardless */
	} else {
		/* Orphans of our commands come back to us, as they would to
                 * PID 1 in the guest, so host tests see the same reaping. */
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (lfd < 0) /* unix sockets: after the root switch, so the path is in it */
		lfd = listen_on(spec, upath, sizeof(upath));
	if (sfd < 0 || lfd < 0) {
		agent_log("cannot listen on %s: %s", spec, strerror(lfd < 0 ? -lfd : errno));
		if (is_pid1)
			init_poweroff(); /* PID 1 must not exit: stop the VM instead */
		return 1;
	}
	agent_log("listening on %s", spec);
	serve(lfd, sfd);
	if (is_pid1)
		init_poweroff();
	close(lfd);
	if (upath[0])
		unlink(upath);
	close(sfd);
	return 0;
}
