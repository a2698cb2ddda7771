/* test_cgroup.c: a sandbox's cgroup (src/sandbox/cgroup.c): the limits its
 * flags give, parsing /proc/self/cgroup, cgroup.controllers and
 * memory.events, and the files written into a group. A temporary
 * directory with the files a cgroup would have stands in for cgroupfs; what
 * the kernel does with them is tested in the lab (tests/e2e/test_cgroup.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

static void test_limits_follow_the_flags(void **state)
{
	struct sb_config c;
	struct sb_cg_limits l;
	(void)state;
	sb_config_init(&c);
	c.memory = 1ull << 30;
	c.cpus = 2;
	sb_cg_limits(&c, true, &l);
	assert_int_equal(l.memory_max,
			 (1ull << 30) + SB_CG_VMM_OVERHEAD + (1ull << 30) / SB_CG_MARGIN_DIV);
	assert_int_equal(l.cpu_quota, 200000);
	assert_int_equal(l.cpu_period, 100000);
	assert_int_equal(l.pids_max, 2 + SB_CG_VMM_TASKS + SB_CG_NETD_TASKS);
	assert_int_equal(l.io_weight, 100);
	/* no network: no broker's threads */
	c.memory = 256ull << 20;
	c.cpus = 1;
	sb_cg_limits(&c, false, &l);
	assert_int_equal(l.memory_max, (256ull << 20) + SB_CG_VMM_OVERHEAD + (16ull << 20));
	assert_int_equal(l.cpu_quota, 100000);
	assert_int_equal(l.pids_max, 1 + SB_CG_VMM_TASKS);
	sb_config_free(&c);
}

static void test_parse_self(void **state)
{
	char p[64];
	(void)state;
	assert_int_equal(
		sb_cg_parse_self("0::/user.slice/user-1000.slice/session-2.scope\n", p, sizeof(p)),
		0);
	assert_string_equal(p, "/user.slice/user-1000.slice/session-2.scope");
	/* hybrid: v1 lines first, the unified line last */
	assert_int_equal(sb_cg_parse_self("12:pids:/x\n1:name=systemd:/x\n0::/\n", p, sizeof(p)),
			 0);
	assert_string_equal(p, "/");
	/* without a trailing newline */
	assert_int_equal(sb_cg_parse_self("0::/a/b", p, sizeof(p)), 0);
	assert_string_equal(p, "/a/b");
	/* cgroup v1 only, an empty file, a path that does not fit */
	assert_int_equal(sb_cg_parse_self("4:memory:/x\n1:cpu:/\n", p, sizeof(p)), -1);
	assert_int_equal(sb_cg_parse_self("", p, sizeof(p)), -1);
	assert_int_equal(sb_cg_parse_self("0::/abcdefgh\n", p, 5), -1);
	/* "10::" is not "0::" */
	assert_int_equal(sb_cg_parse_self("10::/x\n", p, sizeof(p)), -1);
}

static void test_parse_controllers(void **state)
{
	char names[64];
	(void)state;
	assert_int_equal(sb_cg_parse_controllers("cpuset cpu io memory hugetlb pids rdma misc\n"),
			 SB_CG_ALL);
	assert_int_equal(sb_cg_parse_controllers("memory pids"), SB_CG_MEMORY | SB_CG_PIDS);
	assert_int_equal(sb_cg_parse_controllers("cpuset iox xio memoryx\n"), 0);
	assert_int_equal(sb_cg_parse_controllers(""), 0);
	assert_string_equal(sb_cg_names(SB_CG_ALL, names, sizeof(names)), "memory, cpu, pids, io");
	assert_string_equal(sb_cg_names(SB_CG_CPU | SB_CG_IO, names, sizeof(names)), "cpu, io");
	assert_string_equal(sb_cg_names(0, names, sizeof(names)), "");
}

static void test_parse_key(void **state)
{
	const char *ev = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\noom_group_kill 1\n";
	(void)state;
	assert_int_equal(sb_cg_parse_key(ev, "oom_kill"), 2);
	assert_int_equal(sb_cg_parse_key(ev, "oom"), 1);
	assert_int_equal(sb_cg_parse_key(ev, "max"), 12);
	assert_int_equal(sb_cg_parse_key(ev, "oom_k"), -1);
	assert_int_equal(sb_cg_parse_key("", "oom_kill"), -1);
}

static void test_group_name(void **state)
{
	char a[SB_NAME_MAX + 16], b[SB_NAME_MAX + 16], c[SB_NAME_MAX + 16];
	(void)state;
	assert_int_equal(sb_cg_group_name("box", "/d1/sandboxes/box", a, sizeof(a)), 0);
	assert_int_equal(sb_cg_group_name("box", "/d1/sandboxes/box", b, sizeof(b)), 0);
	assert_int_equal(sb_cg_group_name("box", "/d2/sandboxes/box", c, sizeof(c)), 0);
	/* stable for one sandbox, another for the same name elsewhere */
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), strlen("box-") + 12);
	assert_memory_equal(a, "box-", 4);
	assert_int_equal(sb_cg_group_name("box", "/d", a, 10), -1);
}

/* A stand-in cgroup directory under a temporary root. */
struct fake {
	char dir[64];
	int fd;
};

static void fake_file(struct fake *f, const char *name, const char *text)
{
	int fd = openat(f->fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static const char *fake_read(struct fake *f, const char *name)
{
	static char buf[256];
	int fd = openat(f->fd, name, O_RDONLY);
	ssize_t n;
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = 0;
	close(fd);
	return buf;
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_cgroup.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	*state = f;
	return f->fd < 0 ? -1 : 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	char cmd[128];
	close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Only what cgroup.controllers offers, one "+name" write each, none for
 * what is on already; nothing at all without cgroup.controllers. */
static void test_enable(void **state)
{
	struct fake *f = *state;
	assert_int_equal(sb_cg_enable(f->fd, SB_CG_ALL), 0);
	fake_file(f, "cgroup.controllers", "cpuset cpu memory pids\n");
	fake_file(f, "cgroup.subtree_control", "");
	assert_int_equal(sb_cg_enable(f->fd, SB_CG_ALL), SB_CG_MEMORY | SB_CG_CPU | SB_CG_PIDS);
	assert_string_equal(fake_read(f, "cgroup.subtree_control"), "+memory+cpu+pids");
	fake_file(f, "cgroup.subtree_control", "cpu memory pids\n");
	assert_int_equal(sb_cg_enable(f->fd, SB_CG_MEMORY | SB_CG_PIDS), SB_CG_MEMORY | SB_CG_PIDS);
	assert_string_equal(fake_read(f, "cgroup.subtree_control"), "cpu memory pids\n");
	/* on already, but not asked for: not counted */
	assert_int_equal(sb_cg_enable(f->fd, SB_CG_IO | SB_CG_CPU), SB_CG_CPU);
}

static void test_write_limits(void **state)
{
	struct fake *f = *state;
	struct sb_cg_limits l = { .memory_max = 1234567ull << 10,
				  .cpu_quota = 300000,
				  .cpu_period = 100000,
				  .pids_max = 42,
				  .io_weight = 100 };
	/* no controller on: no file, nothing written, nothing created */
	assert_int_equal(sb_cg_write_limits(f->fd, &l), 0);
	assert_int_equal(faccessat(f->fd, "memory.max", F_OK, 0), -1);
	fake_file(f, "memory.max", "");
	fake_file(f, "memory.swap.max", "");
	fake_file(f, "memory.oom.group", "");
	fake_file(f, "cpu.max", "");
	fake_file(f, "pids.max", "");
	assert_int_equal(sb_cg_write_limits(f->fd, &l), SB_CG_MEMORY | SB_CG_CPU | SB_CG_PIDS);
	assert_string_equal(fake_read(f, "memory.max"), "1264196608");
	assert_string_equal(fake_read(f, "memory.swap.max"), "0");
	assert_string_equal(fake_read(f, "memory.oom.group"), "1");
	assert_string_equal(fake_read(f, "cpu.max"), "300000 100000");
	assert_string_equal(fake_read(f, "pids.max"), "42");
	assert_int_equal(faccessat(f->fd, "io.weight", F_OK, 0), -1);
	fake_file(f, "io.weight", "");
	assert_int_equal(sb_cg_write_limits(f->fd, &l), SB_CG_ALL);
	assert_string_equal(fake_read(f, "io.weight"), "default 100");
}

/* The supervisor's side: the child writes "0" (itself) into cgroup.procs;
 * an OOM kill is what memory.events counts. */
static void test_join_and_oom(void **state)
{
	struct fake *f = *state;
	int p[2];
	char buf[8] = "";
	assert_int_equal(pipe(p), 0);
	assert_int_equal(sb_cg_join(p[1]), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0");
	close(p[0]);
	close(p[1]);
	assert_int_equal(sb_cg_join(p[1]), -EBADF);
	assert_false(sb_cg_oom_killed(f->dir));
	fake_file(f, "memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n");
	assert_false(sb_cg_oom_killed(f->dir));
	fake_file(f, "memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
	assert_true(sb_cg_oom_killed(f->dir));
	assert_false(sb_cg_oom_killed("/nonexistent/cgroup"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_follow_the_flags),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_parse_controllers),
		cmocka_unit_test(test_parse_key),
		cmocka_unit_test(test_group_name),
		cmocka_unit_test_setup_teardown(test_enable, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_write_limits, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_join_and_oom, fake_setup, fake_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
