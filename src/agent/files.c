/* files.c: PUT_TAR/GET_TAR, PUT_FILE/GET_FILE, STAT, LIST, MKDIR, REMOVE.
 *
 * Trees travel as tar streams produced and consumed by the guest's own `tar`
 * (GNU tar in the Debian image, busybox tar in the test initramfs), so
 * modes, owners, symlinks, hard links and empty directories survive without
 * us re-implementing tar. Single files are streamed in 64 KiB DATA frames
 * and never held whole in memory.
 */
#include "agent/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fail the operation: one ERROR frame, the stream then closes. */
#define FAIL(fd, err, ...) proto_send_error(fd, (err), __VA_ARGS__)

static void fill_stat(struct proto_stat *p, const struct stat *st, const char *name,
		      const char *link)
{
	*p = (struct proto_stat){
		.mode = st->st_mode,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.nlink = (uint32_t)st->st_nlink,
		.size = (uint64_t)st->st_size,
		.mtime_sec = st->st_mtim.tv_sec,
		.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
		.name = name,
		.link = link,
	};
}

static int send_stat(int fd, const struct stat *st, const char *name, const char *link)
{
	struct proto_stat p;
	struct pbuf b;
	fill_stat(&p, st, name, link);
	pbuf_init(&b);
	proto_enc_stat(&b, &p);
	int rc = proto_write_pbuf(fd, &b);
	pbuf_free(&b);
	return rc;
}

/* Like mkdir -p. Existing directories are fine; the mode applies to the
 * directories created (umask-independent for the last one). */
static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PROTO_PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0) {
		struct stat st;
		if (errno != EEXIST || stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
			return errno == EEXIST ? -ENOTDIR : -errno;
		return 0;
	}
	return chmod(tmp, mode) < 0 ? -errno : 0;
}

/* tar's stderr goes to an anonymous file, so it can never block tar while
 * we are busy on the other pipe; its first line becomes the ERROR text. */
static int err_file(void)
{
	return memfd_create("silo-tar-stderr", MFD_CLOEXEC);
}

static void err_text(int efd, char *buf, size_t n)
{
	ssize_t got = efd >= 0 ? pread(efd, buf, n - 1, 0) : -1;
	buf[got > 0 ? got : 0] = 0;
	char *nl = strchr(buf, '\n');
	if (nl && nl[1] == 0)
		*nl = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static void report_tar(int fd, int status, int efd)
{
	char msg[512];
	err_text(efd, msg, sizeof(msg));
	if (status < 0)
		FAIL(fd, -status, "tar: %s", strerror(-status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		FAIL(fd, ENOENT, "tar: not found in the guest (%s)", msg);
	else if (WIFSIGNALED(status))
		FAIL(fd, EIO, "tar: killed by signal %d %s", WTERMSIG(status), msg);
	else
		FAIL(fd, EIO, "tar: exit %d: %s", WEXITSTATUS(status), msg);
}

static void put_tar(int fd, struct proto_reader *r, const char *dest)
{
	int rc = mkdir_p(dest, 0755), p[2], efd = -1, status;
	struct proto_frame f;
	if (rc < 0) {
		FAIL(fd, -rc, "put-tar: %s: %s", dest, strerror(-rc));
		return;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		FAIL(fd, errno, "put-tar: pipe: %s", strerror(errno));
		return;
	}
	efd = err_file();
	char *argv[] = { "tar", "-x", "-p", "-C", (char *)dest, "-f", "-", NULL };
	pid_t pid = agent_spawn(argv, p[0], -1, efd);
	close(p[0]);
	if (pid < 0) {
		FAIL(fd, (int)-pid, "put-tar: spawn tar: %s", strerror((int)-pid));
		goto out;
	}
	for (;;) {
		rc = proto_read_frame(r, &f);
		if (rc > 0 && f.type == PT_DATA) {
			/* EPIPE: tar gave up (bad archive); its message says why. */
			if (proto_write_all(p[1], f.payload, f.len) < 0)
				break;
			continue;
		}
		if (rc > 0 && f.type == PT_END && proto_dec_empty(&f) == 0)
			break;
		/* Protocol error or client gone: do not extract a partial tree. */
		kill(pid, SIGKILL);
		agent_wait(pid);
		if (rc != 0)
			FAIL(fd, rc < 0 ? -rc : EPROTO, "put-tar: bad stream: %s",
			     rc < 0 ? strerror(-rc) : proto_type_name(f.type));
		goto out;
	}
	close(p[1]);
	p[1] = -1;
	status = agent_wait(pid);
	if (status == 0)
		proto_send_empty(fd, PT_DONE);
	else
		report_tar(fd, status, efd);
out:
	if (p[1] >= 0)
		close(p[1]);
	if (efd >= 0)
		close(efd);
}

static void get_tar(int fd, const char *path)
{
	char a[PROTO_PATH_MAX], b[PROTO_PATH_MAX];
	struct stat st;
	int p[2], efd, status;
	if (lstat(path, &st) < 0) {
		FAIL(fd, errno, "get-tar: %s: %s", path, strerror(errno));
		return;
	}
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	char *dir = dirname(a), *base = basename(b);
	if (!strcmp(base, "/"))
		base = "."; /* the whole root: archive "." relative to / */
	if (pipe2(p, O_CLOEXEC) < 0) {
		FAIL(fd, errno, "get-tar: pipe: %s", strerror(errno));
		return;
	}
	efd = err_file();
	char *argv[] = { "tar", "-c", "-C", dir, "-f", "-", base, NULL };
	pid_t pid = agent_spawn(argv, -1, p[1], efd);
	close(p[1]);
	if (pid < 0) {
		FAIL(fd, (int)-pid, "get-tar: spawn tar: %s", strerror((int)-pid));
		goto out;
	}
	static uint8_t buf[PROTO_DATA_MAX];
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (proto_write_frame(fd, PT_DATA, buf, (uint32_t)n) < 0) {
			kill(pid, SIGKILL); /* client gone */
			break;
		}
	}
	status = agent_wait(pid);
	/* The client must discard the DATA it got if the stream ends in ERROR. */
	if (status == 0)
		proto_send_empty(fd, PT_END);
	else
		report_tar(fd, status, efd);
out:
	close(p[0]);
	if (efd >= 0)
		close(efd);
}

static void put_file(int fd, struct proto_reader *r, uint32_t mode, const char *path)
{
	struct proto_frame f;
	int rc;
	/* Permission bits only: no setuid, setgid or sticky file is made
         * from what the host sends (silo cp strips them for trees too). */
	mode &= 0777;
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
	if (out < 0) {
		FAIL(fd, errno, "put: %s: %s", path, strerror(errno));
		return;
	}
	if (fchmod(out, mode) < 0) { /* exact mode, whatever the umask */
		FAIL(fd, errno, "put: chmod %s: %s", path, strerror(errno));
		goto out;
	}
	while ((rc = proto_read_frame(r, &f)) > 0 && f.type == PT_DATA) {
		if ((rc = proto_write_all(out, f.payload, f.len)) < 0) {
			FAIL(fd, -rc, "put: write %s: %s", path, strerror(-rc));
			goto out;
		}
	}
	if (rc <= 0 || f.type != PT_END || proto_dec_empty(&f) < 0) {
		if (rc != 0)
			FAIL(fd, rc < 0 ? -rc : EPROTO, "put: bad stream: %s",
			     rc < 0 ? strerror(-rc) : proto_type_name(f.type));
		goto out;
	}
	rc = close(out);
	out = -1;
	if (rc < 0)
		FAIL(fd, errno, "put: close %s: %s", path, strerror(errno));
	else
		proto_send_empty(fd, PT_DONE);
out:
	if (out >= 0)
		close(out);
}

static void get_file(int fd, const char *path)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not hang the handler. */
	int in = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0) {
		FAIL(fd, errno, "get: %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(in, &st) < 0) {
		FAIL(fd, errno, "get: %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		FAIL(fd, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
		     "get: %s: not a regular file (use get-tar)", path);
		goto out;
	}
	if (send_stat(fd, &st, "", "") < 0)
		goto out;
	static uint8_t buf[PROTO_DATA_MAX];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			FAIL(fd, errno, "get: read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (proto_write_frame(fd, PT_DATA, buf, (uint32_t)n) < 0)
			goto out;
	}
	proto_send_empty(fd, PT_END);
out:
	close(in);
}

static void stat_path(int fd, uint32_t flags, const char *path)
{
	struct stat st;
	char link[PROTO_PATH_MAX] = "";
	int rc = (flags & STAT_F_FOLLOW) ? stat(path, &st) : lstat(path, &st);
	if (rc < 0) {
		FAIL(fd, errno, "stat: %s: %s", path, strerror(errno));
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
	}
	send_stat(fd, &st, "", link);
}

static void list_dir(int fd, const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	if (!d) {
		FAIL(fd, errno, "ls: %s: %s", path, strerror(errno));
		return;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char link[PROTO_PATH_MAX] = "";
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile */
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = 0;
		}
		if (send_stat(fd, &st, de->d_name, link) < 0)
			goto out;
	}
	if (errno)
		FAIL(fd, errno, "ls: %s: %s", path, strerror(errno));
	else
		proto_send_empty(fd, PT_END);
out:
	closedir(d);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

static void remove_path(int fd, uint32_t flags, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		FAIL(fd, errno, "rm: %s: %s", path, strerror(errno));
		return;
	}
	if (!strcmp(path, "/")) {
		FAIL(fd, EBUSY, "rm: refusing to remove /");
		return;
	}
	int rc;
	if (flags & REMOVE_F_RECURSIVE)
		/* Depth-first, never following symlinks, never crossing into
                 * other filesystems mounted below (FTW_MOUNT). */
		rc = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	else
		rc = remove(path);
	if (rc < 0)
		FAIL(fd, errno, "rm: %s: %s", path, strerror(errno));
	else
		proto_send_empty(fd, PT_DONE);
}

void files_serve(int fd, struct proto_reader *r, const struct proto_frame *req)
{
	const char *path = "";
	uint32_t a = 0, b = 0;
	int rc;
	switch (req->type) {
	case PT_PUT_TAR:
	case PT_GET_TAR:
	case PT_GET_FILE:
	case PT_LIST:
		rc = proto_dec_path(req, &path);
		break;
	case PT_PUT_FILE:
	case PT_STAT:
	case PT_REMOVE:
		rc = proto_dec_path1(req, &a, &path);
		break;
	case PT_MKDIR:
		rc = proto_dec_mkdir(req, &a, &b, &path);
		break;
	default:
		rc = -EPROTO;
	}
	if (rc == 0 && !path[0])
		rc = -EINVAL;
	if (rc < 0) {
		FAIL(fd, -rc, "%s: malformed request", proto_type_name(req->type));
		return;
	}
	switch (req->type) {
	case PT_PUT_TAR:
		put_tar(fd, r, path);
		break;
	case PT_GET_TAR:
		get_tar(fd, path);
		break;
	case PT_PUT_FILE:
		put_file(fd, r, a, path);
		break;
	case PT_GET_FILE:
		get_file(fd, path);
		break;
	case PT_STAT:
		stat_path(fd, a, path);
		break;
	case PT_LIST:
		list_dir(fd, path);
		break;
	case PT_REMOVE:
		remove_path(fd, a, path);
		break;
	case PT_MKDIR:
		rc = (b & MKDIR_F_PARENTS) ? mkdir_p(path, a & 07777)
					   : (mkdir(path, a & 07777) < 0
						      ? -errno
						      : (chmod(path, a & 07777) < 0 ? -errno : 0));
		if (rc < 0)
			FAIL(fd, -rc, "mkdir: %s: %s", path, strerror(-rc));
		else
			proto_send_empty(fd, PT_DONE);
		break;
	}
}
