/* workspace.c: the workspace copied in at create, and what changed since.
 *
 * The manifest is computed in the guest, by the same command both times
 * (right after the copy-in and at `silo diff`), so both sides agree on
 * hashing, modes and names; comparing two listings is pure C below.
 */
#include "sandbox/sandbox.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* NUL-terminated records, since a name may hold any byte but NUL:
 * "M <type> <octal mode> ./path", "L ./path" then the target,
 * "<sha256>  ./path" (sha256sum -z: no name escaping either).
 * A newline-separated manifest from an older silo ("L ./path<TAB>target")
 * is still read (parse_listing). */
static const char MANIFEST_SH[] = "cd /workspace || exit 1; "
				  "find . -mindepth 1 -printf 'M %y %m %p\\0' && "
				  "find . -mindepth 1 -type l -printf 'L %p\\0%l\\0' && "
				  "find . -mindepth 1 -type f -exec sha256sum -z -- {} +";

/* A guest command's output is guest data: it goes into a memfd that cannot
 * grow past a cap (F_SEAL_GROW), so a guest that never stops writing ends
 * the exec with EPERM instead of filling host memory. 64 MiB holds the
 * manifest of ~300k files (three lines of ~70 bytes each). */
#define GUEST_OUT_MAX (64u << 20)
#define GUEST_ERR_MAX (1u << 20)

static int capped_memfd(const char *name, size_t cap)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd >= 0 && (ftruncate(fd, (off_t)cap) < 0 ||
			fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What was written into fd (its offset, not its capped size) as one
 * NUL-terminated string. The memfd's pages are given back as they are
 * copied, so the output is never held twice. */
static int drain(int fd, char **out, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_CUR);
	if (end < 0 || !(*out = malloc((size_t)end + 1)))
		return -1;
	for (off_t at = 0; at < end;) {
		size_t n = (size_t)(end - at) < (1u << 20) ? (size_t)(end - at) : (1u << 20);
		ssize_t r = pread(fd, *out + at, n, at);
		if (r <= 0) {
			free(*out);
			return -1;
		}
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, r);
		at += r;
	}
	(*out)[end] = 0;
	if (len)
		*len = (size_t)end;
	return 0;
}

int sb_guest_sh(const struct sandbox *sb, const char *script, char **out, size_t *outlen)
{
	int ofd = capped_memfd("silo-out", GUEST_OUT_MAX);
	int efd = capped_memfd("silo-err", GUEST_ERR_MAX);
	const char *argv[] = { "sh", "-c", script, NULL };
	/* A time limit, so a guest that never ends the command (a listing
         * at diff or at the first start, under the lock) cannot hang us:
         * ten idle timeouts, 10 min by default, is ample for find and
         * sha256sum of a workspace, and SILO_AGENT_TIMEOUT scales it. */
	struct aclient_timeouts t;
	aclient_get_timeouts(&t);
	struct aclient_exec_opts o = { .argv = argv,
				       .cwd = "/",
				       .in_fd = -1,
				       .out_fd = ofd,
				       .err_fd = efd,
				       .sig_fd = -1,
				       .tty_fd = -1,
				       .timeout_ms = 10 * t.idle_ms };
	struct aclient_err e = { 0 };
	struct proto_exit x;
	int rc = -1;
	char *err = NULL;
	if (ofd < 0 || efd < 0) {
		sb_fail("memfd: %s", strerror(errno));
		goto out;
	}
	if (aclient_exec(sb->addr, &o, &x, &e) < 0) {
		if (lseek(ofd, 0, SEEK_CUR) >= (off_t)GUEST_OUT_MAX)
			sb_fail("sandbox %s: the workspace manifest is larger than %u MiB "
				"(too many files to compare)",
				sb->name, GUEST_OUT_MAX >> 20);
		else if (lseek(efd, 0, SEEK_CUR) >= (off_t)GUEST_ERR_MAX)
			sb_fail("sandbox %s: the guest command wrote more than %u MiB of errors",
				sb->name, GUEST_ERR_MAX >> 20);
		else
			sb_fail("sandbox %s: %s", sb->name, e.msg);
		goto out;
	}
	if (drain(ofd, out, outlen) < 0) {
		sb_fail("out of memory");
		goto out;
	}
	rc = (x.flags & EXIT_F_SIGNALED) ? 128 + (x.code & 0x7f) : (x.code & 0xff);
	if (rc != 0 && drain(efd, &err, NULL) == 0)
		sb_fail("sandbox %s: %.*s", sb->name, (int)strcspn(err, "\n"), err);
	else if (rc != 0)
		sb_fail("sandbox %s: guest command failed (%d)", sb->name, rc);
	free(err);
	if (rc != 0) {
		free(*out);
		*out = NULL;
	}
out:
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	return rc;
}

int sb_save_config(struct sandbox *sb)
{
	char *text = NULL, f[SB_PATH_MAX];
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m || sb_config_format(&sb->cfg, m) < 0 || fclose(m) != 0 ||
	    sb_path(f, "%s/config", sb->dir) < 0 || sb_write_file_atomic(f, text, len) < 0) {
		free(text);
		return sb_fail("cannot write the config of %s", sb->name);
	}
	free(text);
	return 0;
}

int sb_workspace_copy_in(struct sandbox *sb)
{
	char tarf[SB_PATH_MAX], man[SB_PATH_MAX];
	if (sb_path(tarf, "%s/workspace.tar", sb->dir) < 0 ||
	    sb_path(man, "%s/workspace.manifest", sb->dir) < 0)
		return -1;
	int fd = open(tarf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_fail("%s: %s", tarf, strerror(errno));
	struct aclient_err e;
	int r = aclient_put_tar(sb->addr, "/workspace", fd, &e);
	close(fd);
	if (r < 0)
		return sb_fail("sandbox %s: copying the workspace in: %s", sb->name, e.msg);
	char *list;
	size_t len;
	if (sb_guest_sh(sb, MANIFEST_SH, &list, &len) != 0)
		return -1;
	r = sb_write_file_atomic(man, list, len);
	free(list);
	if (r < 0)
		return sb_fail("%s: %s", man, strerror(errno));
	/* Only now: a start that failed before this point copies again. */
	sb->cfg.workspace_pending = false;
	if (sb_save_config(sb) < 0)
		return -1;
	unlink(tarf);
	return 0;
}

struct entry {
	char *path;
	char meta[24]; /* "f 644" */
	char *extra;   /* hash or link target, borrowed */
};

struct listing {
	struct entry *v;
	size_t n, cap;
};

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static struct entry *add(struct listing *l, char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct entry *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v, l->cap = cap;
	}
	struct entry *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->path = path;
	return e;
}

/* Parses text (len bytes, NUL-terminated after them) in place; it must
 * stay alive. Hash and link lines are attached to the entry of the same
 * path after sorting. */
static int parse_listing(char *text, size_t len, struct listing *l)
{
	struct listing side = { 0 };
	/* records end in NUL; with none, an older silo's newline manifest */
	char sep = memchr(text, 0, len) ? 0 : '\n';
	char *end = text + len;
	for (char *line = text, *next; line < end; line = next) {
		char *e0 = memchr(line, sep, (size_t)(end - line));
		if (e0)
			*e0 = 0;
		next = e0 ? e0 + 1 : end;
		if (!strncmp(line, "M ", 2)) {
			char *sp = strchr(line + 2, ' ');
			char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
			if (!sp2)
				continue;
			*sp2 = 0;
			struct entry *e = add(l, sp2 + 1);
			if (!e)
				goto oom;
			snprintf(e->meta, sizeof(e->meta), "%s", line + 2);
		} else if (!strncmp(line, "L ", 2)) {
			char *target;
			if (sep) {
				char *tab = strchr(line, '\t');
				if (!tab)
					continue;
				*tab = 0;
				target = tab + 1;
			} else {
				/* the next record is the target */
				if (next >= end)
					continue;
				target = next;
				char *t0 = memchr(next, 0, (size_t)(end - next));
				next = t0 ? t0 + 1 : end;
			}
			struct entry *e = add(&side, line + 2);
			if (!e)
				goto oom;
			e->extra = target;
		} else if (strlen(line) > 66 && line[64] == ' ' && line[65] == ' ') {
			line[64] = 0;
			struct entry *e = add(&side, line + 66);
			if (!e)
				goto oom;
			e->extra = line;
		}
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), by_path);
	for (size_t i = 0; i < side.n; i++) {
		struct entry key = { .path = side.v[i].path };
		struct entry *e = l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), by_path) : NULL;
		if (e)
			e->extra = side.v[i].extra;
	}
	free(side.v);
	return 0;
oom:
	free(side.v);
	return sb_fail("out of memory");
}

/* The path is the guest's: quoted (sb_fputq), so no name can print as a
 * line of its own or reach the terminal as control bytes. */
static void emit(FILE *f, char what, const char *path)
{
	const char *rel = path[0] == '.' && path[1] == '/' ? path + 2 : path;
	char *full = NULL;
	fprintf(f, "%c ", what);
	if (asprintf(&full, "/workspace/%s", rel) < 0) {
		fputs("/workspace/?", f);
	} else {
		sb_fputq(f, full);
		free(full);
	}
	fputc('\n', f);
}

/* Parses a and b (NUL-terminated at alen/blen) in place: no second copy of
 * two listings of up to GUEST_OUT_MAX each. */
static int diff_in_place(char *a, size_t alen, char *b, size_t blen, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	struct listing la = { 0 }, lb = { 0 };
	int rc = -1;
	FILE *f = NULL;
	if (!(f = open_memstream(&buf, &len))) {
		sb_fail("out of memory");
		goto out;
	}
	if (parse_listing(a, alen, &la) < 0 || parse_listing(b, blen, &lb) < 0)
		goto out;
	size_t i = 0, j = 0;
	while (i < la.n || j < lb.n) {
		int c = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.v[i].path, lb.v[j].path);
		if (c < 0) {
			emit(f, 'D', la.v[i++].path);
		} else if (c > 0) {
			emit(f, 'A', lb.v[j++].path);
		} else {
			const struct entry *x = &la.v[i++], *y = &lb.v[j++];
			const char *ex = x->extra ? x->extra : "", *ey = y->extra ? y->extra : "";
			if (strcmp(x->meta, y->meta) || strcmp(ex, ey))
				emit(f, 'C', x->path);
		}
	}
	rc = 0;
out:
	if (f && fclose(f) == 0 && rc == 0)
		*out = buf;
	else
		free(buf);
	free(la.v);
	free(lb.v);
	return rc;
}

int sb_manifest_diff(const char *before, size_t blen, const char *after, size_t alen, char **out)
{
	char *a = malloc(blen + 1), *b = malloc(alen + 1);
	int rc = -1;
	if (!a || !b) {
		sb_fail("out of memory");
	} else {
		memcpy(a, before, blen);
		a[blen] = 0;
		memcpy(b, after, alen);
		b[alen] = 0;
		rc = diff_in_place(a, blen, b, alen, out);
	}
	free(a);
	free(b);
	return rc;
}

int sb_workspace_diff(const struct sandbox *sb, char **out)
{
	char man[SB_PATH_MAX], *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	if (sb_path(man, "%s/workspace.manifest", sb->dir) < 0)
		return -1;
	if (sb_read_file(man, &before, &blen) < 0) {
		if (errno != ENOENT)
			return sb_fail("%s: %s", man, strerror(errno));
		/* no --workspace: everything in /workspace was added */
		before = strdup("");
		if (!before)
			return sb_fail("out of memory");
	}
	if (sb_guest_sh(sb, MANIFEST_SH, &after, &alen) != 0) {
		free(before);
		return -1;
	}
	int r = diff_in_place(before, blen, after, alen, out);
	free(before);
	free(after);
	return r;
}
