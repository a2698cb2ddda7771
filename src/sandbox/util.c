/* util.c: error line, size/name parsing, config and exit-record formats,
 * file helpers. Everything here is pure or touches only the path it is
 * given, so tests/unit/test_cli_parse.c and test_sandbox_dirs.c cover it
 * without a VM. The file helpers work relative to a directory fd opened
 * O_NOFOLLOW and never open an existing name for writing: a symlink
 * planted where silo writes or removes is never followed out. */
#include "sandbox/sandbox.h"
#include "net/publish.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Per thread: a server calls the library from many threads at once, and
 * each caller must read its own failure (issue 21). */
static __thread char errbuf[1024];

const char *sb_errmsg(void)
{
	return errbuf;
}

int sb_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	/* one line, always: a reason copied from a log may carry a newline */
	for (char *p = errbuf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

void sb_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("silo: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int sb_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, SB_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= SB_PATH_MAX)
		return sb_fail("path too long");
	return 0;
}

int sb_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return sb_fail("invalid size '%s': use a number with K, M, G or T (e.g. 512M, 8G)",
			       s ? s : "");
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	/* accept "G", "GB" and "GiB": all binary, as the disk and RAM are */
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "ib")))
		end += 2;
	else if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (errno || *end || v == 0 || (shift && v > (UINT64_MAX >> shift)))
		return sb_fail("invalid size '%s': use a number with K, M, G or T (e.g. 512M, 8G)",
			       s);
	*out = (uint64_t)v << shift;
	return 0;
}

const char *sb_format_size(uint64_t b, char *buf, size_t n)
{
	static const char units[] = "TGMK";
	for (int i = 0; i < 4; i++) {
		unsigned shift = 40 - 10 * i;
		if (b && b % (1ull << shift) == 0) {
			snprintf(buf, n, "%llu%c", (unsigned long long)(b >> shift), units[i]);
			return buf;
		}
	}
	snprintf(buf, n, "%llu", (unsigned long long)b);
	return buf;
}

bool sb_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SB_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

int sb_name_check(const char *name, const char *what)
{
	if (sb_name_valid(name))
		return 0;
	return sb_fail("invalid %s name '%s': use letters, digits, '_', '.', '-' (at most 63, "
		       "starting with a letter or digit)",
		       what, name);
}

bool sb_cgroup_path_valid(const char *path)
{
	size_t len = strlen(path);
	if (path[0] != '/' || len < 2 || len >= SB_CGROUP_PATH_MAX)
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	for (const char *c = path; c; c = strchr(c + 1, '/')) {
		size_t n = strcspn(c + 1, "/");
		if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return false;
	}
	return true;
}

void sb_config_init(struct sb_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpus = 1;
	c->memory = 1ull << 30;
	c->disk = 8ull << 30;
}

int sb_config_cpus(struct sb_config *c, const char *text, const char *what)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (*end || end == text || n < 1 || n > SB_MAX_CPUS)
		return sb_fail("invalid %s '%s': use a number from 1 to %d", what, text,
			       SB_MAX_CPUS);
	c->cpus = (unsigned)n;
	return 0;
}

int sb_config_disk(struct sb_config *c, const char *text, const char *what)
{
	uint64_t v;
	if (sb_parse_size(text, &v) < 0)
		return -1;
	if (v < SB_MIN_DISK || v % 4096 || v > (64ull << 40))
		return sb_fail("invalid %s '%s': use a size from 64M to 64T (e.g. 8G)", what, text);
	c->disk = v;
	return 0;
}

int sb_config_memory(struct sb_config *c, const char *text, const char *what)
{
	uint64_t v;
	if (sb_parse_size(text, &v) < 0)
		return -1;
	if (v < SB_MIN_MEMORY || v % (1 << 20) || v > (1ull << 40))
		return sb_fail("invalid %s '%s': use whole megabytes from 32M to 1T "
			       "(e.g. 512M, 2G)",
			       what, text);
	c->memory = v;
	return 0;
}

void sb_config_free(struct sb_config *c)
{
	for (unsigned i = 0; i < c->nenv; i++)
		free(c->env[i]);
	c->nenv = 0;
	c->env[0] = NULL;
	for (unsigned i = 0; i < c->npublish; i++)
		free(c->publish[i]);
	c->npublish = 0;
	c->publish[0] = NULL;
	free(c->policy);
	c->policy = NULL;
}

int sb_config_add_publish(struct sb_config *c, const char *spec)
{
	struct net_publish pub;
	const char *why;
	char canon[NET_PUBLISH_TEXT_MAX];
	if (net_publish_parse(spec, &pub, &why) < 0)
		return sb_fail("invalid -p '%s': %s%s", spec, why,
			       strstr(why, "HOST_PORT") ? ""
							: " (use [HOST_IP:]HOST_PORT:GUEST_PORT)");
	if (net_publish_format(&pub, canon, sizeof(canon)) < 0)
		return sb_fail("invalid -p '%s'", spec);
	if (c->npublish >= SB_PUBLISH_MAX)
		return sb_fail("too many -p ports (at most %d)", SB_PUBLISH_MAX);
	for (unsigned i = 0; i < c->npublish; i++) {
		struct net_publish o;
		if (net_publish_parse(c->publish[i], &o, &why) == 0 && o.host_port == pub.host_port)
			return sb_fail("invalid -p '%s': host port %u is already published", spec,
				       pub.host_port);
	}
	if (!(c->publish[c->npublish] = strdup(canon)))
		return sb_fail("out of memory");
	c->publish[++c->npublish] = NULL;
	return 0;
}

int sb_config_add_env(struct sb_config *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || strchr(kv, '\n'))
		return sb_fail("invalid environment '%s': use -e KEY=VALUE", kv);
	if (c->nenv >= SB_ENV_MAX)
		return sb_fail("too many -e variables (at most %d)", SB_ENV_MAX);
	if (!(c->env[c->nenv] = strdup(kv)))
		return sb_fail("out of memory");
	c->env[++c->nenv] = NULL;
	return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end)
		return -1;
	*out = x;
	return 0;
}

/* Free-form values (the workspace path) are written with C-style escapes:
 * a path may hold any byte but NUL, and a newline in it would start a new
 * key (workspace=/tmp/a<LF>name=evil). Escaped: backslash, control bytes
 * and DEL. A backslash before anything else reads as itself, so a config
 * written before the encoding reads the same unless its path held one of
 * the escapes above literally. */
static void put_escaped(FILE *f, const char *v)
{
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;
		if (ch == '\\')
			fputs("\\\\", f);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\%03o", ch);
		else
			fputc(ch, f);
	}
}

static int is_odigit(char c)
{
	return c >= '0' && c <= '7';
}

/* In place: the decoded text is never longer. */
static void unescape(char *v)
{
	char *o = v;
	while (*v) {
		if (v[0] != '\\' || !v[1]) {
			*o++ = *v++;
			continue;
		}
		char e = v[1];
		if (e == '\\' || e == 'n' || e == 't' || e == 'r') {
			*o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : '\\';
			v += 2;
		} else if (is_odigit(v[1]) && is_odigit(v[2]) && is_odigit(v[3]) &&
			   (v[1] != '0' || v[2] != '0' || v[3] != '0') && v[1] <= '3') {
			*o++ = (char)((v[1] - '0') << 6 | (v[2] - '0') << 3 | (v[3] - '0'));
			v += 4;
		} else {
			*o++ = *v++;
		}
	}
	*o = 0;
}

int sb_config_parse(const char *text, struct sb_config *c)
{
	sb_config_init(c);
	const char *p = text;
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		/* an escaped path is at most 4 bytes per byte (\ooo) */
		char line[4 * SB_PATH_MAX + 64];
		size_t len = (size_t)(nl - p);
		if (len >= sizeof(line))
			return sb_fail("config: line too long");
		memcpy(line, p, len);
		line[len] = 0;
		p = *nl ? nl + 1 : nl;
		if (!line[0] || line[0] == '#')
			continue;
		char *v = strchr(line, '=');
		if (!v)
			return sb_fail("config: bad line '%s'", line);
		*v++ = 0;
		uint64_t n = 0;
		int bad = 0;
		if (!strcmp(line, "name")) {
			if (!sb_name_valid(v))
				bad = 1;
			else
				snprintf(c->name, sizeof(c->name), "%s", v);
		} else if (!strcmp(line, "cpus")) {
			bad = parse_u64(v, &n) || n < 1 || n > 32;
			c->cpus = (unsigned)n;
		} else if (!strcmp(line, "memory")) {
			bad = parse_u64(v, &c->memory) || c->memory < SB_MIN_MEMORY;
		} else if (!strcmp(line, "disk")) {
			bad = parse_u64(v, &c->disk) || c->disk < SB_MIN_DISK;
		} else if (!strcmp(line, "created")) {
			bad = parse_u64(v, &n);
			c->created = (int64_t)n;
		} else if (!strcmp(line, "workspace")) {
			unescape(v);
			size_t wl = strlen(v);
			bad = wl >= sizeof(c->workspace);
			if (!bad)
				memcpy(c->workspace, v, wl + 1);
		} else if (!strcmp(line, "workspace_pending")) {
			c->workspace_pending = !strcmp(v, "1");
		} else if (!strcmp(line, "docker")) {
			bad = strcmp(v, "0") && strcmp(v, "1");
			c->no_docker = !strcmp(v, "0");
		} else if (!strcmp(line, "wait_docker")) {
			bad = strcmp(v, "0") && strcmp(v, "1");
			c->wait_docker = !strcmp(v, "1");
		} else if (!strcmp(line, "template")) {
			bad = !sb_name_valid(v);
			if (!bad)
				snprintf(c->template, sizeof(c->template), "%s", v);
		} else if (!strcmp(line, "cgroup")) {
			bad = !sb_cgroup_path_valid(v);
			if (!bad)
				snprintf(c->cgroup, sizeof(c->cgroup), "%s", v);
		} else if (!strcmp(line, "restore")) {
			bad = strcmp(v, "0") && strcmp(v, "1");
			c->restore_pending = !strcmp(v, "1");
		} else if (!strcmp(line, "env")) {
			if (sb_config_add_env(c, v) < 0)
				bad = 1;
		} else if (!strcmp(line, "publish")) {
			if (sb_config_add_publish(c, v) < 0)
				bad = 1;
		}
		if (bad) {
			sb_config_free(c);
			return sb_fail("config: bad value for %s: '%s'", line, v);
		}
	}
	if (!c->name[0]) {
		sb_config_free(c);
		return sb_fail("config: no name");
	}
	return 0;
}

int sb_config_format(const struct sb_config *c, FILE *f)
{
	fprintf(f, "name=%s\ncpus=%u\nmemory=%llu\ndisk=%llu\ncreated=%lld\n", c->name, c->cpus,
		(unsigned long long)c->memory, (unsigned long long)c->disk, (long long)c->created);
	if (c->workspace[0]) {
		fputs("workspace=", f);
		put_escaped(f, c->workspace);
		fprintf(f, "\nworkspace_pending=%d\n", c->workspace_pending);
	}
	if (c->no_docker) /* absent: Docker on, as configs before the flag */
		fprintf(f, "docker=0\n");
	if (c->wait_docker)
		fprintf(f, "wait_docker=1\n");
	if (c->template[0])
		fprintf(f, "template=%s\nrestore=%d\n", c->template, c->restore_pending);
	if (c->cgroup[0])
		fprintf(f, "cgroup=%s\n", c->cgroup);
	/* Raw, as before the encoding: sb_config_add_env refuses a newline,
         * and a value like PS1=\n$ must keep meaning what it meant. */
	for (unsigned i = 0; i < c->nenv; i++)
		fprintf(f, "env=%s\n", c->env[i]);
	for (unsigned i = 0; i < c->npublish; i++)
		fprintf(f, "publish=%s\n", c->publish[i]);
	return ferror(f) ? -1 : 0;
}

int sb_exit_parse(const char *text, struct sb_exit *x)
{
	x->code = -1;
	x->signal = 0;
	x->reason[0] = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		int len = (int)(nl - p);
		if (!strncmp(p, "code=", 5))
			x->code = atoi(p + 5);
		else if (!strncmp(p, "signal=", 7))
			x->signal = atoi(p + 7);
		else if (!strncmp(p, "reason=", 7))
			snprintf(x->reason, sizeof(x->reason), "%.*s", len - 7, p + 7);
		p = *nl ? nl + 1 : nl;
	}
	if (x->code < 0 && !x->signal)
		return sb_fail("exit record: neither code nor signal");
	if (!x->reason[0]) {
		if (x->signal)
			snprintf(x->reason, sizeof(x->reason), "killed by signal %d", x->signal);
		else
			snprintf(x->reason, sizeof(x->reason), "exit code %d", x->code);
	}
	return 0;
}

int sb_proc_start(int pid, unsigned long long *start, char *state)
{
	char f[64], *stat, *p;
	int r = -1;

	snprintf(f, sizeof(f), "/proc/%d/stat", pid);
	if (sb_read_file(f, &stat, NULL) < 0)
		return -1;
	/* after the comm's ")" (which may hold spaces and parens): field 3,
	 * the state; p then at the space before field 4, and 18 spaces on,
	 * the one before field 22 */
	p = strrchr(stat, ')');
	if (p && p[1] == ' ' && p[2]) {
		*state = p[2];
		p += 3;
		for (int i = 0; i < 18 && p; i++)
			p = strchr(p + 1, ' ');
		if (p) {
			*start = strtoull(p + 1, NULL, 10);
			r = 0;
		}
	}
	free(stat);
	return r;
}

int sb_read_file(const char *path, char **out, size_t *len)
{
	/* O_NOFOLLOW: silo's own files are never symlinks; one planted
         * there must not make us read (and trust) some other file. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb, cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	int saved = errno;
	close(fd);
	if (!buf) {
		errno = saved ? saved : ENOMEM;
		return -1;
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

/* The directory holding path, opened O_DIRECTORY; *base points into path
 * at the last component. The directories above are silo's own, checked by
 * sb_dir_private; only the last component could be a planted symlink. */
static int open_parent(const char *path, const char **base)
{
	char dir[SB_PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
		*base = path;
	} else {
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
		*base = slash + 1;
	}
	if (!**base) {
		errno = EINVAL;
		return -1;
	}
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Readers never see a half-written file: write a temporary, rename. The
 * temporary is new (O_EXCL: a name someone planted, even a symlink, only
 * makes us pick another) and never followed (O_NOFOLLOW). */
int sb_write_file_atomic(const char *path, const char *data, size_t len)
{
	const char *base;
	char tmp[NAME_MAX + 1];
	int dfd = open_parent(path, &base), fd = -1, e;
	if (dfd < 0)
		return -1;
	for (unsigned i = 0; fd < 0 && i < 100; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int n = i ? snprintf(tmp, sizeof(tmp), "%.200s.tmp%d-%lx", base, (int)getpid(),
				     (unsigned long)ts.tv_nsec ^ i)
			  : snprintf(tmp, sizeof(tmp), "%.200s.tmp%d", base, (int)getpid());
		if (n < 0 || n >= (int)sizeof(tmp)) {
			errno = ENAMETOOLONG;
			break;
		}
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail_unlink;
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, base) < 0)
		goto fail_unlink;
	close(dfd);
	return 0;
fail_unlink:
	e = errno;
	unlinkat(dfd, tmp, 0);
	errno = e;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	close(dfd);
	errno = e;
	return -1;
}

/* Deeper trees fail (ELOOP) rather than run out of fds: one fd per level,
 * well below the usual RLIMIT_NOFILE of 1024. */
#define RMTREE_DEPTH_MAX 256

/* Remove name under dfd. A directory is entered only through
 * openat(O_NOFOLLOW|O_DIRECTORY) and emptied through its own fd, so a
 * symlink (even one swapped in for a directory mid-walk) is unlinked, never
 * followed; another filesystem mounted inside is left alone (EXDEV), as
 * nftw's FTW_MOUNT did. dev 0: take the tree root's. */
static int rm_at(int dfd, const char *name, dev_t dev, int depth)
{
	for (int tries = 0; tries < 8; tries++) {
		if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
			return 0;
		int ue = errno; /* EISDIR, or POSIX's EPERM, for a directory */
		if (ue != EISDIR && ue != EPERM)
			return -1;
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
			if (ue == EPERM) { /* a file we may not remove */
				errno = EPERM;
				return -1;
			}
			continue; /* no longer a directory: unlink it */
		}
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		struct stat st;
		int e = 0;
		if (fstat(fd, &st) < 0)
			e = errno;
		else if (dev && st.st_dev != dev)
			e = EXDEV;
		else if (depth >= RMTREE_DEPTH_MAX)
			e = ELOOP;
		DIR *d = e ? NULL : fdopendir(fd);
		if (!d) {
			e = e ? e : errno;
			close(fd);
			errno = e;
			return -1;
		}
		int r = 0;
		struct dirent *ent;
		while ((ent = readdir(d))) {
			if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
				continue;
			if (rm_at(dirfd(d), ent->d_name, st.st_dev, depth + 1) < 0 && !r)
				r = -1, e = errno;
		}
		closedir(d);
		if (r < 0) {
			errno = e;
			return -1;
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return -1;
		/* something appeared meanwhile: empty it again */
	}
	errno = EBUSY;
	return -1;
}

int sb_rmtree_at(int dfd, const char *name)
{
	return rm_at(dfd, name, 0, 0);
}

int sb_rmtree(const char *path)
{
	const char *base;
	int dfd = open_parent(path, &base);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	int r = rm_at(dfd, base, 0, 0), e = errno;
	close(dfd);
	errno = e;
	return r;
}

int sb_mkdir_p(const char *path, unsigned mode)
{
	char tmp[SB_PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return (mkdir(tmp, mode) < 0 && errno != EEXIST) ? -1 : 0;
}

bool sb_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

void sb_nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int sb_dir_watch(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd >= 0 && inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void sb_dir_wait(int watch, int ms)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p = { .fd = watch, .events = POLLIN };

	if (watch < 0) {
		sb_nap_ms(ms);
		return;
	}
	if (poll(&p, 1, ms) > 0)
		while (read(watch, buf, sizeof(buf)) > 0)
			;
}

const char *sb_fd_tail(int fd, char *buf, size_t n)
{
	off_t end = lseek(fd, 0, SEEK_END), from = end > (off_t)n - 1 ? end - (off_t)n + 1 : 0;
	ssize_t k = end > 0 ? pread(fd, buf, n - 1, from) : 0;

	buf[k > 0 ? k : 0] = 0;
	while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r'))
		buf[--k] = 0;
	return buf;
}
