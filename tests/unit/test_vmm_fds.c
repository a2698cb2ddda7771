/* test_vmm_fds.c: the launcher's half of "descriptors instead of paths"
 * (src/sandbox/vmm_fds.c): silo-vmm's command line as sb_start makes it,
 * over real files, each path option opened as silo-vmm needs it and
 * replaced by fd:N; a missing file is the one line the start shows. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "vmm/fdarg.h"

static char top[64], guest[96], dir[96], run[96], snap[96];
static struct sb_paths paths = { .self = "/usr/bin/silo", .vmm = "/usr/lib/silo-vmm" };

static void touch(const char *d, const char *name)
{
	char p[160];
	snprintf(p, sizeof(p), "%s/%s", d, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/silo-test-vmmfds-XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(guest, sizeof(guest), "%s/g", top);
	snprintf(dir, sizeof(dir), "%s/d", top);
	snprintf(run, sizeof(run), "%s/r", top);
	snprintf(snap, sizeof(snap), "%s/t", top);
	mkdir(guest, 0700), mkdir(dir, 0700), mkdir(run, 0700), mkdir(snap, 0700);
	touch(guest, "vmlinux"), touch(guest, "agent.cpio.gz"), touch(guest, "rootfs.ext4");
	touch(dir, "scratch.img"), touch(snap, "state"), touch(snap, "mem");
	snprintf(paths.guest, sizeof(paths.guest), "%s", guest);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd);
}

/* silo-vmm's argv (after "--") for sandbox "box", booted or restored. */
static char **vmm_argv(struct sb_vmm_cmd *cmd, struct sb_config *c, const char *restore)
{
	struct sb_vmm_in in = { .paths = &paths,
				.name = "box",
				.dir = dir,
				.rundir = run,
				.cfg = c,
				.boot_timeout = 120,
				.restore = restore };
	sb_config_init(c);
	c->memory = 256ull << 20;
	c->cpus = 1;
	c->disk = 1ull << 30;
	assert_int_equal(sb_vmm_cmd(&in, cmd), 0);
	for (char **a = cmd->argv; *a; a++)
		if (!strcmp(*a, "--"))
			return a + 1;
	fail();
	return NULL;
}

/* The value of option opt in argv. */
static const char *value(char **argv, const char *opt, int nth)
{
	for (int i = 1; argv[i]; i++)
		if (!strcmp(argv[i], opt) && nth-- == 0)
			return argv[i + 1];
	fail_msg("no %s", opt);
	return NULL;
}

/* The file behind "fd:N" (after prefix), and its open flags. */
static const char *target(const char *val, const char *prefix, int nth, int *flags)
{
	static char buf[PATH_MAX];
	char link[64];
	int fds[4], cnt = 1;
	const char *p = val + strlen(prefix) - strlen("fd:");

	assert_int_equal(strncmp(val, prefix, strlen(prefix)), 0);
	for (const char *q = p; *q; q++)
		cnt += *q == ',';
	assert_true(cnt <= 4 && fdarg_list(p, fds, (size_t)cnt));
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[nth]);
	ssize_t len = readlink(link, buf, sizeof(buf) - 1);
	assert_true(len > 0);
	buf[len] = 0;
	*flags = fcntl(fds[nth], F_GETFL);
	/* left for silo-vmm: inherited across exec */
	assert_int_equal(fcntl(fds[nth], F_GETFD), 0);
	return buf;
}

static void expect(const char *val, const char *prefix, int nth, const char *d, const char *name,
		   int mode)
{
	char want[160];
	int flags;
	snprintf(want, sizeof(want), "%s/%s", d, name);
	assert_string_equal(target(val, prefix, nth, &flags), want);
	assert_int_equal(flags & O_ACCMODE, mode & O_ACCMODE);
	assert_int_equal(flags & O_APPEND, mode & O_APPEND);
}

static void expect_listener(const char *val, const char *prefix)
{
	int fd = fdarg_number(val + strlen(prefix) - 3), v = 0;
	socklen_t len = sizeof(v);
	assert_true(fd >= 3);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
	assert_int_equal(v, 1);
	assert_int_equal(fcntl(fd, F_GETFD), 0); /* inherited across exec */
}

static void test_boot_gets_descriptors(void **state)
{
	struct sb_vmm_cmd cmd;
	struct sb_config c;
	char why[256] = "", sockpath[160];
	struct stat st;
	(void)state;

	struct sb_vmm_fd_words words = { .n = 0 };
	char **argv = vmm_argv(&cmd, &c, NULL);
	assert_int_equal(sb_vmm_open_fds(argv, &words, why, sizeof(why)), 0);
	expect(value(argv, "--kernel", 0), "fd:", 0, guest, "vmlinux", O_RDONLY);
	expect(value(argv, "--initrd", 0), "fd:", 0, guest, "agent.cpio.gz", O_RDONLY);
	/* the base image read-only, its ,ro kept for silo-vmm; scratch rw */
	const char *base = value(argv, "--disk", 0);
	assert_non_null(strstr(base, ",ro"));
	char b[32];
	snprintf(b, sizeof(b), "%.*s", (int)(strchr(base, ',') - base), base);
	expect(b, "fd:", 0, guest, "rootfs.ext4", O_RDONLY);
	expect(value(argv, "--disk", 1), "fd:", 0, dir, "scratch.img", O_RDWR);
	/* the console's four: PATH appended, PATH, PATH.1, PATH.2 appended */
	const char *con = value(argv, "--console", 0);
	expect(con, "file:fd:", 0, dir, "console.log", O_WRONLY | O_APPEND);
	expect(con, "file:fd:", 1, dir, "console.log", O_WRONLY);
	expect(con, "file:fd:", 2, dir, "console.log.1", O_WRONLY);
	expect(con, "file:fd:", 3, dir, "console.log.2", O_RDWR | O_APPEND);
	/* the sockets bound where the CLI connects, and listening */
	expect_listener(value(argv, "--control", 0), "fd:");
	snprintf(sockpath, sizeof(sockpath), "%s/control.sock", run);
	assert_int_equal(stat(sockpath, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	const char *vs = value(argv, "--vsock", 0);
	assert_int_equal(strncmp(vs, "3,fd:", 5), 0);
	expect_listener(vs, "3,fd:");
	/* no path of the sandbox is left on silo-vmm's command line */
	for (char **a = argv + 1; *a; a++)
		assert_null(strstr(*a, top));
	sb_config_free(&c);
}

static void test_restore_gets_descriptors(void **state)
{
	struct sb_vmm_cmd cmd;
	struct sb_config c;
	char why[256] = "";
	(void)state;

	struct sb_vmm_fd_words words = { .n = 0 };
	char **argv = vmm_argv(&cmd, &c, snap);
	assert_int_equal(sb_vmm_open_fds(argv, &words, why, sizeof(why)), 0);
	const char *r = value(argv, "--restore", 0);
	expect(r, "fd:", 0, snap, "state", O_RDONLY);
	expect(r, "fd:", 1, snap, "mem", O_RDONLY);
	/* no working set recorded: two descriptors only */
	assert_null(strchr(strchr(r, ',') + 1, ','));
	sb_config_free(&c);

	/* with one, a third (src/vmm/snapshot/wset.h); the sockets anew */
	char rm[200];
	snprintf(rm, sizeof(rm), "rm -f '%s'/*.sock", run);
	assert_int_equal(system(rm), 0);
	touch(snap, "workingset");
	words.n = 0;
	argv = vmm_argv(&cmd, &c, snap);
	assert_int_equal(sb_vmm_open_fds(argv, &words, why, sizeof(why)), 0);
	r = value(argv, "--restore", 0);
	expect(r, "fd:", 0, snap, "state", O_RDONLY);
	expect(r, "fd:", 1, snap, "mem", O_RDONLY);
	expect(r, "fd:", 2, snap, "workingset", O_RDONLY);
	sb_config_free(&c);
}

/* A missing file: one line naming the option, the path and the reason. */
static void test_missing_file_is_one_line(void **state)
{
	struct sb_vmm_cmd cmd;
	struct sb_config c;
	char why[256] = "", want[256], p[160];
	(void)state;

	snprintf(p, sizeof(p), "%s/agent.cpio.gz", guest);
	assert_int_equal(unlink(p), 0);
	struct sb_vmm_fd_words words = { .n = 0 };
	char **argv = vmm_argv(&cmd, &c, NULL);
	assert_int_equal(sb_vmm_open_fds(argv, &words, why, sizeof(why)), -ENOENT);
	snprintf(want, sizeof(want), "initrd %s: %s", p, strerror(ENOENT));
	assert_string_equal(why, want);
	sb_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_gets_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_gets_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_one_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
