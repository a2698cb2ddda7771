/* test_cli_parse.c: the pure parts of the sandbox library: sizes, names,
 * config and exit-record formats, workspace listing comparison. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/policy.h"
#include "sandbox/sandbox.h"

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "1", 1 },	      { "512M", 512ull << 20 }, { "1G", 1ull << 30 },
		{ "8g", 8ull << 30 }, { "2GiB", 2ull << 30 },	{ "3GB", 3ull << 30 },
		{ "4k", 4096 },	      { "1T", 1ull << 40 },	{ "1073741824", 1ull << 30 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(sb_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	static const char *const bad[] = { "",
					   "G",
					   "-1G",
					   "1.5G",
					   "12X",
					   "0",
					   "0G",
					   "1GG",
					   "99999999999999999999",
					   "17179869184T",
					   " 1G",
					   "1G " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sb_parse_size(bad[i], &v), -1);
		assert_non_null(strstr(sb_errmsg(), "invalid size"));
	}
	assert_int_equal(sb_parse_size(NULL, &v), -1);
	char buf[32];
	assert_string_equal(sb_format_size(8ull << 30, buf, sizeof(buf)), "8G");
	assert_string_equal(sb_format_size(1536ull << 20, buf, sizeof(buf)), "1536M");
	assert_string_equal(sb_format_size(1000, buf, sizeof(buf)), "1000");
}

static void test_names(void **state)
{
	(void)state;
	char long63[64], long64[65];
	memset(long63, 'a', 63), long63[63] = 0;
	memset(long64, 'a', 64), long64[64] = 0;
	assert_true(sb_name_valid("a"));
	assert_true(sb_name_valid("My_box.1-2"));
	assert_true(sb_name_valid("0day"));
	assert_true(sb_name_valid(long63));
	assert_false(sb_name_valid(long64));
	assert_false(sb_name_valid(""));
	assert_false(sb_name_valid("-x"));
	assert_false(sb_name_valid(".x"));
	assert_false(sb_name_valid("_x"));
	assert_false(sb_name_valid("a b"));
	assert_false(sb_name_valid("a/b"));
	assert_false(sb_name_valid("a:b"));
	assert_false(sb_name_valid(".."));
}

static void test_config_roundtrip(void **state)
{
	(void)state;
	struct sb_config c, d;
	sb_config_init(&c);
	snprintf(c.name, sizeof(c.name), "box");
	c.cpus = 4;
	c.memory = 2ull << 30;
	c.disk = 20ull << 30;
	c.created = 1700000000;
	snprintf(c.workspace, sizeof(c.workspace), "/home/u/proj=x");
	c.workspace_pending = true;
	c.no_docker = true;
	assert_int_equal(sb_config_add_env(&c, "A=1"), 0);
	assert_int_equal(sb_config_add_env(&c, "B=x=y"), 0);
	assert_int_equal(sb_config_add_env(&c, "=v"), -1);
	assert_int_equal(sb_config_add_env(&c, "novalue"), -1);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(sb_config_format(&c, f), 0);
	fclose(f);
	assert_int_equal(sb_config_parse(text, &d), 0);
	assert_string_equal(d.name, "box");
	assert_int_equal(d.cpus, 4);
	assert_true(d.memory == 2ull << 30 && d.disk == 20ull << 30 && d.created == 1700000000);
	assert_string_equal(d.workspace, "/home/u/proj=x");
	assert_true(d.workspace_pending);
	assert_true(d.no_docker);
	assert_int_equal(d.nenv, 2);
	assert_string_equal(d.env[1], "B=x=y");
	assert_null(d.env[2]);
	sb_config_free(&d);
	sb_config_free(&c);
	free(text);

	/* unknown keys are ignored; bad values and a missing name fail */
	assert_int_equal(sb_config_parse("name=a\nfuture=1\n# c\n\n", &d), 0);
	assert_int_equal(d.cpus, 1);
	assert_false(d.no_docker); /* configs from before --no-docker */
	sb_config_free(&d);
	assert_int_equal(sb_config_parse("name=a\ndocker=1\n", &d), 0);
	assert_false(d.no_docker);
	sb_config_free(&d);
	assert_int_equal(sb_config_parse("name=a\ndocker=no\n", &d), -1);
	assert_int_equal(sb_config_parse("cpus=2\n", &d), -1);
	assert_int_equal(sb_config_parse("name=a\ncpus=0\n", &d), -1);
	assert_int_equal(sb_config_parse("name=a\ncpus=x\n", &d), -1);
	assert_int_equal(sb_config_parse("name=a\nmemory=1024\n", &d), -1);
	assert_int_equal(sb_config_parse("name=a b\n", &d), -1);
	assert_int_equal(sb_config_parse("name=a\nnoequals\n", &d), -1);
}

/* -p specs: stored in canonical form, kept across a config round trip, a
 * host port used twice refused; the default policy's preset all parses. */
static void test_config_publish_and_preset(void **state)
{
	(void)state;
	struct sb_config c, d;
	sb_config_init(&c);
	snprintf(c.name, sizeof(c.name), "web");
	assert_int_equal(sb_config_add_publish(&c, "8080:80"), 0);
	assert_int_equal(sb_config_add_publish(&c, "0.0.0.0:8443:443"), 0);
	assert_int_equal(sb_config_add_publish(&c, "[::1]:9000:9000"), 0);
	assert_int_equal(sb_config_add_publish(&c, "8080:81"), -1); /* host port taken */
	assert_int_equal(sb_config_add_publish(&c, "70000:80"), -1);
	assert_int_equal(sb_config_add_publish(&c, "8080"), -1);
	assert_int_equal(sb_config_add_publish(&c, "1.2.3:1:1"), -1);
	assert_int_equal(c.npublish, 3);
	assert_string_equal(c.publish[0], "127.0.0.1:8080:80");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(sb_config_format(&c, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "publish=127.0.0.1:8080:80\npublish=0.0.0.0:8443:443\n"));
	assert_int_equal(sb_config_parse(text, &d), 0);
	assert_int_equal(d.npublish, 3);
	assert_string_equal(d.publish[2], "[::1]:9000:9000");
	assert_null(d.publish[3]);
	sb_config_free(&d);
	sb_config_free(&c);
	free(text);
	assert_int_equal(sb_config_parse("name=a\npublish=8080\n", &d), -1);

	size_t n = 0;
	for (; sb_net_preset[n]; n++) {
		struct net_rule r;
		const char *why = NULL;
		if (net_rule_parse(sb_net_preset[n], NET_ALLOW, &r, &why) != 0)
			fail_msg("preset rule '%s': %s", sb_net_preset[n], why);
	}
	assert_true(n >= 10);
}

static void test_exit_record(void **state)
{
	(void)state;
	struct sb_exit x;
	assert_int_equal(sb_exit_parse("code=-1\nsignal=9\nreason=killed by signal 9\n", &x), 0);
	assert_int_equal(x.signal, 9);
	assert_string_equal(x.reason, "killed by signal 9");
	assert_int_equal(
		sb_exit_parse("code=0\nsignal=0\nreason=guest reset (i8042) (exit 0)\n", &x), 0);
	assert_int_equal(x.code, 0);
	assert_string_equal(x.reason, "guest reset (i8042) (exit 0)");
	assert_int_equal(sb_exit_parse("code=5\n", &x), 0);
	assert_string_equal(x.reason, "exit code 5");
	assert_int_equal(sb_exit_parse("", &x), -1);
	assert_int_equal(sb_exit_parse("garbage", &x), -1);
}

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static void test_manifest_diff(void **state)
{
	(void)state;
	const char *before = "M f 644 ./keep\nM f 644 ./change\nM f 644 ./gone\nM d 755 ./dir\n"
			     "M f 755 ./mode\nM l 777 ./link\nL ./link\tkeep\n" H1 "  ./keep\n" H1
			     "  ./change\n" H1 "  ./gone\n" H1 "  ./mode\n";
	const char *after =
		"M f 644 ./keep\nM f 644 ./change\nM d 755 ./dir\nM f 644 ./dir/new\n"
		"M f 700 ./mode\nM l 777 ./link\nL ./link\tchange\nM f 600 ./with space\n" H1
		"  ./keep\n" H2 "  ./change\n" H1 "  ./dir/new\n" H1 "  ./mode\n" H1
		"  ./with space\n";
	char *out;
	assert_int_equal(sb_manifest_diff(before, strlen(before), after, strlen(after), &out), 0);
	assert_string_equal(out, "C /workspace/change\n"
				 "A /workspace/dir/new\n"
				 "D /workspace/gone\n"
				 "C /workspace/link\n"
				 "C /workspace/mode\n"
				 "A /workspace/with space\n");
	free(out);
	assert_int_equal(sb_manifest_diff(after, strlen(after), after, strlen(after), &out), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(sb_manifest_diff("", 0, "M d 755 ./d\n", 12, &out), 0);
	assert_string_equal(out, "A /workspace/d\n");
	free(out);
}

/* Each thread has its own error message (issue 21: a server calls the
 * library from many threads): two threads fail at once, in lock step, and
 * each reads back its own line, not the other's. */
static pthread_barrier_t lockstep;

static void *fail_and_read(void *arg)
{
	const char *mine = arg;
	sb_fail("sandbox %s: no such sandbox", mine);
	pthread_barrier_wait(&lockstep); /* both have failed */
	char *got = strdup(sb_errmsg());
	pthread_barrier_wait(&lockstep);
	return got;
}

static void test_errors_are_per_thread(void **state)
{
	(void)state;
	pthread_t t[2];
	char *names[2] = { "a", "b" }, *got;
	char want[64];

	pthread_barrier_init(&lockstep, NULL, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fail_and_read, names[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], (void **)&got), 0);
		snprintf(want, sizeof(want), "sandbox %s: no such sandbox", names[i]);
		assert_string_equal(got, want);
		free(got);
	}
	pthread_barrier_destroy(&lockstep);
}

/* Cancel and the status line are the caller's, per sandbox handle: one
 * request's Ctrl-C (or a client gone) leaves another's start alone. */
static void test_cancel_is_per_handle(void **state)
{
	(void)state;
	volatile sig_atomic_t stop_a = 0;
	struct sb_progress line;
	struct sb_opts a = { .cancel = &stop_a, .progress = &line }, b = { 0 };
	struct sb_paths paths = { .boot_timeout = 120 };
	struct sandbox sa = { .opts = &a, .paths = &paths }, sb = { .opts = &b, .paths = &paths },
		       none = { .opts = NULL, .paths = &paths };

	assert_false(sb_cancelled(&sa));
	stop_a = 1;
	assert_true(sb_cancelled(&sa));
	assert_false(sb_cancelled(&sb));
	assert_false(sb_cancelled(&none));
	assert_ptr_equal(sb_status_line(&sa), &line);
	assert_null(sb_status_line(&sb));
	assert_null(sb_status_line(&none));
	/* a request's own boot timeout, else the process's */
	a.boot_timeout = 9;
	assert_int_equal(sb_boot_timeout(&sa), 9);
	assert_int_equal(sb_boot_timeout(&sb), 120);
	assert_int_equal(sb_boot_timeout(&none), 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_roundtrip),
		cmocka_unit_test(test_config_publish_and_preset),
		cmocka_unit_test(test_exit_record),
		cmocka_unit_test(test_manifest_diff),
		cmocka_unit_test(test_errors_are_per_thread),
		cmocka_unit_test(test_cancel_is_per_handle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
