/* docker.c: the sandbox's private Docker daemon.
 *
 * Started by PID 1 in the background once the overlay root is up, so the
 * agent answers long before dockerd does. /var/lib/docker is a bind mount of
 * a directory on the scratch ext4: overlay2 cannot use an overlayfs (our root)
 * as its backing filesystem, and images must survive stop/start.
 *
 * Socket activation, as systemd's docker.socket does it: PID 1 binds the API
 * socket (/run/docker.sock = /var/run/docker.sock, root:docker 0660) before
 * the agent serves its first session, and dockerd gets it as fd 3 through the
 * LISTEN_FDS protocol (sd_listen_fds(3); `dockerd -H fd://`). A client that
 * connects before dockerd is up waits in the listen backlog instead of
 * failing, so `docker ...` works the moment `silo start` returns.
 * containerd's socket needs no such thing: its only client is dockerd, which
 * the watcher starts after containerd answers.
 *
 * Readiness is reported through the agent's ordinary file operations: a
 * watcher process answers GET /_ping on the socket and then writes
 * SILO_DOCKER_READY (its content: milliseconds since boot); if dockerd dies
 * or never answers, SILO_DOCKER_FAILED holds the reason, the end of
 * dockerd's log (SILO_DOCKER_LOG) goes to the console (`silo logs`), and the
 * socket answers every client with that reason (HTTP 503) instead of leaving
 * it waiting. The three paths are in proto/contract.h: the host reads them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

/* Debian installs dockerd in /usr/sbin; upstream packages in /usr/bin. */
static const char *const dockerd_paths[] = { "/usr/sbin/dockerd", "/usr/bin/dockerd" };
#define DOCKER_SOCK	    "/run/docker.sock" /* /var/run is a link to /run */
#define CONTAINERD	    "/usr/bin/containerd"
#define CONTAINERD_SOCK	    "/run/containerd/containerd.sock"
#define DOCKER_DATA	    "/.silo/scratch/docker"
#define DOCKER_WAIT_S	    900 /* give up after this long (emulated hosts are slow) */
#define LOG_TAIL_LINES	    20	/* of dockerd's log, copied to the console on failure */
#define SD_LISTEN_FDS_START 3	/* sd_listen_fds(3): passed fds start at 3 */

static long boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_status(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void write_status(const char *path, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	rename(tmp, path); /* readers see all of it or nothing */
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * The API socket, bound by PID 1 before any session can run (so no client
 * ever sees it missing). Owner root, group docker, mode 0660: what dockerd
 * itself would make, so `agent` (in group docker) may use it. Returns the
 * listening fd (O_CLOEXEC), or -1.
 */
static int docker_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group *gr = getgrnam("docker");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", DOCKER_SOCK);
	if (fd < 0)
		return -1;
	unlink(DOCKER_SOCK);
	old = umask(0177); /* no window in which the socket is wider than 0600 */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chown(DOCKER_SOCK, 0, gr ? gr->gr_gid : 0) < 0 || chmod(DOCKER_SOCK, 0660) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		agent_log("docker: socket %s: %s", DOCKER_SOCK, strerror(errno));
		umask(old);
		close(fd);
		unlink(DOCKER_SOCK);
		return -1;
	}
	umask(old);
	return fd;
}

/*
 * Start a daemon with its output appended to logpath. listen_fd >= 0 is
 * handed over as fd 3 with LISTEN_FDS=1 and LISTEN_PID (sd_listen_fds(3)).
 */
static pid_t spawn_daemon(char *const argv[], const char *logpath, int listen_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		char lpid[32];
		char *envp[] = { "PATH=" AGENT_PATH, "HOME=/root", NULL, NULL, NULL };

		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		if (listen_fd >= 0) {
			/* dup2 onto 3 clears O_CLOEXEC; when the fd already is
			 * 3, clear it by hand. */
			if (listen_fd == SD_LISTEN_FDS_START)
				fcntl(listen_fd, F_SETFD, 0);
			else if (dup2(listen_fd, SD_LISTEN_FDS_START) < 0)
				_exit(126);
			snprintf(lpid, sizeof(lpid), "LISTEN_PID=%d", (int)getpid());
			envp[2] = "LISTEN_FDS=1";
			envp[3] = lpid;
		}
		sigset_t none;

		/* Daemons start with PID 1's signal state undone. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	return pid;
}

/* Has the daemon died? (Reaps it.) */
static bool died(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == pid;
}

/* containerd answers when its socket accepts a connection. */
static const char *wait_containerd(pid_t pid, long t0)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int fd;

	if (pid < 0)
		return "cannot start containerd";
	while (boot_ms() - t0 < DOCKER_WAIT_S * 1000L) {
		if (died(pid))
			return "containerd exited; see /var/log/containerd.log";
		if ((fd = unix_connect(CONTAINERD_SOCK)) >= 0) {
			close(fd);
			return NULL;
		}
		nanosleep(&tick, NULL);
	}
	return "containerd did not answer; see /var/log/containerd.log";
}

/*
 * dockerd answers GET /_ping with 200. The socket is ours, so a connection
 * always succeeds and waits in the backlog until dockerd serves it: keep one
 * request outstanding and watch dockerd's pid while it waits.
 */
static const char *wait_dockerd(pid_t pid, long t0)
{
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	char buf[256];
	bool dead = false;
	int fd = -1;
	ssize_t n;

	if (pid < 0)
		return "cannot start dockerd";
	while (boot_ms() - t0 < DOCKER_WAIT_S * 1000L) {
		if ((dead = died(pid)))
			break;
		if (fd < 0) {
			fd = unix_connect(DOCKER_SOCK);
			if (fd >= 0 &&
			    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
				close(fd);
				fd = -1;
			}
			if (fd < 0) {
				nanosleep(&tick, NULL);
				continue;
			}
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		fd = -1;
		if (n > 0) {
			buf[n] = 0;
			if (strstr(buf, " 200 "))
				return NULL;
		}
		nanosleep(&tick, NULL); /* answered, but not yet "OK": ask again */
	}
	if (fd >= 0)
		close(fd);
	return dead ? "dockerd exited; see " SILO_DOCKER_LOG
		    : "dockerd did not answer; see " SILO_DOCKER_LOG;
}

/* The end of a daemon's log on the console, where `silo logs` finds it. */
static void log_tail_to_console(const char *path)
{
	static char buf[16384];
	const char *p;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), lines = 0;

	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;

	if (end > 0)
		n = pread(fd, buf, (size_t)(end - from), from);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && p != buf + n && ++lines >= LOG_TAIL_LINES)
			break;
	for (char *save, *l = strtok_r((char *)p, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		dprintf(2, "dockerd: %s\n", l);
}

/*
 * Docker will not come: tell every client so (HTTP 503 with Docker's error
 * body, which the docker CLI prints as "Error response from daemon: ..."),
 * now and later, rather than let it wait in the backlog for ever. Runs in a
 * process of its own, adopted by PID 1.
 */
static void __attribute__((noreturn)) serve_failure(int lfd, const char *reason)
{
	char body[512], resp[1024], req[8192];
	struct timeval tmo = { 2, 0 };
	int len;

	snprintf(body, sizeof(body),
		 "{\"message\":\"silo: the sandbox's Docker daemon failed to "
		 "start (%s; its last lines are in 'silo logs')\"}\n",
		 reason);
	len = snprintf(resp, sizeof(resp),
		       "HTTP/1.1 503 Service Unavailable\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n%s",
		       strlen(body), body);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ssize_t n, got = 0;

		if (c < 0) {
			if (errno != EINTR)
				sleep(1);
			continue;
		}
		/* Read the request head (bounded in size and time), then answer. */
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
		while (got < (ssize_t)sizeof(req) - 1 &&
		       (n = read(c, req + got, sizeof(req) - 1 - (size_t)got)) > 0) {
			got += n;
			req[got] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		if (write(c, resp, (size_t)len) < 0)
			(void)0; /* the client went away: nothing to tell */
		close(c);
	}
}

static void __attribute__((noreturn)) fail(int lfd, const char *reason)
{
	write_status(SILO_DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), reason);
	agent_log("docker: %s", reason);
	log_tail_to_console(SILO_DOCKER_LOG);
	/* The watcher itself exits (PID 1 counts it as Docker's start being
	 * over); a child of its own keeps answering on the socket. */
	if (lfd >= 0 && fork() == 0)
		serve_failure(lfd, reason);
	_exit(1);
}

/*
 * The watcher: starts containerd, then dockerd attached to it, and reports.
 * containerd runs on its own rather than under dockerd because dockerd gives
 * its child only a short start-up timeout, which a slow (emulated) machine
 * misses. Once dockerd answers, the watcher exits and PID 1 adopts both.
 */
static void __attribute__((noreturn)) watch(const char *dockerd, int lfd)
{
	long t0 = boot_ms();
	char *const cd_argv[] = { CONTAINERD, NULL };
	char *const dd_argv[] = { (char *)dockerd, "-H", "fd://", "--containerd=" CONTAINERD_SOCK,
				  NULL };
	const char *why;

	if (access(CONTAINERD, X_OK) != 0)
		fail(lfd, "no containerd in the base image");
	if ((why = wait_containerd(spawn_daemon(cd_argv, "/var/log/containerd.log", -1), t0)))
		fail(lfd, why);
	if ((why = wait_dockerd(spawn_daemon(dd_argv, SILO_DOCKER_LOG, lfd), t0)))
		fail(lfd, why);
	write_status(SILO_DOCKER_READY, "%ld%s\n", boot_ms(), "");
	_exit(0);
}

pid_t docker_start(void)
{
	const char *dockerd = NULL;
	char why[160] = "";
	pid_t w;
	int lfd;

	mkdir(SILO_GUEST_RUN_DIR, 0755);
	for (size_t i = 0; i < sizeof(dockerd_paths) / sizeof(dockerd_paths[0]) && !dockerd; i++)
		if (access(dockerd_paths[i], X_OK) == 0)
			dockerd = dockerd_paths[i];
	if (!dockerd) {
		write_status(SILO_DOCKER_FAILED, "%ld ms: %s\n", boot_ms(),
			     "no dockerd in the base image");
		return -1;
	}
	/* Before anything that can fail: from here on a client gets an answer
	 * on the socket, an error included, never "no such file". */
	lfd = docker_listen();
	if (mkdir(DOCKER_DATA, 0710) < 0 && errno != EEXIST) {
		snprintf(why, sizeof(why), "creating %s: %s", DOCKER_DATA, strerror(errno));
	} else {
		mkdir("/var/lib/docker", 0710);
		if (mount(DOCKER_DATA, "/var/lib/docker", NULL, MS_BIND, NULL) < 0)
			snprintf(why, sizeof(why), "bind-mounting /var/lib/docker: %s",
				 strerror(errno));
	}
	/* Containers' mounts must propagate (dockerd expects a shared root). */
	if (!why[0])
		mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL);

	w = fork();
	if (w == 0) {
		setsid();
		if (why[0])
			fail(lfd, why);
		watch(dockerd, lfd);
	}
	if (w < 0)
		agent_log("docker: fork: %s", strerror(errno));
	if (lfd >= 0)
		close(lfd); /* the watcher and dockerd hold it now */
	return w;
}
