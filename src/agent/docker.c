/* docker.c: the sandbox's private Docker daemon.
 *
 * Started by PID 1 in the background once the overlay root is up, so the
 * agent answers long before dockerd does. /var/lib/docker is a bind mount of
 * a directory on the scratch ext4: overlay2 cannot use an overlayfs (our root)
 * as its backing filesystem, and images must survive stop/start.
 *
 * Readiness is reported through the agent's ordinary file operations: a
 * watcher process answers GET /_ping on /run/docker.sock and then writes
 * DOCKER_READY (its content: milliseconds since boot); if dockerd dies or
 * never answers, DOCKER_FAILED holds the reason. dockerd's log: DOCKER_LOG.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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
#define DOCKER_SOCK    "/run/docker.sock"
#define CONTAINERD     "/usr/bin/containerd"
#define CONTAINERD_SOCK "/run/containerd/containerd.sock"
#define DOCKER_DATA    "/.silo/scratch/docker"
#define DOCKER_LOG     "/var/log/dockerd.log"   /* = /var/log/<what>.log below */
#define DOCKER_WAIT_S  900   /* give up after this long (emulated hosts are slow) */

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
	rename(tmp, path);   /* readers see all of it or nothing */
}

static bool sock_connects(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* One HTTP round trip: true when dockerd's API answers 200. */
static bool docker_ping(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	char buf[256];
	ssize_t n;
	bool ok = false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1 &&
	    (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		ok = strstr(buf, " 200 ") != NULL;
	}
	close(fd);
	return ok;
}

static pid_t spawn_daemon(char *const argv[], const char *logpath)
{
	pid_t pid = fork();

	if (pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		char *const envp[] = { "PATH=" AGENT_PATH,
				       "HOME=/root", NULL };

		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		if (null >= 0)
			dup2(null, 0);
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

/*
 * Wait until ready(path) or the daemon dies or the deadline passes. On
 * failure writes DOCKER_FAILED and exits the watcher.
 */
static void wait_ready(pid_t pid, const char *what, bool (*ready)(const char *), const char *path,
		       long t0)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int st;

	if (pid < 0) {
		write_status(DOCKER_FAILED, "%ld ms: cannot start %s\n", boot_ms(), what);
		_exit(1);
	}
	while (boot_ms() - t0 < DOCKER_WAIT_S * 1000L) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			write_status(DOCKER_FAILED, "%ld ms: %s exited; see /var/log/%s.log\n", boot_ms(),
				     what, what);
			_exit(1);
		}
		if (ready(path))
			return;
		nanosleep(&tick, NULL);
	}
	write_status(DOCKER_FAILED, "%ld ms: %s did not answer; see /var/log/%s.log\n", boot_ms(),
		     what, what);
	_exit(1);
}

/*
 * The watcher: starts containerd, then dockerd attached to it, and reports.
 * containerd runs on its own rather than under dockerd because dockerd gives
 * its child only a short start-up timeout, which a slow (emulated) machine
 * misses. Once dockerd answers, the watcher exits and PID 1 adopts both.
 */
static void __attribute__((noreturn)) watch(const char *dockerd)
{
	long t0 = boot_ms();
	char *const cd_argv[] = { CONTAINERD, NULL };
	char *const dd_argv[] = { (char *)dockerd, "--containerd=" CONTAINERD_SOCK, NULL };

	if (access(CONTAINERD, X_OK) != 0) {
		write_status(DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), "no containerd in the base image");
		_exit(1);
	}
	wait_ready(spawn_daemon(cd_argv, "/var/log/containerd.log"), "containerd", sock_connects,
		   CONTAINERD_SOCK, t0);
	wait_ready(spawn_daemon(dd_argv, DOCKER_LOG), "dockerd", docker_ping, DOCKER_SOCK, t0);
	write_status(DOCKER_READY, "%ld%s\n", boot_ms(), "");
	_exit(0);
}

pid_t docker_start(void)
{
	const char *dockerd = NULL;
	pid_t w;

	mkdir("/run/silo", 0755);
	for (size_t i = 0; i < sizeof(dockerd_paths) / sizeof(dockerd_paths[0]) && !dockerd; i++)
		if (access(dockerd_paths[i], X_OK) == 0)
			dockerd = dockerd_paths[i];
	if (!dockerd) {
		write_status(DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), "no dockerd in the base image");
		return -1;
	}
	if (mkdir(DOCKER_DATA, 0710) < 0 && errno != EEXIST) {
		write_status(DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), "no " DOCKER_DATA);
		return -1;
	}
	mkdir("/var/lib/docker", 0710);
	if (mount(DOCKER_DATA, "/var/lib/docker", NULL, MS_BIND, NULL) < 0) {
		write_status(DOCKER_FAILED, "%ld ms: bind-mounting /var/lib/docker: %s\n", boot_ms(),
			     strerror(errno));
		return -1;
	}
	/* Containers' mounts must propagate (dockerd expects a shared root). */
	mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL);

	w = fork();
	if (w != 0) {
		if (w < 0)
			agent_log("docker: fork: %s", strerror(errno));
		return w;
	}
	setsid();
	watch(dockerd);
}
