/* test_extract.c: sb_extract_tar on hostile tar streams (src/sandbox/extract.c).
 *
 * Streams are crafted with libarchive's writer, which takes any name and
 * type as given: "../x", "/abs", devices, a symlink and then a member
 * through it. Each test extracts into a fresh directory and checks what
 * exists afterwards, inside and outside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sandbox/extract.h"
#include "sandbox/sandbox.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct mem {
	char *buf;
	size_t len, off, chunk;
};

/* One archive being built: add() entries, then done() gives the bytes. */
struct tarw {
	struct archive *a;
	char buf[1 << 20];
	size_t used;
};

static void tw_open(struct tarw *t)
{
	t->a = archive_write_new();
	archive_write_set_format_pax_restricted(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	assert_int_equal(archive_write_open_memory(t->a, t->buf, sizeof(t->buf), &t->used),
			 ARCHIVE_OK);
}

static void tw_add(struct tarw *t, const char *name, mode_t type, mode_t perm, const char *data,
		   const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, makedev(1, 3));
	archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (data)
		archive_write_data(t->a, data, strlen(data));
	archive_entry_free(e);
}

static struct mem tw_done(struct tarw *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
	return (struct mem){ .buf = t->buf, .len = t->used, .chunk = 4096 };
}

static long mem_read(void *arg, const void **buf)
{
	struct mem *m = arg;
	size_t n = m->len - m->off < m->chunk ? m->len - m->off : m->chunk;
	*buf = m->buf + m->off;
	m->off += n;
	return (long)n;
}

/* An endless stream: a header claiming a huge file, then zeros for ever. */
static long endless_read(void *arg, const void **buf)
{
	static char zeros[65536];
	struct mem *m = arg;
	if (m->off < m->len) {
		m->off = m->len;
		*buf = m->buf;
		return (long)m->len;
	}
	*buf = zeros;
	return sizeof(zeros);
}

struct fx {
	char root[64]; /* mkdtemp: dst/ and outside/ */
	int dst;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char p[128];
	snprintf(f->root, sizeof(f->root), "/tmp/silo-extract-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(p, sizeof(p), "%s/dst", f->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/outside", f->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/dst", f->root);
	f->dst = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(f->dst >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int rfd = open(f->root, O_RDONLY | O_DIRECTORY);
	close(f->dst);
	sb_tree_remove(rfd, "dst");
	sb_tree_remove(rfd, "outside");
	close(rfd);
	rmdir(f->root);
	free(f);
	return 0;
}

static bool exists(struct fx *f, const char *rel, struct stat *st)
{
	char p[256];
	struct stat s;
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return lstat(p, st ? st : &s) == 0;
}

static int extract(struct fx *f, struct mem *m, struct sb_extract *x)
{
	if (!x->max_bytes)
		x->max_bytes = 1 << 30;
	return sb_extract_tar(f->dst, mem_read, m, x);
}

static void test_member_path(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(sb_member_path("./a//b/./c", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(sb_member_path(".", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sb_member_path("./", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sb_member_path("a..b/..c", out, sizeof(out)), 0);
	assert_string_equal(out, "a..b/..c");
	assert_int_equal(sb_member_path("../x", out, sizeof(out)), -1);
	assert_int_equal(sb_member_path("a/../../x", out, sizeof(out)), -1);
	assert_int_equal(sb_member_path("a/..", out, sizeof(out)), -1);
	assert_int_equal(sb_member_path("/etc/passwd", out, sizeof(out)), -1);
	assert_int_equal(
		sb_member_path(
			"x/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
			out, sizeof(out)),
		-1);
}

static void test_tree_and_drops(void **state)
{
	struct fx *f = *state;
	static struct tarw t;
	struct sb_extract x = { 0 };
	struct stat st;
	char link[256], got[256];
	tw_open(&t);
	tw_add(&t, "./", AE_IFDIR, 0750, NULL, NULL);
	tw_add(&t, "./sub/", AE_IFDIR, 0755, NULL, NULL);
	tw_add(&t, "./sub/f", AE_IFREG, 0640, "hello\n", NULL);
	tw_add(&t, "./suid", AE_IFREG, 06755, "#!/bin/sh\n", NULL);
	tw_add(&t, "./l", AE_IFLNK, 0777, NULL, "/etc");
	tw_add(&t, "./null", AE_IFCHR, 0666, NULL, NULL);
	tw_add(&t, "./fifo", AE_IFIFO, 0644, NULL, NULL);
	tw_add(&t, "./hard", AE_IFREG, 0644, NULL, "./sub/f");
	tw_add(&t, "./hard2", AE_IFREG, 0644, NULL, "./sub/f");
	struct mem m = tw_done(&t);
	assert_int_equal(extract(f, &m, &x), 0);
	assert_true(exists(f, "dst/sub/f", &st) && S_ISREG(st.st_mode) &&
		    (st.st_mode & 07777) == 0640 && st.st_size == 6);
	assert_true(exists(f, "dst/suid", &st) && (st.st_mode & 07777) == 0755);
	assert_true(exists(f, "dst/l", &st) && S_ISLNK(st.st_mode));
	snprintf(link, sizeof(link), "%s/dst/l", f->root);
	ssize_t n = readlink(link, got, sizeof(got) - 1);
	assert_int_equal(n, 4); /* copied as it is, not followed */
	assert_false(exists(f, "dst/null", NULL));
	assert_false(exists(f, "dst/fifo", NULL));
	assert_false(exists(f, "dst/hard", NULL));
	assert_int_equal(fstat(f->dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750); /* the "." member's mode */
	assert_int_equal(x.dropped[SB_DROP_MODE_BITS], 1);
	assert_int_equal(x.dropped[SB_DROP_DEVICE], 1);
	assert_int_equal(x.dropped[SB_DROP_FIFO], 1);
	assert_int_equal(x.dropped[SB_DROP_HARDLINK], 2);
}

static void refused(struct fx *f, const char *name)
{
	static struct tarw t;
	struct sb_extract x = { 0 };
	tw_open(&t);
	tw_add(&t, "./", AE_IFDIR, 0755, NULL, NULL);
	tw_add(&t, name, AE_IFREG, 0644, "evil\n", NULL);
	struct mem m = tw_done(&t);
	assert_int_equal(extract(f, &m, &x), -1);
	assert_non_null(strstr(sb_errmsg(), "unsafe member name"));
}

static void test_dotdot_and_absolute_refused(void **state)
{
	struct fx *f = *state;
	char abs[128];
	refused(f, "../outside/evil");
	refused(f, "./sub/../../outside/evil");
	snprintf(abs, sizeof(abs), "%s/outside/evil", f->root);
	refused(f, abs);
	assert_false(exists(f, "outside/evil", NULL));
}

static void test_no_write_through_symlink(void **state)
{
	struct fx *f = *state;
	static struct tarw t;
	struct sb_extract x = { 0 };
	char target[128];
	snprintf(target, sizeof(target), "%s/outside", f->root);
	tw_open(&t);
	tw_add(&t, "./l", AE_IFLNK, 0777, NULL, target);
	tw_add(&t, "./l/file", AE_IFREG, 0644, "through\n", NULL);
	struct mem m = tw_done(&t);
	assert_int_equal(extract(f, &m, &x), -1);
	assert_false(exists(f, "outside/file", NULL));
}

static void test_symlink_replaced_not_followed(void **state)
{
	struct fx *f = *state;
	static struct tarw t;
	struct sb_extract x = { 0 };
	struct stat st;
	char target[128];
	snprintf(target, sizeof(target), "%s/outside/victim", f->root);
	tw_open(&t);
	tw_add(&t, "./l", AE_IFLNK, 0777, NULL, target);
	tw_add(&t, "./l", AE_IFREG, 0644, "replaced\n", NULL);
	struct mem m = tw_done(&t);
	assert_int_equal(extract(f, &m, &x), 0);
	assert_false(exists(f, "outside/victim", NULL));
	assert_true(exists(f, "dst/l", &st) && S_ISREG(st.st_mode));
}

static void test_top_must_be_a_directory(void **state)
{
	struct fx *f = *state;
	static struct tarw t;
	struct sb_extract x = { 0 };
	tw_open(&t);
	tw_add(&t, ".", AE_IFLNK, 0777, NULL, "/etc");
	struct mem m = tw_done(&t);
	assert_int_equal(extract(f, &m, &x), -1);
	assert_non_null(strstr(sb_errmsg(), "symlink where a directory"));
}

static void test_size_caps(void **state)
{
	struct fx *f = *state;
	static struct tarw t;
	struct sb_extract x = { .max_bytes = 100 };
	tw_open(&t);
	tw_add(&t, "./a", AE_IFREG, 0644,
	       "0123456789012345678901234567890123456789"
	       "0123456789012345678901234567890123456789012345678901234567890123456789",
	       NULL);
	struct mem m = tw_done(&t);
	/* the member's size alone is over: refused before its data */
	assert_int_equal(sb_extract_tar(f->dst, mem_read, &m, &x), -1);
	assert_non_null(strstr(sb_errmsg(), "--max-size"));

	/* a header claiming 1 TiB and zeros without end: stops at the cap */
	struct archive_entry *e = archive_entry_new();
	char hdr[8192];
	size_t used;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 0);
	archive_write_open_memory(a, hdr, sizeof(hdr), &used);
	archive_entry_set_pathname(e, "./big");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 1ll << 40);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	struct mem hm = { .buf = hdr, .len = used };
	struct sb_extract y = { .max_bytes = 1 << 20 };
	assert_int_equal(sb_extract_tar(f->dst, endless_read, &hm, &y), -1);
	assert_non_null(strstr(sb_errmsg(), "--max-size"));
	assert_true(y.stream_bytes <= (1 << 20) + 65536 + sizeof(hdr));
	archive_write_free(a);
}

static void test_tree_move_merges(void **state)
{
	struct fx *f = *state;
	char p[256];
	struct stat st;
	int rfd = open(f->root, O_RDONLY | O_DIRECTORY);
	/* outside/ is the target: an existing dir with a symlink "d" to /etc */
	snprintf(p, sizeof(p), "%s/outside/keep", f->root);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/outside/d", f->root);
	assert_int_equal(symlink("/nonexistent-silo", p), 0);
	mkdirat(f->dst, "d", 0755);
	close(openat(f->dst, "d/new", O_CREAT | O_WRONLY, 0644));
	close(openat(f->dst, "top", O_CREAT | O_WRONLY, 0644));
	/* "d" is a directory in the copy, a symlink in the target: not
         * entered, not replaced by a directory (rename fails), nothing
         * written through it. */
	assert_int_equal(sb_tree_move(rfd, "dst", rfd, "outside"), -1);
	assert_false(exists(f, "nonexistent-silo", NULL));
	assert_true(exists(f, "outside/top", &st) || exists(f, "dst/top", &st));
	assert_true(exists(f, "outside/keep", NULL));
	/* remove the symlink: now the merge completes and dst is gone */
	unlink(p);
	assert_int_equal(sb_tree_move(rfd, "dst", rfd, "outside"), 0);
	assert_true(exists(f, "outside/d/new", NULL) && exists(f, "outside/keep", NULL));
	assert_false(exists(f, "dst", NULL));
	mkdirat(rfd, "dst", 0700);
	close(rfd);
}

/* A server extracts many copies at once, one per thread. archive_write_disk
 * works relative to the working directory, which threads share unless the
 * extracting thread unshares it: each copy must land in its own directory,
 * and the caller's working directory stay where it was. */
#define NTHREADS 4
#define ROUNDS	 40
struct job {
	int dirfd, failed;
	struct mem m;
	char err[256];
};

static void *extract_job(void *arg)
{
	struct job *j = arg;
	for (int r = 0; r < ROUNDS && !j->failed; r++) {
		struct sb_extract x = { .max_bytes = 1 << 20 };
		j->m.off = 0;
		if (sb_extract_tar(j->dirfd, mem_read, &j->m, &x) < 0) {
			snprintf(j->err, sizeof(j->err), "%s", sb_errmsg());
			j->failed = 1;
		}
	}
	return NULL;
}

static void test_threads_extract_into_their_own_directory(void **state)
{
	struct fx *f = *state;
	struct job job[NTHREADS];
	struct tarw *tw[NTHREADS];
	pthread_t th[NTHREADS];
	char cwd[256], after[256], name[32], data[32];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	for (int i = 0; i < NTHREADS; i++) {
		tw[i] = malloc(sizeof(*tw[i]));
		assert_non_null(tw[i]);
		tw_open(tw[i]);
		/* many members: the threads' extractions overlap */
		for (int k = 0; k < 64; k++) {
			snprintf(name, sizeof(name), "t%d-%02d", i, k);
			snprintf(data, sizeof(data), "thread %d\n", i);
			tw_add(tw[i], name, AE_IFREG, 0644, data, NULL);
		}
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(mkdirat(f->dst, name, 0700), 0);
		job[i] = (struct job){ .dirfd = openat(f->dst, name, O_RDONLY | O_DIRECTORY) };
		assert_true(job[i].dirfd >= 0);
		job[i].m = tw_done(tw[i]);
		job[i].m.chunk = 512;
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, extract_job, &job[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++) {
		if (job[i].failed)
			fail_msg("thread %d: %s", i, job[i].err);
		/* its 64 files, nobody else's */
		DIR *d = fdopendir(job[i].dirfd);
		struct dirent *e;
		int n = 0;
		assert_non_null(d);
		snprintf(name, sizeof(name), "t%d-", i);
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (strncmp(e->d_name, name, strlen(name)))
				fail_msg("t%d holds %s", i, e->d_name);
			n++;
		}
		closedir(d);
		assert_int_equal(n, 64);
		free(tw[i]);
	}
	assert_non_null(getcwd(after, sizeof(after)));
	assert_string_equal(cwd, after);
	assert_false(access("t0-00", F_OK) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_path),
		cmocka_unit_test_setup_teardown(test_tree_and_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dotdot_and_absolute_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_write_through_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_replaced_not_followed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_top_must_be_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_move_merges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_extract_into_their_own_directory,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
