/*
 * Resource arguments: a path, or a descriptor the launcher opened (fdarg.h).
 * Linked into silo-vmm and into silo (the supervisor binds the sockets with
 * unix_listen_path, so a socket file is the same whoever made it).
 */
#include "vmm/fdarg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool fdarg_is_fd(const char *arg)
{
	return !strncmp(arg, FDARG_PREFIX, strlen(FDARG_PREFIX));
}

/* A decimal fd number >= 3 from s up to *end. */
static int parse_fd(const char *s, char **end)
{
	long n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, end, 10);
	return errno || n < 3 || n > INT_MAX ? -1 : (int)n;
}

int fdarg_number(const char *arg)
{
	char *end;
	int fd;

	if (!fdarg_is_fd(arg))
		return -1;
	fd = parse_fd(arg + strlen(FDARG_PREFIX), &end);
	return fd >= 0 && !*end ? fd : -1;
}

bool fdarg_list(const char *arg, int *fds, size_t n)
{
	const char *s = arg + strlen(FDARG_PREFIX);
	char *end;

	if (!fdarg_is_fd(arg))
		return false;
	for (size_t i = 0; i < n; i++) {
		fds[i] = parse_fd(s, &end);
		if (fds[i] < 0 || *end != (i + 1 < n ? ',' : '\0'))
			return false;
		s = end + 1;
	}
	return true;
}

int fdarg_take(int fd, int flags)
{
	int fl = fcntl(fd, F_GETFL), want = flags & O_ACCMODE, nfd;

	if (fl < 0)
		return -EBADF;
	/* O_RDWR serves any access; otherwise the modes must be equal. */
	if ((fl & O_ACCMODE) != O_RDWR && (fl & O_ACCMODE) != want)
		return -EACCES;
	/* A number of our own (close-on-exec, above anything inherited) and
	 * the inherited one closed: the jailed process holds each once. */
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -errno;
	close(fd);
	return nfd;
}

int fdarg_open(const char *arg, int flags)
{
	int fd;

	if (fdarg_is_fd(arg)) {
		fd = fdarg_number(arg);
		return fd < 0 ? -EBADF : fdarg_take(fd, flags);
	}
	fd = open(arg, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The socket file owner-only (umask 077 at bind), whatever our umask: only
 * the user who started the VM may talk to its console, control socket or
 * guest agent, even if the directory were looser than silo makes it. */
static int bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(077);
	int ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;

	umask(old);
	errno = e;
	return ret;
}

int unix_listen_path(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind_private(fd, &sa) < 0) {
		/* A socket left by a dead VMM refuses connections: replace it.
		 * A live one (another VMM) keeps it and we fail. */
		int probe;
		struct stat st;

		if (errno != EADDRINUSE)
			goto err;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno == ECONNREFUSED && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		if (probe >= 0)
			close(probe);
		if (bind_private(fd, &sa) < 0)
			goto err;
	}
	if (listen(fd, backlog) < 0)
		goto err;
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

int fdarg_listen(const char *arg, int backlog)
{
	int fd, v, nfd;
	socklen_t len = sizeof(v);

	if (!fdarg_is_fd(arg))
		return unix_listen_path(arg, backlog);
	fd = fdarg_number(arg);
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v)
		return -ENOTSOCK;
	nfd = fdarg_take(fd, O_RDWR);
	if (nfd >= 0 && fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK) < 0) {
		close(nfd);
		return -errno;
	}
	return nfd;
}
