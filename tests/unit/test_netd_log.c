/* test_netd_log.c: silo-netd's decision log (src/netd/log.c): escaping of
 * guest text, the reason without its verdict, the exact line format, the
 * stats file, rotation at the cap, and a decision that never waits for the
 * stats file's rewrite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netd/netd.h"

static void test_escape(void **st)
{
	(void)st;
	char out[64];

	assert_string_equal(netd_escape("github.com", out, sizeof(out)), "github.com");
	assert_string_equal(netd_escape("a b\n\x01\x7f\\", out, sizeof(out)),
			    "a\\x20b\\x0a\\x01\\x7f\\x5c");
	assert_string_equal(netd_escape("\xff", out, sizeof(out)), "\\xff");
	/* cut at a whole character, always terminated */
	assert_string_equal(netd_escape("abc\n", out, 6), "abc");
	assert_string_equal(netd_escape("abcdef", out, 4), "abc");
	assert_string_equal(netd_escape("", out, sizeof(out)), "");
}

static void test_reason_tail(void **st)
{
	(void)st;
	assert_string_equal(netd_reason_tail("allowed by rule github.com"), "by rule github.com");
	assert_string_equal(netd_reason_tail("denied by rule *.evil.test"), "by rule *.evil.test");
	assert_string_equal(netd_reason_tail("allowed: open mode"), "open mode");
	assert_string_equal(netd_reason_tail("hard-deny: loopback"), "hard-deny: loopback");
	assert_string_equal(netd_reason_tail("no rule allows it (allowlist)"),
			    "no rule allows it (allowlist)");
}

static char dir[64];
static struct netd n;
static char logp[128], statsp[128], rot[128];

static int setup(void **st)
{
	(void)st;
	strcpy(dir, "/tmp/test_netd_log.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(logp, sizeof(logp), "%s/net.log", dir);
	snprintf(statsp, sizeof(statsp), "%s/net.stats", dir);
	snprintf(rot, sizeof(rot), "%s/net.log.1", dir);
	memset(&n, 0, sizeof(n));
	n.log_path = logp;
	n.stats_path = statsp;
	n.log_max = NETD_LOG_MAX;
	pthread_mutex_init(&n.log_lock, NULL);
	pthread_mutex_init(&n.stats_io_lock, NULL);
	return netd_log_open(&n);
}

static int teardown(void **st)
{
	(void)st;
	close(n.log_fd);
	unlink(logp);
	unlink(statsp);
	unlink(rot);
	rmdir(dir);
	return 0;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t k;

	assert_non_null(f);
	k = fread(buf, 1, sizeof(buf) - 1, f);
	buf[k] = '\0';
	fclose(f);
	return buf;
}

static void test_line_and_stats(void **st)
{
	(void)st;
	netd_log_decision(&n, true, "tcp", "github.com", "140.82.112.3:443", "by rule github.com");
	netd_log_decision(&n, false, "dns", "ev il\n.test", NULL, "no rule allows it (allowlist)");
	netd_log_decision(&n, false, "tcp", NULL, "10.0.0.1:80", "hard-deny: private (RFC 1918)");
	netd_log_bad(&n, "tcp", NULL, "header cut short");

	char *text = slurp(logp), *line = text;
	const char *want[] = {
		" allowed tcp github.com 140.82.112.3:443 by rule github.com\n",
		" denied dns ev\\x20il\\x0a.test - no rule allows it (allowlist)\n",
		" denied tcp - 10.0.0.1:80 hard-deny: private (RFC 1918)\n",
		" denied tcp - - bad request: header cut short\n",
	};
	for (size_t i = 0; i < 4; i++) {
		/* 2026-12-04T12:00:00.123Z */
		assert_true(strlen(line) > 24);
		assert_int_equal(line[4], '-');
		assert_int_equal(line[10], 'T');
		assert_int_equal(line[19], '.');
		assert_int_equal(line[23], 'Z');
		assert_memory_equal(line + 24, want[i], strlen(want[i]));
		line += 24 + strlen(want[i]);
	}
	assert_string_equal(line, "");

	text = slurp(statsp);
	assert_non_null(strstr(text, "allowed=1\ndenied=3\nbad_requests=1\n"));
	struct stat sb;
	assert_int_equal(stat(statsp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", statsp);
	assert_int_equal(access(tmp, F_OK), -1);
}

static void test_rotation(void **st)
{
	(void)st;
	struct stat a, b;

	n.log_max = 1024;
	for (int i = 0; i < 100; i++)
		netd_log_decision(&n, false, "dns", "x.test", NULL,
				  "no rule allows it (allowlist)");
	assert_int_equal(stat(logp, &a), 0);
	assert_int_equal(stat(rot, &b), 0);
	assert_true(a.st_size <= 1024 && b.st_size <= 1024);
	assert_true(b.st_size > 900);
}

/* The stats thread rewrites the file; a decision only takes the counters'
 * mutex. The rewrite is made to block: its tmp file is a FIFO no one reads,
 * so open(2) waits for a reader. A decision must still return at once,
 * after a quiet period too (where the rewrite once ran on the caller's
 * thread, with the mutex held, a DNS answer waited for the file). */
static struct netd m; /* its own: the stats thread outlives the test */
static atomic_bool decided;

static void *decide(void *unused)
{
	(void)unused;
	netd_log_decision(&m, true, "dns", "a.test", NULL, "by rule a.test");
	netd_count(&m, &m.stats.dns_queries);
	netd_log_decision(&m, true, "dns", "b.test", NULL, "by rule b.test");
	atomic_store(&decided, true);
	return NULL;
}

static void test_decision_does_not_wait_for_the_stats_file(void **st)
{
	char d[64] = "/tmp/test_netd_stats.XXXXXX", lp[128], sp[128], fifo[160];
	struct timespec pause = { 0, 150 * 1000000 }, tick = { 0, 10 * 1000000 };
	pthread_t t;
	int i, rd;

	(void)st;
	signal(SIGPIPE, SIG_IGN); /* the rewrite's write, if the reader went */
	assert_non_null(mkdtemp(d));
	snprintf(lp, sizeof(lp), "%s/net.log", d);
	snprintf(sp, sizeof(sp), "%s/net.stats", d);
	snprintf(fifo, sizeof(fifo), "%s.tmp", sp);
	m.log_path = lp;
	m.stats_path = sp;
	m.log_max = NETD_LOG_MAX;
	pthread_mutex_init(&m.log_lock, NULL);
	pthread_mutex_init(&m.stats_io_lock, NULL);
	assert_int_equal(netd_log_open(&m), 0);
	assert_int_equal(netd_stats_write(&m), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(netd_stats_start(&m), 0);
	nanosleep(&pause, NULL); /* a quiet period: the next change is "at once" */

	assert_int_equal(pthread_create(&t, NULL, decide, NULL), 0);
	for (i = 0; i < 300 && !atomic_load(&decided); i++)
		nanosleep(&tick, NULL);
	bool in_time = atomic_load(&decided);
	/* a reader lets the rewrite through, whoever is blocked in it */
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	pthread_join(t, NULL);
	nanosleep(&pause, NULL);
	if (rd >= 0)
		close(rd);
	assert_true(in_time);
	char *text = slurp(lp);
	assert_non_null(strstr(text, " allowed dns b.test - by rule b.test\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_reason_tail),
		cmocka_unit_test_setup_teardown(test_line_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test(test_decision_does_not_wait_for_the_stats_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
