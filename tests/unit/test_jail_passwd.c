/* test_jail_passwd.c: the dedicated uid's lookup of silo-vmm's jail
 * (src/vmm/jail/maker.c): /etc/passwd text read without libc, since the
 * task that reads it shares silo-vmm's thread state. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <cmocka.h>

#include "vmm/jail/maker.h"

/* 1 and the ids when TEXT names silo-vmm; the ids stay 7/7 otherwise */
static int look(const char *text, uid_t *uid, gid_t *gid)
{
	*uid = 7;
	*gid = 7;
	return jail_passwd_ids(text, strlen(text), uid, gid);
}

static void finds_the_line_among_others(void **state)
{
	uid_t u;
	gid_t g;

	(void)state;
	assert_int_equal(look("root:x:0:0:root:/root:/bin/bash\n"
			      "silo-vmm:x:998:997:silo VM monitor:/nonexistent:/usr/sbin/nologin\n"
			      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			      &u, &g),
			 1);
	assert_int_equal(u, 998);
	assert_int_equal(g, 997);
	/* the last line without its newline, an empty password field */
	assert_int_equal(look("root:x:0:0::/:/bin/sh\nsilo-vmm::12:34:::", &u, &g), 1);
	assert_int_equal(u, 12);
	assert_int_equal(g, 34);
}

static void other_names_and_bad_lines_do_not_count(void **state)
{
	uid_t u;
	gid_t g;

	(void)state;
	static const char *const none[] = {
		"",
		"root:x:0:0:root:/root:/bin/bash\n",
		"silo-vmmx:x:5:5::/:/bin/sh\n",	 /* a longer name */
		"xsilo-vmm:x:5:5::/:/bin/sh\n",	 /* not at the line's start */
		"silo-vmm\n",			 /* no fields */
		"silo-vmm:x:5\n",		 /* no gid */
		"silo-vmm:x::5::/:/bin/sh\n",	 /* an empty uid */
		"silo-vmm:x:5a:5::/:/bin/sh\n",	 /* not a number */
		"silo-vmm:x:-5:5::/:/bin/sh\n",	 /* negative */
		"silo-vmm:x:4294967295:5::/:\n", /* (uid_t)-1: "no change" to setresuid */
		"silo-vmm:x:99999999999:5::/:\n",
		"silo-vmm:x:5:5\n", /* the line ends at the gid */
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		assert_int_equal(look(none[i], &u, &g), 0);
		assert_int_equal(u, 7);
		assert_int_equal(g, 7);
	}
	/* a bad line is skipped, a good one after it still found */
	assert_int_equal(look("silo-vmm:x:5a:5::/:\nsilo-vmm:x:4294967294:3::/:\n", &u, &g), 1);
	assert_int_equal(u, 4294967294u);
	assert_int_equal(g, 3);
}

static void reads_no_further_than_len(void **state)
{
	const char text[] = "a:x:1:1::/:\nsilo-vmm:x:5:6::/:\n";
	uid_t u = 7;
	gid_t g = 7;

	(void)state;
	/* cut inside the silo-vmm line: its name alone is not a match */
	assert_int_equal(jail_passwd_ids(text, strlen("a:x:1:1::/:\nsilo-vmm:x:5"), &u, &g), 0);
	assert_int_equal(u, 7);
}

/* A file of FILLER bytes of "a:x:1:1::/:" lines (the last one padded to
 * land exactly), then TAIL; its path. */
static const char *passwd_file(size_t filler, const char *tail)
{
	static char path[] = "/tmp/test_jail_passwd.XXXXXX";
	int fd;
	FILE *f;

	strcpy(path + strlen(path) - 6, "XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	while (filler >= 24) {
		fprintf(f, "a:x:1:1::/:%12s\n", "");
		filler -= 24;
	}
	if (filler)
		fprintf(f, "%.*s\n", (int)filler - 1, "b:x:1:1::/:bbbbbbbbbbbbbbbbbbbbbbb");
	fputs(tail, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void reads_the_file_in_chunks(void **state)
{
	static const char line[] = "silo-vmm:x:5:6::/:\n";
	char *longline = malloc(40000);
	const char *p;
	uid_t u;
	gid_t g;

	(void)state;
	/* the line across the reader's 16 KiB chunks, at each offset near it */
	for (size_t at = 16384 - sizeof(line); at <= 16384 + 1; at++) {
		u = g = 7;
		p = passwd_file(at, line);
		assert_int_equal(jail_passwd_file_ids(p, &u, &g), 1);
		assert_int_equal(u, 5);
		assert_int_equal(g, 6);
		unlink(p);
	}
	/* after a line longer than a chunk, and one that looks like ours
	 * inside it, where a chunk starts, is not a line's start */
	assert_non_null(longline);
	memset(longline, 'x', 39998);
	memcpy(longline + 20000, "\nxx", 3); /* ends the long line at 20000 */
	memcpy(longline + 16384, "silo-vmm:x:8:8::/:", 18);
	longline[39998] = '\n';
	longline[39999] = 0;
	p = passwd_file(0, longline);
	assert_int_equal(jail_passwd_file_ids(p, &u, &g), 0);
	unlink(p);
	memcpy(longline + 20001, "silo-vmm:x:9:10::/:\n", 20);
	p = passwd_file(0, longline);
	assert_int_equal(jail_passwd_file_ids(p, &u, &g), 1);
	assert_int_equal(u, 9);
	assert_int_equal(g, 10);
	unlink(p);
	/* none there, or no file */
	p = passwd_file(50000, "");
	u = g = 7;
	assert_int_equal(jail_passwd_file_ids(p, &u, &g), 0);
	assert_int_equal(u, 7);
	unlink(p);
	assert_int_equal(jail_passwd_file_ids("/nonexistent/passwd", &u, &g), 0);
	free(longline);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_the_line_among_others),
		cmocka_unit_test(other_names_and_bad_lines_do_not_count),
		cmocka_unit_test(reads_no_further_than_len),
		cmocka_unit_test(reads_the_file_in_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
