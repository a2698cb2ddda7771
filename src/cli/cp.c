/* cp.c: silo cp SRC DST, with NAME:/path on exactly one side.
 *
 * Like docker cp: a directory is copied as a tree, a file as a file; if DST
 * is an existing directory the copy goes inside it under SRC's name, else
 * it becomes DST. Trees and files travel as tar streams made by the host's
 * and the guest's tar (modes, symlinks, empty dirs survive). Into the
 * sandbox, files are owned by the agent user (uid 1000), who works there;
 * out of it, by whoever runs silo cp.
 */
#include "cli/cli.h"
#include "client/client.h"
#include "sandbox/extract.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* "NAME:/path" -> name + path; a local path with a ':' after a '/' or
 * starting with '.' or '/' stays local. */
static bool split_remote(const char *arg, char *name, const char **path)
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || (size_t)(colon - arg) > SB_NAME_MAX ||
	    memchr(arg, '/', (size_t)(colon - arg)))
		return false;
	snprintf(name, SB_NAME_MAX + 1, "%.*s", (int)(colon - arg), arg);
	*path = colon[1] ? colon + 1 : "/workspace";
	return true;
}

/* dirname/basename into separate buffers (libgen's may return a pointer
 * into their argument, which must not be both source and destination). */
static void split_path(const char *path, char *dir, char *base)
{
	char a[SB_PATH_MAX], b[SB_PATH_MAX];
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	if (dir)
		snprintf(dir, SB_PATH_MAX, "%s", dirname(a));
	if (base)
		snprintf(base, SB_PATH_MAX, "%s", basename(b));
}

/* tar with one end of a pipe as its stdin or stdout; returns its pid. */
static int spawn_tar(char *const argv[], int fd, int target)
{
	int pid = fork();
	if (pid == 0) {
		dup2(fd, target);
		execvp("tar", argv);
		_exit(127);
	}
	return pid;
}

static int wait_ok(int pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* sed replacement text: '\', '&' and the '|' delimiter are special */
static void sed_escape(const char *s, char *out, size_t n)
{
	size_t j = 0;
	for (; *s && j + 3 < n; s++) {
		if (*s == '\\' || *s == '&' || *s == '|')
			out[j++] = '\\';
		out[j++] = *s;
	}
	out[j] = 0;
}

static int copy_in(const struct sandbox *sb, const char *src, const char *dst)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return cli_failf("%s: %s", src, strerror(errno));
	char srcdir[SB_PATH_MAX], srcbase[SB_PATH_MAX], dest[SB_PATH_MAX], destdir[SB_PATH_MAX];
	split_path(src, srcdir, srcbase);
	struct aclient_stat as;
	struct aclient_err e;
	bool into = aclient_stat(sb->addr, dst, true, &as, &e) == 0 && S_ISDIR(as.st.mode);
	if (into ? sb_path(dest, "%s/%s", dst, srcbase) : sb_path(dest, "%s", dst))
		return cli_fail();
	char *argv[16];
	int n = 0;
	char xform[SB_PATH_MAX * 3], esc[SB_PATH_MAX * 2];
	argv[n++] = "tar";
	argv[n++] = "-c";
	argv[n++] = "-f";
	argv[n++] = "-";
	argv[n++] = "--owner=1000";
	argv[n++] = "--group=1000";
	argv[n++] = "--numeric-owner";
	/* the same rule as out of the sandbox: modes travel, but not the
         * setuid, setgid and sticky bits (the guest's tar runs as root) */
	argv[n++] = "--mode=ug-s,-t";
	argv[n++] = "-C";
	if (S_ISDIR(st.st_mode)) {
		/* the tree's contents, extracted into dest (created) */
		argv[n++] = (char *)src;
		argv[n++] = ".";
		snprintf(destdir, sizeof(destdir), "%s", dest);
	} else {
		/* one member, renamed to dest's base name */
		char destbase[SB_PATH_MAX];
		split_path(dest, destdir, destbase);
		sed_escape(destbase, esc, sizeof(esc));
		snprintf(xform, sizeof(xform), "--transform=s|^.*$|%s|", esc);
		argv[n++] = srcdir;
		argv[n++] = xform;
		argv[n++] = srcbase;
	}
	argv[n] = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cli_failf("pipe: %s", strerror(errno));
	int pid = spawn_tar(argv, p[1], 1);
	close(p[1]);
	int r = pid < 0 ? -1 : aclient_put_tar(sb->addr, destdir, p[0], &e);
	close(p[0]);
	int t = pid < 0 ? -1 : wait_ok(pid);
	if (r < 0)
		return cli_failf("%s:%s: %s", sb->name, dst, e.msg);
	if (t < 0)
		return cli_failf("cannot read %s (tar failed)", src);
	return 0;
}

/* ---- out of the sandbox: the guest's bytes are hostile ------------------
 *
 * Everything lands first in a temporary next to the target (mkdtemp /
 * mkostemp, so only we can reach it), bounded by --max-size, and is renamed
 * into place only once complete: a failure leaves nothing behind. Trees are
 * unpacked by sb_extract_tar (src/sandbox/extract.c): nothing outside the
 * copy, no special files or mode bits, never through a symlink. */

#define CP_MAX_SIZE_DEFAULT (8ull << 30) /* --max-size: several GiB */

struct rx_src {
	struct aclient_rx *rx;
	struct aclient_err e;
	const char *who; /* "NAME:/path" for messages */
};

static long rx_read(void *arg, const void **buf)
{
	struct rx_src *s = arg;
	long n = aclient_rx_read(s->rx, buf, &s->e);
	if (n < 0)
		sb_fail("%s: %s", s->who, s->e.msg);
	return n;
}

static int copy_out_file(struct rx_src *s, const char *addr, const char *src, int pfd,
			 const char *parent, const char *tbase, uint64_t max)
{
	uint32_t mode;
	uint64_t size, got = 0;
	char tmp[SB_PATH_MAX + 32];
	int rc = -1, fd = -1;
	s->rx = aclient_rx_file(addr, src, &mode, &size, &s->e);
	if (!s->rx)
		return sb_fail("%s: %s", s->who, s->e.msg);
	struct statvfs v;
	if (size > max) {
		sb_fail("%s is %llu bytes, more than --max-size (%llu): nothing was copied", s->who,
			(unsigned long long)size, (unsigned long long)max);
		goto out;
	}
	if (fstatvfs(pfd, &v) == 0 && size > (uint64_t)v.f_bavail * v.f_frsize) {
		sb_fail("%s: not enough free space for %llu bytes: nothing was copied", parent,
			(unsigned long long)size);
		goto out;
	}
	/* O_EXCL (mkostemp) never opens an existing file or symlink */
	if (sb_path(tmp, "%s/.silo-cp-XXXXXX", parent) < 0)
		goto out;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		sb_fail("%s: %s", parent, strerror(errno));
		goto out;
	}
	const char *tname = tmp + strlen(parent) + 1;
	const void *buf;
	long n;
	while ((n = aclient_rx_read(s->rx, &buf, &s->e)) > 0) {
		/* The guest said how long the file is; a file that grew
                 * since is cut there rather than trusted to end. */
		if ((uint64_t)n > size - got) {
			sb_fail("%s: the sandbox sent more than the %llu bytes it announced: "
				"nothing was copied",
				s->who, (unsigned long long)size);
			break;
		}
		got += (uint64_t)n;
		int w = proto_write_all(fd, buf, (size_t)n);
		if (w < 0) {
			sb_fail("%s: %s", parent, strerror(-w));
			break;
		}
	}
	if (n < 0)
		sb_fail("%s: %s", s->who, s->e.msg);
	else if (n == 0 && fchmod(fd, mode & 0777) < 0)
		sb_fail("%s: %s", parent, strerror(errno));
	else if (n == 0)
		rc = 0;
	if (close(fd) < 0 && rc == 0)
		rc = sb_fail("%s: %s", parent, strerror(errno));
	/* rename replaces a symlink at the target, never what it points to */
	if (rc == 0 && renameat(pfd, tname, pfd, tbase) < 0)
		rc = sb_fail("%s/%s: %s", parent, tbase, strerror(errno));
	if (rc < 0)
		unlinkat(pfd, tname, 0);
out:
	aclient_rx_close(s->rx);
	return rc;
}

static int copy_out_tree(struct rx_src *s, const char *addr, const char *src, int pfd,
			 const char *parent, const char *tbase, uint64_t max)
{
	char tmp[SB_PATH_MAX + 32], req[SB_PATH_MAX + 8];
	struct sb_extract x = { .max_bytes = max };
	/* "src/.": the tree's contents, members named "./..." whatever the
         * guest calls the directory (a symlink to one is followed there) */
	if (sb_path(req, "%s/.", src) < 0)
		return -1;
	if (sb_path(tmp, "%s/.silo-cp-XXXXXX", parent) < 0)
		return -1;
	if (!mkdtemp(tmp))
		return sb_fail("%s: %s", parent, strerror(errno));
	const char *tname = tmp + strlen(parent) + 1;
	int tfd = openat(pfd, tname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = -1;
	if (tfd < 0) {
		sb_fail("%s: %s", tmp, strerror(errno));
		goto out;
	}
	s->rx = aclient_rx_tar(addr, req, &s->e);
	if (!s->rx) {
		sb_fail("%s: %s", s->who, s->e.msg);
		goto out;
	}
	rc = sb_extract_tar(tfd, rx_read, s, &x);
	aclient_rx_close(s->rx);
	if (rc == 0 && sb_tree_move(pfd, tname, pfd, tbase) < 0)
		rc = sb_fail("%s/%s: %s", parent, tbase, strerror(errno));
	if (rc == 0)
		sb_drop_warn(&x, s->who);
out:
	if (tfd >= 0)
		close(tfd);
	sb_tree_remove(pfd, tname);
	return rc;
}

static int copy_out(const struct sandbox *sb, const char *src, const char *dst, uint64_t max)
{
	struct rx_src s = { .who = NULL };
	struct aclient_stat as;
	char who[SB_NAME_MAX + SB_PATH_MAX + 2];
	snprintf(who, sizeof(who), "%s:%s", sb->name, src);
	s.who = who;
	if (aclient_stat(sb->addr, src, true, &as, &s.e) < 0)
		return cli_failf("%s: %s", who, s.e.msg);
	char base[SB_PATH_MAX], target[SB_PATH_MAX], parent[SB_PATH_MAX], tbase[SB_PATH_MAX];
	split_path(src, NULL, base);
	struct stat st;
	bool into = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
	if (into ? sb_path(target, "%s/%s", dst, base) : sb_path(target, "%s", dst))
		return cli_fail();
	split_path(target, parent, tbase);
	if (!strcmp(tbase, "/") || !strcmp(tbase, ".") || !strcmp(tbase, ".."))
		return cli_failf("%s: name the destination, e.g. %s/copy", target, parent);
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return cli_failf("%s: %s", parent, strerror(errno));
	int rc = S_ISDIR(as.st.mode) ? copy_out_tree(&s, sb->addr, src, pfd, parent, tbase, max)
				     : copy_out_file(&s, sb->addr, src, pfd, parent, tbase, max);
	close(pfd);
	return rc < 0 ? cli_fail() : 0;
}

int cmd_cp(struct cli *c, int argc, char **argv)
{
	static const struct option longs[] = { { "max-size", required_argument, NULL, 'm' },
					       { NULL, 0, NULL, 0 } };
	uint64_t max = CP_MAX_SIZE_DEFAULT;
	int ch;
	optind = 1, opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longs, NULL)) != -1) {
		if (ch != 'm')
			return cli_failf("cp: unknown option or missing value '%s' "
					 "(usage: silo cp [--max-size SIZE] SRC DST)",
					 argv[optind - 1]);
		if (sb_parse_size(optarg, &max) < 0)
			return cli_failf("--max-size: %s", sb_errmsg());
	}
	argc -= optind - 1, argv += optind - 1;
	if (argc != 3)
		return cli_failf(
			"usage: silo cp [--max-size SIZE] SRC DST (NAME:/path on one side)");
	char sname[SB_NAME_MAX + 1], dname[SB_NAME_MAX + 1];
	const char *spath, *dpath;
	bool sr = split_remote(argv[1], sname, &spath), dr = split_remote(argv[2], dname, &dpath);
	if (sr == dr)
		return cli_failf("cp: exactly one of SRC and DST must be NAME:/path");
	struct sandbox sb;
	if (cli_open_running(c, &sb, sr ? sname : dname) < 0)
		return cli_fail();
	int rc = sr ? copy_out(&sb, spath, argv[2], max) : copy_in(&sb, argv[1], dpath);
	sb_close(&sb);
	return rc;
}
