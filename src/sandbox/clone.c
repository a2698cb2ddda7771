/* clone.c: copy a disk image as cheaply as the file system allows.
 *
 * A template's scratch disk is cloned for every sandbox made from it, and
 * the sandbox's disk is cloned into the template once. On btrfs or XFS
 * (reflink=1) FICLONE shares every block and costs nothing until a side
 * writes; elsewhere (ext4, tmpfs) only the data extents are copied
 * (SEEK_DATA/SEEK_HOLE): a disk is sparse, mostly holes, and a plain copy
 * would write out its whole apparent size.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* len bytes at off from in to out: copy_file_range (which may share blocks
 * itself, or copy inside the kernel), pread/pwrite where it is refused. */
static int copy_range(int in, int out, off_t off, off_t len)
{
	static char buf[1 << 16];

	while (len > 0) {
		off_t ioff = off, ooff = off;
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			size_t want = len < (off_t)sizeof(buf) ? (size_t)len : sizeof(buf);
			n = pread(in, buf, want, off);
			if (n > 0 && pwrite(out, buf, (size_t)n, off) != n)
				return -1;
		}
		if (n < 0)
			return -1;
		if (n == 0) { /* the source shrank under us */
			errno = EIO;
			return -1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Every data extent of in, at the same offsets in out. */
static int copy_sparse(int in, int out, off_t size)
{
	off_t data = 0;

	while (data < size) {
		data = lseek(in, data, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -1; /* only holes from here on */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -1;
		if (hole > size)
			hole = size;
		if (copy_range(in, out, data, hole - data) < 0)
			return -1;
		data = hole;
	}
	return 0;
}

/* The new file's contents: shared blocks if the file system can, else a
 * copy of the data extents. */
static int fill(int in, int out, off_t size)
{
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	if (ftruncate(out, size) < 0 || copy_sparse(in, out, size) < 0)
		return -1;
	return 0;
}

int sb_clone_file(const char *src, int dfd, const char *dst)
{
	struct stat st;
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, e;

	if (in < 0 || fstat(in, &st) < 0)
		goto fail;
	errno = EINVAL;
	if (!S_ISREG(st.st_mode))
		goto fail;
	out = openat(dfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		goto fail;
	if (fill(in, out, st.st_size) < 0 || fsync(out) < 0)
		goto fail;
	if (close(out) < 0) {
		out = -2; /* closed, but made: removed below */
		goto fail;
	}
	close(in);
	return 0;
fail:
	e = errno;
	if (out >= 0)
		close(out);
	if (out != -1)
		unlinkat(dfd, dst, 0);
	if (in >= 0)
		close(in);
	return sb_fail("cannot copy %s: %s", src, strerror(e));
}
