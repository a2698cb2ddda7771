/* extract.c: a guest's tar stream unpacked on the host (silo cp out).
 *
 * libarchive reads the stream (tar formats only, no decompression, so a
 * small stream cannot expand into a large one) and writes it with
 * archive_write_disk's SECURE_* checks, relative to the caller's directory.
 * Each member is checked here first: its name must stay below that
 * directory, its type must be a regular file, directory or symlink, mode
 * bits past 0777 go, and the bytes it would add must fit in max_bytes and
 * in the free space of the destination filesystem. Owners, ACLs, xattrs
 * (file capabilities among them) and file flags are never restored.
 */
#include "sandbox/sandbox.h"
#include "sandbox/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* archive_write_disk: SECURE_SYMLINKS refuses to write through any symlink
 * on the way to a member (one the stream made included), NODOTDOT and
 * NOABSOLUTEPATHS back up sb_member_path. PERM makes modes exact (after
 * we cleared the special bits), TIME keeps mtimes, as tar does. */
#define WRITE_FLAGS                                                          \
	(ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | \
	 ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME)

/* libarchive is opened when a copy needs it, not linked: with libxml2, ICU
 * and the C++ runtime behind it, it was most of what every other silo
 * command spent loading (`silo --version` 10.7 ms before, 3.7 ms after, on
 * a host; the supervisor is the same executable), as systemd opens its
 * optional libraries. The pointers keep the prototypes of <archive.h>. */
#define LA_SONAME "libarchive.so.13"
#define LA_FUNCS(X)                        \
	X(archive_entry_copy_pathname)     \
	X(archive_entry_filetype)          \
	X(archive_entry_hardlink)          \
	X(archive_entry_pathname)          \
	X(archive_entry_perm)              \
	X(archive_entry_set_perm)          \
	X(archive_entry_size)              \
	X(archive_entry_size_is_set)       \
	X(archive_errno)                   \
	X(archive_error_string)            \
	X(archive_read_data_block)         \
	X(archive_read_free)               \
	X(archive_read_new)                \
	X(archive_read_next_header)        \
	X(archive_read_open)               \
	X(archive_read_support_format_tar) \
	X(archive_set_error)               \
	X(archive_write_close)             \
	X(archive_write_data_block)        \
	X(archive_write_disk_new)          \
	X(archive_write_disk_set_options)  \
	X(archive_write_finish_entry)      \
	X(archive_write_free)              \
	X(archive_write_header)

static struct {
#define LA_PTR(f) __typeof__(f) *f;
	LA_FUNCS(LA_PTR)
#undef LA_PTR
} la;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static char la_err[256];

static void la_open(void)
{
	void *h = dlopen(LA_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (!h) {
		e = dlerror();
		snprintf(la_err, sizeof(la_err), "%s", e ? e : LA_SONAME " not found");
		return;
	}
#define LA_SYM(f)                                                               \
	if (!(*(void **)&la.f = dlsym(h, #f))) {                                \
		snprintf(la_err, sizeof(la_err), "%s lacks %s", LA_SONAME, #f); \
		return;                                                         \
	}
	LA_FUNCS(LA_SYM)
#undef LA_SYM
}

/* 0 once every function is there, else -1 with the one-line error */
static int la_ready(void)
{
	pthread_once(&la_once, la_open);
	if (!la_err[0])
		return 0;
	return sb_fail("cannot load libarchive for the copy (%s): install libarchive13", la_err);
}

struct src {
	sb_read_fn rd;
	void *arg;
	struct sb_extract *x;
	bool failed; /* rd failed or the cap was hit: sb_errmsg says */
};

void sb_drop_warn(const struct sb_extract *x, const char *who)
{
	static const char *const what[SB_DROP_N] = {
		[SB_DROP_MODE_BITS] = "cleared the setuid/setgid/sticky bits of %u member(s)",
		[SB_DROP_DEVICE] = "left out %u device node(s)",
		[SB_DROP_FIFO] = "left out %u FIFO(s)",
		[SB_DROP_SOCKET] = "left out %u socket(s)",
		[SB_DROP_HARDLINK] = "left out %u hard link(s) (copy their target instead)",
	};
	for (int k = 0; k < SB_DROP_N; k++) {
		if (!x->dropped[k])
			continue;
		fprintf(stderr, "silo: warning: %s: ", who);
		fprintf(stderr, what[k], x->dropped[k]);
		fputc('\n', stderr);
	}
}

int sb_member_path(const char *name, char *out, size_t n)
{
	size_t j = 0;
	if (!name || name[0] == '/' || n == 0)
		return -1;
	for (const char *p = name; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (len && !(len == 1 && p[0] == '.')) {
			if (j + len + 2 > n)
				return -1;
			if (j)
				out[j++] = '/';
			memcpy(out + j, p, len);
			j += len;
		}
		p += len;
		p += *p == '/';
	}
	out[j] = 0;
	return 0;
}

/* Guest bytes in an error line: printable ASCII only. */
static const char *shown(const char *s, char *buf, size_t n)
{
	size_t j = 0;
	for (; s && *s && j + 1 < n; s++)
		buf[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[j] = 0;
	return buf;
}

static int too_large(uint64_t max)
{
	char sz[32];
	return sb_fail("the copy is larger than --max-size %s; nothing was copied",
		       sb_format_size(max, sz, sizeof(sz)));
}

static la_ssize_t on_read(struct archive *a, void *arg, const void **buf)
{
	struct src *s = arg;
	long n = s->rd(s->arg, buf);
	if (n < 0) {
		s->failed = true;
		la.archive_set_error(a, EIO, "read failed");
		return ARCHIVE_FATAL;
	}
	s->x->stream_bytes += (uint64_t)n;
	if (s->x->stream_bytes > s->x->max_bytes) {
		s->failed = true;
		too_large(s->x->max_bytes);
		la.archive_set_error(a, EFBIG, "too large");
		return ARCHIVE_FATAL;
	}
	return n;
}

static int bad_stream(struct archive *r)
{
	char msg[512];
	const char *m = la.archive_error_string(r);
	return sb_fail("the sandbox sent a bad tar stream (%s); nothing was copied",
		       shown(m ? m : "unknown error", msg, sizeof(msg)));
}

/* Room for size more bytes (and an inode) on dirfd's filesystem? */
static int room(int dirfd, uint64_t size)
{
	struct statvfs v;
	if (fstatvfs(dirfd, &v) < 0)
		return sb_fail("statvfs: %s", strerror(errno));
	uint64_t free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (size > free_bytes || (v.f_files && v.f_favail == 0))
		return sb_fail("not enough free space on the destination filesystem "
			       "(%llu bytes needed, %llu free); nothing was copied",
			       (unsigned long long)size, (unsigned long long)free_bytes);
	return 0;
}

/* Decide one member: 1 write it (name and mode cleaned), 0 leave it out,
 * -1 refuse the whole copy. top_mode gets the "." member's mode. */
static int check_member(struct archive_entry *e, struct sb_extract *x, int dirfd, mode_t *top_mode)
{
	char clean[SB_PATH_MAX], shownbuf[256];
	const char *name = la.archive_entry_pathname(e);
	if (sb_member_path(name, clean, sizeof(clean)) < 0)
		return sb_fail("the sandbox sent an unsafe member name '%s' (absolute or with "
			       "'..'); nothing was copied",
			       shown(name, shownbuf, sizeof(shownbuf)));
	mode_t type = la.archive_entry_filetype(e);
	if (la.archive_entry_hardlink(e)) {
		x->dropped[SB_DROP_HARDLINK]++;
		return 0;
	}
	switch (type) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		x->dropped[SB_DROP_DEVICE]++;
		return 0;
	case AE_IFIFO:
		x->dropped[SB_DROP_FIFO]++;
		return 0;
	case AE_IFSOCK:
		x->dropped[SB_DROP_SOCKET]++;
		return 0;
	default:
		return sb_fail("the sandbox sent '%s' of unknown type 0%o; nothing was copied",
			       shown(name, shownbuf, sizeof(shownbuf)), (unsigned)type);
	}
	mode_t perm = la.archive_entry_perm(e);
	if (perm & 07000) {
		x->dropped[SB_DROP_MODE_BITS]++;
		la.archive_entry_set_perm(e, perm & 0777);
	}
	if (!clean[0]) {
		if (type != AE_IFDIR)
			return sb_fail("the sandbox sent a %s where a directory was expected; "
				       "nothing was copied",
				       type == AE_IFLNK ? "symlink" : "file");
		*top_mode = perm & 0777;
		return 0;
	}
	la.archive_entry_copy_pathname(e, clean);
	if (type == AE_IFREG) {
		/* A sparse member's size counts in full: it is what a
                 * reader of the copy sees. */
		int64_t size = la.archive_entry_size_is_set(e) ? la.archive_entry_size(e) : 0;
		if (size < 0 || (uint64_t)size > x->max_bytes - x->file_bytes)
			return too_large(x->max_bytes);
		x->file_bytes += (uint64_t)size;
		return room(dirfd, (uint64_t)size) < 0 ? -1 : 1;
	}
	return room(dirfd, 0) < 0 ? -1 : 1;
}

static int copy_data(struct archive *r, struct archive *w)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	for (;;) {
		int rc = la.archive_read_data_block(r, &buf, &len, &off);
		if (rc == ARCHIVE_EOF)
			return ARCHIVE_OK;
		if (rc < ARCHIVE_WARN)
			return rc;
		if (la.archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN)
			return ARCHIVE_FATAL;
	}
}

/* libarchive's message for a failed member quotes its (guest) name */
static int write_failed(struct archive *a, struct archive_entry *e)
{
	char name[256], msg[512];
	const char *m = la.archive_error_string(a);
	return sb_fail("cannot write '%s': %s; nothing was copied",
		       shown(la.archive_entry_pathname(e), name, sizeof(name)),
		       shown(m ? m : "unknown error", msg, sizeof(msg)));
}

static int unpack(struct archive *r, struct archive *w, struct src *s, int dirfd, mode_t *top_mode)
{
	struct archive_entry *e;
	for (;;) {
		int rc = la.archive_read_next_header(r, &e);
		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN || s->failed)
			return s->failed ? -1 : bad_stream(r);
		int ok = check_member(e, s->x, dirfd, top_mode);
		if (ok < 0)
			return -1;
		if (ok == 0)
			continue;
		if (la.archive_write_header(w, e) < ARCHIVE_WARN)
			return write_failed(w, e);
		if (la.archive_entry_size(e) > 0 && copy_data(r, w) < ARCHIVE_WARN)
			return s->failed ? -1 : write_failed(la.archive_errno(w) ? w : r, e);
		if (la.archive_write_finish_entry(w) < ARCHIVE_WARN)
			return write_failed(w, e);
	}
}

int sb_extract_tar(int dirfd, sb_read_fn rd, void *arg, struct sb_extract *x)
{
	struct src s = { .rd = rd, .arg = arg, .x = x };

	if (la_ready() < 0)
		return -1;
	struct archive *r = la.archive_read_new(), *w = la.archive_write_disk_new();
	mode_t top_mode = (mode_t)-1;
	int rc = -1;
	/* archive_write_disk works on paths relative to the working
         * directory: make it dirfd while we extract. The working directory
         * is the process's, shared by its threads, unless this thread
         * unshares it (CLONE_FS, no privilege needed): then a server's
         * other requests keep theirs while this one extracts. */
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!r || !w) {
		sb_fail("out of memory");
		goto out;
	}
	if (unshare(CLONE_FS) < 0) {
		sb_fail("cannot give this thread its own working directory: %s", strerror(errno));
		goto out;
	}
	if (cwd < 0 || fchdir(dirfd) < 0) {
		sb_fail("cannot enter the destination: %s", strerror(errno));
		goto out;
	}
	la.archive_read_support_format_tar(r);
	la.archive_write_disk_set_options(w, WRITE_FLAGS);
	if (la.archive_read_open(r, &s, NULL, on_read, NULL) != ARCHIVE_OK) {
		if (!s.failed)
			bad_stream(r);
		goto back;
	}
	rc = unpack(r, w, &s, dirfd, &top_mode);
	/* close applies the deferred directory modes and times */
	if (la.archive_write_close(w) != ARCHIVE_OK && rc == 0)
		rc = sb_fail("cannot finish the copy: %s", la.archive_error_string(w));
	if (rc == 0 && top_mode != (mode_t)-1 && fchmod(dirfd, top_mode) < 0)
		rc = sb_fail("chmod: %s", strerror(errno));
back:
	if (fchdir(cwd) < 0 && rc == 0)
		rc = sb_fail("cannot return to the working directory: %s", strerror(errno));
out:
	if (cwd >= 0)
		close(cwd);
	if (r)
		la.archive_read_free(r);
	if (w)
		la.archive_write_free(w);
	return rc;
}

/* ---- moving and removing trees, relative to directory fds -------------- */

static int open_dir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int sb_tree_move(int fromdir, const char *from, int todir, const char *to)
{
	struct stat fs, ts;
	if (fstatat(fromdir, from, &fs, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	bool merge = S_ISDIR(fs.st_mode) && fstatat(todir, to, &ts, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISDIR(ts.st_mode);
	if (!merge)
		return renameat(fromdir, from, todir, to);
	int f = open_dir(fromdir, from), t = open_dir(todir, to), rc = -1;
	/* the source is ours and goes away: let us empty it, whatever
         * mode the guest gave it */
	DIR *d = f >= 0 && fchmod(f, 0700) == 0 ? fdopendir(f) : NULL;
	if (!d || t < 0)
		goto out;
	f = -1; /* owned by d now */
	struct dirent *de;
	int e;
	rc = 0;
	while (rc == 0 && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = sb_tree_move(dirfd(d), de->d_name, t, de->d_name);
	if (rc == 0 && errno)
		rc = -1;
	if (rc == 0)
		rc = unlinkat(fromdir, from, AT_REMOVEDIR);
out:
	e = errno;
	if (d)
		closedir(d);
	if (f >= 0)
		close(f);
	if (t >= 0)
		close(t);
	errno = e;
	return rc;
}

int sb_tree_remove(int at, const char *name)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(at, name, 0);
	/* a guest-made 0500 directory: ours, make it writable to empty it */
	int fd = open_dir(at, name);
	if (fd >= 0 && fchmod(fd, 0700) < 0) {
		close(fd);
		return -1;
	}
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    sb_tree_remove(dirfd(d), de->d_name) < 0)
			rc = -1;
	closedir(d);
	return unlinkat(at, name, AT_REMOVEDIR) < 0 ? -1 : rc;
}
