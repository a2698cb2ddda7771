/* test_console.c: the console file's size cap (console.c, "capped file"),
 * driven through console_write() as the UART would, without a VM. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/console.h"
#include "vmm/console_files.h"
#include "vmm/log.h"

#define MAX 4096 /* --console-max: head 1024, segments 1536 */

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/silo-test-console-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/console.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char f[160];
	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(f, sizeof(f), i ? "%s.%d" : "%s", path, i);
		unlink(f);
	}
	return rmdir(dir);
}

static void on_event(void *opaque, enum console_event ev)
{
	(void)opaque;
	(void)ev;
}

/* Contents of path[.n] (malloc'd, *len bytes), or NULL when absent. */
static char *slurp(int n, size_t *len)
{
	char f[160];
	snprintf(f, sizeof(f), n ? "%s.%d" : "%s", path, n);
	FILE *fp = fopen(f, "rb");
	if (!fp) {
		*len = 0;
		return NULL;
	}
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	return buf;
}

/* Guest output with a recognisable position in every line. */
static char *stream(size_t n)
{
	char *d = malloc(n);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = i % 32 == 31 ? '\n' : (char)('a' + (i / 32) % 26);
	return d;
}

static struct console *open_file(uint64_t max)
{
	char spec[160];
	struct console *c;
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_int_equal(console_open(&c, spec, max, NULL, on_event, NULL), 0);
	return c;
}

static void feed(struct console *c, const char *d, size_t n, size_t chunk)
{
	for (size_t off = 0; off < n; off += chunk)
		console_write(c, (const uint8_t *)d + off, n - off < chunk ? n - off : chunk);
}

static void test_three_times_the_cap(void **state)
{
	(void)state;
	struct console *c;
	size_t n = 3 * MAX, hl, l1, l2;
	char *d = stream(n);

	c = open_file(MAX);
	feed(c, d, n, 100);
	console_close(c);

	char *head = slurp(0, &hl), *t1 = slurp(1, &l1), *t2 = slurp(2, &l2);
	assert_non_null(head);
	assert_non_null(t1);
	assert_non_null(t2);
	/* the boot: the first quarter, byte for byte */
	assert_memory_equal(head, d, MAX / 4);
	/* the end: one full segment and the current one */
	assert_int_equal(l1, 3 * MAX / 8);
	assert_int_equal(l2, (n - MAX / 4) % (3 * MAX / 8));
	assert_memory_equal(t1, d + n - l1 - l2, l1);
	assert_memory_equal(t2, d + n - l2, l2);
	/* where data was dropped, the marker says how much */
	char want[64];
	int ml = snprintf(want, sizeof(want), "\n[%zu bytes dropped]\n", n - MAX / 4 - l1 - l2);
	assert_int_equal(hl, MAX / 4 + (size_t)ml);
	assert_memory_equal(head + MAX / 4, want, (size_t)ml);
	/* and the whole set is within the budget */
	assert_true(hl + l1 + l2 <= MAX + 64);
	free(head), free(t1), free(t2), free(d);
}

static void test_flood_stays_bounded(void **state)
{
	(void)state;
	struct console *c;
	size_t n = 64 * MAX, hl, l1, l2;
	char *d = stream(n);

	c = open_file(MAX);
	/* one big write, as a UART flush of a long burst could be */
	console_write(c, (const uint8_t *)d, n);
	console_close(c);
	free(slurp(0, &hl)), free(slurp(1, &l1)), free(slurp(2, &l2));
	assert_true(hl + l1 + l2 <= MAX + 64);
	assert_int_equal(l1, 3 * MAX / 8);

	/* a second run (silo start again) continues the same set, in budget */
	c = open_file(MAX);
	feed(c, d, n, 4000);
	console_close(c);
	char *head = slurp(0, &hl);
	free(slurp(1, &l1)), free(slurp(2, &l2));
	assert_memory_equal(head, d, MAX / 4);
	assert_non_null(memmem(head, hl, " bytes dropped]\n", 16));
	assert_true(hl + l1 + l2 <= MAX + 2 * 64);
	free(head), free(d);
}

static void test_small_output_is_one_file(void **state)
{
	(void)state;
	struct console *c;
	size_t hl, l1, l2;

	c = open_file(0);
	console_write(c, (const uint8_t *)"Linux version 6\n", 16);
	console_close(c);
	char *head = slurp(0, &hl);
	assert_int_equal(hl, 16);
	assert_memory_equal(head, "Linux version 6\n", 16);
	/* the tails exist from the start (the jailed silo-vmm creates no file
	 * later), empty */
	free(slurp(1, &l1)), free(slurp(2, &l2));
	assert_int_equal(l1, 0);
	assert_int_equal(l2, 0);
	free(head);
}

/* Every rotation happens through the descriptors opened at the start: with
 * the directory made unwritable after console_open (as an empty root makes
 * every path unreachable), a flood still rotates and keeps the newest
 * bytes. */
static void test_rotation_needs_no_path(void **state)
{
	(void)state;
	struct console *c;
	size_t n = 5 * MAX, hl, l1, l2;
	char *d = stream(n), moved[160];

	c = open_file(MAX);
	/* the files keep their descriptors; their names are gone */
	snprintf(moved, sizeof(moved), "%s-gone", dir);
	assert_int_equal(rename(dir, moved), 0);
	feed(c, d, n, 100);
	console_close(c);
	assert_int_equal(rename(moved, dir), 0);
	char *t1 = slurp(1, &l1), *t2 = slurp(2, &l2);
	free(slurp(0, &hl));
	assert_int_equal(l1, 3 * MAX / 8);
	assert_memory_equal(t1, d + n - l1 - l2, l1);
	assert_memory_equal(t2, d + n - l2, l2);
	free(t1), free(t2), free(d);
}

/* Under silo the launcher opens the four files (file:fd:H,M,T1,T2): the
 * cap works the same on them, with the directory gone from the start; a
 * set with the wrong O_APPEND flags is refused before anything is written. */
static void test_launcher_descriptors_work_as_the_path(void **state)
{
	(void)state;
	struct console *c;
	int fds[CONSOLE_FILES];
	size_t n = 5 * MAX, hl, l1, l2;
	char *d = stream(n), spec[96], moved[160];

	assert_int_equal(console_files_open(path, fds, 0), 0);
	/* swapped head and marker: refused, the descriptors left alone */
	snprintf(spec, sizeof(spec), "file:fd:%d,%d,%d,%d", fds[1], fds[0], fds[2], fds[3]);
	assert_int_equal(console_open(&c, spec, MAX, NULL, on_event, NULL), -EINVAL);
	snprintf(spec, sizeof(spec), "file:fd:%d,%d,%d,%d", fds[0], fds[1], fds[2], fds[3]);
	snprintf(moved, sizeof(moved), "%s-gone", dir);
	assert_int_equal(rename(dir, moved), 0);
	assert_int_equal(console_open(&c, spec, MAX, NULL, on_event, NULL), 0);
	feed(c, d, n, 100);
	console_close(c);
	assert_int_equal(rename(moved, dir), 0);
	char *head = slurp(0, &hl), *t1 = slurp(1, &l1), *t2 = slurp(2, &l2);
	assert_memory_equal(head, d, MAX / 4);
	assert_int_equal(l1, 3 * MAX / 8);
	assert_memory_equal(t1, d + n - l1 - l2, l1);
	assert_memory_equal(t2, d + n - l2, l2);
	free(head), free(t1), free(t2), free(d);
}

/* Under silo, stderr is the console file: silo-vmm's own lines then go
 * through the cap, after the guest's bytes, not around it. */
static void test_own_lines_join_when_stderr_is_the_file(void **state)
{
	(void)state;
	struct console *c;
	size_t hl, l1, l2;
	int saved = dup(STDERR_FILENO);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	fclose(f);

	c = open_file(MAX);
	char *d = stream(3 * MAX);
	feed(c, d, 3 * MAX, 100);
	log_raw("silo-vmm: guest powered off (exit 4)\n");
	console_close(c);
	dup2(saved, STDERR_FILENO);
	close(saved);

	char *head = slurp(0, &hl), *t2 = slurp(2, &l2);
	free(slurp(1, &l1));
	assert_null(memmem(head, hl, "powered off", 11));
	assert_true(l2 > 37);
	assert_memory_equal(t2 + l2 - 37, "silo-vmm: guest powered off (exit 4)\n", 37);
	assert_true(hl + l1 + l2 <= MAX + 64);
	free(head), free(t2), free(d);
}

/* silo-vmm's stderr diagnostics (SILO_VMM_TRACE_START) and the supervisor
 * append to the same file: their lines stay whole among the guest's. */
static void test_other_appenders_keep_their_lines(void **state)
{
	(void)state;
	struct console *c;
	size_t hl;
	static const char trace[] = "silo-vmm: trace: first KVM_RUN 1234 us after start\n";

	c = open_file(MAX);
	console_write(c, (const uint8_t *)"boot 1\n", 7);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs(trace, f);
	fclose(f);
	console_write(c, (const uint8_t *)"boot 2\n", 7);
	console_close(c);
	char *head = slurp(0, &hl);
	assert_int_equal(hl, 14 + strlen(trace));
	assert_memory_equal(head, "boot 1\n", 7);
	assert_memory_equal(head + 7, trace, strlen(trace));
	assert_memory_equal(head + 7 + strlen(trace), "boot 2\n", 7);
	free(head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_three_times_the_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_stays_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_output_is_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_needs_no_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launcher_descriptors_work_as_the_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_own_lines_join_when_stderr_is_the_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_appenders_keep_their_lines, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
