/* test_template.c: templates' pure parts (src/sandbox/template.c): the
 * template file (a malformed one is an error, never a crash), what a
 * sandbox made from a template must be (sb_template_apply), the config
 * keys that record it, and copying a sparse disk (src/sandbox/clone.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static const char good[] =
	"name=t1\ncpus=2\nmemory=536870912\ndisk=8589934592\n"
	"created=1700000000\ndocker=1\nnet=1\nbase_dev=2049\n"
	"base_ino=1234\nbase_size=1073741824\nbase_mtime_ns=1700000000123456789\n";

static void test_parse_good(void **state)
{
	(void)state;
	struct sb_template t;
	assert_int_equal(sb_template_parse(good, &t), 0);
	assert_string_equal(t.name, "t1");
	assert_int_equal(t.cpus, 2);
	assert_int_equal(t.memory, 512ull << 20);
	assert_int_equal(t.disk, 8ull << 30);
	assert_int_equal(t.created, 1700000000);
	assert_false(t.no_docker);
	assert_true(t.net);
	assert_int_equal(t.base.dev, 2049);
	assert_int_equal(t.base.ino, 1234);
	assert_int_equal(t.base.size, 1ull << 30);
	assert_int_equal(t.base.mtime_ns, 1700000000123456789ll);
}

static void test_format_round_trip(void **state)
{
	(void)state;
	struct sb_template t, u;
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(sb_template_parse(good, &t), 0);
	t.no_docker = true;
	t.net = false;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(sb_template_format(&t, f), 0);
	fclose(f);
	assert_int_equal(sb_template_parse(text, &u), 0);
	assert_memory_equal(&t, &u, sizeof(t));
	free(text);
}

/* --agent's templates say which agent and version; optional, checked. */
static void test_agent_key(void **state)
{
	(void)state;
	struct sb_template t, u;
	char text[1024], *out = NULL;
	size_t len = 0;
	assert_int_equal(sb_template_parse(good, &t), 0);
	assert_string_equal(t.agent, "");
	snprintf(text, sizeof(text), "%sagent=claude 2.1.332\n", good);
	assert_int_equal(sb_template_parse(text, &t), 0);
	assert_string_equal(t.agent, "claude 2.1.332");
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(sb_template_format(&t, f), 0);
	fclose(f);
	assert_non_null(strstr(out, "agent=claude 2.1.332\n"));
	assert_int_equal(sb_template_parse(out, &u), 0);
	assert_memory_equal(&t, &u, sizeof(t));
	free(out);
	/* what `template ls` prints as it is: no control bytes, no spaces run wild */
	snprintf(text, sizeof(text), "%sagent=claude\x1b[2J\n", good);
	assert_int_equal(sb_template_parse(text, &t), -1);
	snprintf(text, sizeof(text), "%sagent=%0100d\n", good, 7);
	assert_int_equal(sb_template_parse(text, &t), -1);
}

/* A newer silo's keys and comments are skipped. */
static void test_unknown_keys_ignored(void **state)
{
	(void)state;
	struct sb_template t;
	char text[1024];
	snprintf(text, sizeof(text), "# made by silo\n\nfuture=whatever\n%szram=1\n", good);
	assert_int_equal(sb_template_parse(text, &t), 0);
}

/* The good file with one line replaced (or, repl NULL, left out). */
static int parse_with(const char *key, const char *repl)
{
	char text[1024] = "", line[256];
	const char *p = good;
	struct sb_template t;
	while (*p) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		p += n + 1;
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == '=') {
			if (repl)
				snprintf(line, sizeof(line), "%s", repl);
			else
				continue;
		}
		strcat(text, line);
		strcat(text, "\n");
	}
	return sb_template_parse(text, &t);
}

static void test_every_key_required(void **state)
{
	(void)state;
	static const char *const keys[] = { "name",	"cpus",	     "memory",	     "disk",
					    "created",	"docker",    "net",	     "base_dev",
					    "base_ino", "base_size", "base_mtime_ns" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(parse_with(keys[i], NULL), -1);
	assert_non_null(strstr(sb_errmsg(), "incomplete"));
}

static void test_bad_values(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "cpus", "cpus=0" },
		{ "cpus", "cpus=33" },
		{ "cpus", "cpus=-1" },
		{ "cpus", "cpus=2x" },
		{ "cpus", "cpus=" },
		{ "memory", "memory=1000" },	  /* below the minimum */
		{ "memory", "memory=536870913" }, /* not whole MiB */
		{ "memory", "memory=99999999999999999999999" },
		{ "disk", "disk=4096" },
		{ "docker", "docker=2" },
		{ "net", "net=yes" },
		{ "created", "created=18446744073709551615" }, /* > INT64_MAX */
		{ "base_mtime_ns", "base_mtime_ns=-5" },
		{ "name", "name=../etc" },
		{ "name", "name=" },
		{ "name", "name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_with(bad[i][0], bad[i][1]), -1);
}

static void test_long_line(void **state)
{
	(void)state;
	char text[2048];
	struct sb_template t;
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	assert_int_equal(sb_template_parse(text, &t), -1);
	assert_int_equal(sb_template_parse("", &t), -1);
	assert_int_equal(sb_template_parse("\n\n", &t), -1);
}

/* Every truncation and every flipped bit of a good file: 0 or -1, and a
 * file that parses still satisfies the invariants (never a crash). */
static void test_truncated_and_flipped(void **state)
{
	(void)state;
	size_t len = strlen(good);
	char buf[sizeof(good)];
	struct sb_template t;
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(buf, good, cut);
		buf[cut] = 0;
		/* cut inside the last value still parses (a shorter number) */
		int r = sb_template_parse(buf, &t);
		assert_true(r == 0 || r == -1);
		if (cut < len - 25)
			assert_int_equal(r, -1);
	}
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(buf, good, len + 1);
			buf[i] ^= (char)(1 << b);
			if (!buf[i])
				continue;
			if (sb_template_parse(buf, &t) == 0) {
				assert_true(t.cpus >= 1 && t.cpus <= 32);
				assert_true(sb_name_valid(t.name));
				assert_true(t.memory >= SB_MIN_MEMORY && t.memory % (1 << 20) == 0);
			}
		}
}

static void tmpl(struct sb_template *t)
{
	assert_int_equal(sb_template_parse(good, t), 0);
}

static void test_apply_takes_the_templates(void **state)
{
	(void)state;
	struct sb_template t;
	struct sb_config c;
	tmpl(&t);
	sb_config_init(&c);
	c.policy = strdup("mode allowlist\n");
	assert_int_equal(sb_template_apply(&t, 0, &c), 0);
	assert_int_equal(c.cpus, 2);
	assert_int_equal(c.memory, 512ull << 20);
	assert_int_equal(c.disk, 8ull << 30);
	assert_false(c.no_docker);
	assert_string_equal(c.template, "t1");
	assert_non_null(c.policy);
	sb_config_free(&c);

	/* the same values given: fine */
	sb_config_init(&c);
	c.cpus = 2;
	c.memory = 512ull << 20;
	c.policy = strdup("mode allowlist\n");
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_CPUS | SB_GIVEN_MEMORY, &c), 0);
	sb_config_free(&c);
}

static void test_apply_mismatch(void **state)
{
	(void)state;
	struct sb_template t;
	struct sb_config c;
	tmpl(&t);

	sb_config_init(&c); /* 1 GiB: not the template's 512M */
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_MEMORY, &c), -1);
	assert_non_null(strstr(sb_errmsg(), "--memory 512M"));
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_CPUS, &c), -1);
	assert_non_null(strstr(sb_errmsg(), "--cpus 2"));
	c.disk = 4ull << 30;
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_DISK, &c), -1);
	assert_non_null(strstr(sb_errmsg(), "--disk 8G"));
	/* --network none (no policy) for a template with a network */
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_NET, &c), -1);
	c.no_docker = true;
	assert_int_equal(sb_template_apply(&t, 0, &c), -1);
	assert_non_null(strstr(sb_errmsg(), "--no-docker"));
	sb_config_free(&c);

	/* a template without Docker or network */
	t.no_docker = true;
	t.net = false;
	sb_config_init(&c);
	c.wait_docker = true;
	assert_int_equal(sb_template_apply(&t, 0, &c), -1);
	c.wait_docker = false;
	c.policy = strdup("mode open\n");
	assert_int_equal(sb_template_apply(&t, SB_GIVEN_NET, &c), -1);
	/* the default policy (no flag) is dropped: no network, as built */
	assert_int_equal(sb_template_apply(&t, 0, &c), 0);
	assert_null(c.policy);
	assert_true(c.no_docker);
	assert_int_equal(sb_config_add_publish(&c, "8080:80"), 0);
	assert_int_equal(sb_template_apply(&t, 0, &c), -1);
	assert_non_null(strstr(sb_errmsg(), "-p needs a network"));
	sb_config_free(&c);
}

static void test_config_records_template(void **state)
{
	(void)state;
	struct sb_config c, d;
	char *text = NULL;
	size_t len = 0;
	sb_config_init(&c);
	snprintf(c.name, sizeof(c.name), "box");
	snprintf(c.template, sizeof(c.template), "t1");
	c.restore_pending = true;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(sb_config_format(&c, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "template=t1\nrestore=1\n"));
	assert_int_equal(sb_config_parse(text, &d), 0);
	assert_string_equal(d.template, "t1");
	assert_true(d.restore_pending);
	sb_config_free(&d);
	free(text);
	assert_int_equal(sb_config_parse("name=box\ntemplate=../x\n", &d), -1);
	assert_int_equal(sb_config_parse("name=box\nrestore=2\n", &d), -1);
	/* a sandbox from before templates: none */
	assert_int_equal(sb_config_parse("name=box\n", &d), 0);
	assert_string_equal(d.template, "");
	assert_false(d.restore_pending);
	sb_config_free(&d);
}

/* A 64 MiB file with data at 0 and at 40 MiB: the copy has the same bytes
 * and (where no reflink shares them) allocates only the data. */
static void test_clone_sparse(void **state)
{
	(void)state;
	char dir[] = "/tmp/silo-clone-XXXXXX", src[128], dst[128];
	char a[8192], b[8192];
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	int fd = open(src, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	memset(a, 'x', sizeof(a));
	assert_int_equal(pwrite(fd, a, sizeof(a), 0), sizeof(a));
	assert_int_equal(pwrite(fd, a, sizeof(a), 40 << 20), sizeof(a));
	assert_int_equal(ftruncate(fd, 64 << 20), 0);
	close(fd);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(sb_clone_file(src, dfd, "dst"), 0);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_blocks * 512 < (4 << 20));
	fd = open(dst, O_RDONLY);
	assert_int_equal(pread(fd, b, sizeof(b), 40 << 20), sizeof(b));
	assert_memory_equal(a, b, sizeof(b));
	assert_int_equal(pread(fd, b, sizeof(b), 20 << 20), sizeof(b));
	memset(a, 0, sizeof(a));
	assert_memory_equal(a, b, sizeof(b));
	close(fd);
	/* never over an existing file, nor from a missing one */
	assert_int_equal(sb_clone_file(src, dfd, "dst"), -1);
	assert_int_equal(sb_clone_file("/nonexistent/x", dfd, "dst2"), -1);
	assert_int_equal(faccessat(dfd, "dst2", F_OK, 0), -1);
	close(dfd);
	unlink(src);
	unlink(dst);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_agent_key),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_every_key_required),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_truncated_and_flipped),
		cmocka_unit_test(test_apply_takes_the_templates),
		cmocka_unit_test(test_apply_mismatch),
		cmocka_unit_test(test_config_records_template),
		cmocka_unit_test(test_clone_sparse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
