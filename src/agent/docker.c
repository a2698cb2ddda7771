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
#define DOCKER_DATA    "/.silo/scratch/docker"
#define DOCKER_LOG     "/var/log/dockerd.log"
#define DOCKER_WAIT_S  900   /* give up after this long (emulated hosts are slow) */

static long boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_status(const char *path, const char *fmt, long v, const char *s)
{
	char tmp[64];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, fmt, v, s);
	fclose(f);
	rename(tmp, path);   /* readers see all of it or nothing */
}

/* One HTTP round trip: true when dockerd's API answers 200. */
static bool docker_ping(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = DOCKER_SOCK };
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	char buf[256];
	ssize_t n;
	bool ok = false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

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

/* The watcher: parent of dockerd until it is ready, then it leaves dockerd
 * to PID 1 and exits. */
static void watch(pid_t dockerd)
{
	long t0 = boot_ms();
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int st;

	while (boot_ms() - t0 < DOCKER_WAIT_S * 1000L) {
		if (waitpid(dockerd, &st, WNOHANG) == dockerd) {
			write_status(DOCKER_FAILED, "%ld ms: dockerd exited (status %s); see " DOCKER_LOG "\n",
				     boot_ms(), WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "non-zero");
			_exit(1);
		}
		if (docker_ping()) {
			write_status(DOCKER_READY, "%ld%s\n", boot_ms(), "");
			_exit(0);
		}
		nanosleep(&tick, NULL);
	}
	write_status(DOCKER_FAILED, "%ld ms: dockerd did not answer%s; see " DOCKER_LOG "\n",
		     boot_ms(), "");
	_exit(1);
}

void docker_start(void)
{
	const char *dockerd = NULL;
	pid_t w;

	mkdir("/run/silo", 0755);
	for (size_t i = 0; i < sizeof(dockerd_paths) / sizeof(dockerd_paths[0]) && !dockerd; i++)
		if (access(dockerd_paths[i], X_OK) == 0)
			dockerd = dockerd_paths[i];
	if (!dockerd) {
		write_status(DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), "no dockerd in the base image");
		return;
	}
	if (mkdir(DOCKER_DATA, 0710) < 0 && errno != EEXIST) {
		write_status(DOCKER_FAILED, "%ld ms: %s\n", boot_ms(), "no " DOCKER_DATA);
		return;
	}
	mkdir("/var/lib/docker", 0710);
	if (mount(DOCKER_DATA, "/var/lib/docker", NULL, MS_BIND, NULL) < 0) {
		write_status(DOCKER_FAILED, "%ld ms: bind-mounting /var/lib/docker: %s\n", boot_ms(),
			     strerror(errno));
		return;
	}
	/* Containers' mounts must propagate (dockerd expects a shared root). */
	mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL);

	w = fork();
	if (w != 0) {
		if (w < 0)
			agent_log("docker: fork: %s", strerror(errno));
		return;
	}
	setsid();
	pid_t d = fork();
	if (d == 0) {
		int log = open(DOCKER_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		char *const argv[] = { (char *)dockerd, NULL };
		char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				       "HOME=/root", NULL };

		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		signal(SIGPIPE, SIG_DFL);
		execve(dockerd, argv, envp);
		_exit(127);
	}
	if (d < 0) {
		write_status(DOCKER_FAILED, "%ld ms: fork: %s\n", boot_ms(), strerror(errno));
		_exit(1);
	}
	watch(d);
}
