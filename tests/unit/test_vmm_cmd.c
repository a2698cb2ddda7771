/* test_vmm_cmd.c: the command line sb_start runs for a sandbox
 * (src/sandbox/vmm_cmd.c): "silo _supervise" with its options, then
 * silo-vmm with the sandbox's devices and guest command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/contract.h"
#include "sandbox/sandbox.h"

/* as silo-serve has them: its sandboxes' supervisor is silo */
static struct sb_paths paths = { .self = "/usr/libexec/silo/silo-serve",
				 .super = "/usr/bin/silo",
				 .vmm = "/usr/lib/silo-vmm",
				 .guest = "/g" };

/* The guest's words for sandbox "box" (SB_IDLE_TRIM_S seconds), with tail. */
#define WORDS(tail)                                                                             \
	SILO_ARG_BASE SILO_BASE_DEV " " SILO_ARG_SCRATCH SILO_SCRATCH_DEV " " SILO_ARG_HOSTNAME \
				    "box " SILO_ARG_IDLE_TRIM "30" tail

/* Each test's sandbox "box": 2 CPUs, 512 MiB, a 1 GiB disk, no network. */
struct fix {
	struct sb_config c;
	struct sb_vmm_in in;
	struct sb_vmm_cmd cmd;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	sb_config_init(&f->c);
	f->c.memory = 512ull << 20;
	f->c.cpus = 2;
	f->c.disk = 1ull << 30;
	f->in = (struct sb_vmm_in){ .paths = &paths,
				    .name = "box",
				    .dir = "/d/box",
				    .rundir = "/r/box",
				    .cfg = &f->c,
				    .boot_timeout = 120 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	sb_config_free(&f->c);
	free(f);
	return 0;
}

static void check_argv(char *const *got, const char *const *want)
{
	size_t i;
	for (i = 0; want[i]; i++) {
		assert_non_null(got[i]);
		assert_string_equal(got[i], want[i]);
	}
	assert_null(got[i]);
}

/* The silo-vmm half, the same in every test but for the guest's words. */
#define VMM_ARGV(words)                                                                       \
	"--", "/usr/lib/silo-vmm", "--kernel", "/g/vmlinux", "--initrd", "/g/agent.cpio.gz",  \
		"--memory", "512", "--cpus", "2", "--disk", "/g/rootfs.ext4,ro", "--disk",    \
		"/d/box/scratch.img", "--balloon", "--rng", "--vsock", "3,/r/box/vsock.sock", \
		"--control", "/r/box/control.sock", "--console", "file:/d/box/console.log",   \
		"--boot-timeout", "120", "--cmdline", words, NULL

static void test_no_network(void **state)
{
	struct fix *f = *state;
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	static const char *const want[] = { "/usr/bin/silo", "_supervise", "/r/box",
					    "--fsize",	     "1073741824", VMM_ARGV(WORDS("")) };
	check_argv(f->cmd.argv, want);
	assert_int_equal(SILO_GUEST_CID, 3);
	/* what sb_start waits on and logs to */
	assert_string_equal(f->cmd.vsock, "/r/box/vsock.sock");
	assert_string_equal(f->cmd.control, "/r/box/control.sock");
	assert_string_equal(f->cmd.console, "/d/box/console.log");
}

static void test_network_and_publish(void **state)
{
	struct fix *f = *state;
	assert_int_equal(sb_config_add_publish(&f->c, "8080:80"), 0);
	assert_int_equal(sb_config_add_publish(&f->c, "127.0.0.1:2222:22"), 0);
	f->in.netd = "/usr/lib/silo-netd";
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	static const char *const want[] = { "/usr/bin/silo",
					    "_supervise",
					    "/r/box",
					    "--fsize",
					    "1073741824",
					    "--netd",
					    "/usr/lib/silo-netd",
					    "--net-dir",
					    "/d/box",
					    "--publish",
					    "127.0.0.1:8080:80",
					    "--publish",
					    "127.0.0.1:2222:22",
					    VMM_ARGV(WORDS(" " SILO_ARG_NET)) };
	check_argv(f->cmd.argv, want);
}

/* The sandbox's cgroup goes to the supervisor, which moves silo-netd and
 * silo-vmm in (src/sandbox/cgroup.h); silo-vmm's own argv is unchanged. */
static void test_cgroup(void **state)
{
	struct fix *f = *state;
	f->in.netd = "/n";
	f->in.cgroup = "/sys/fs/cgroup/silo/box-0123456789ab";
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	static const char *const want[] = { "/usr/bin/silo",
					    "_supervise",
					    "/r/box",
					    "--fsize",
					    "1073741824",
					    "--cgroup",
					    "/sys/fs/cgroup/silo/box-0123456789ab",
					    "--netd",
					    "/n",
					    "--net-dir",
					    "/d/box",
					    VMM_ARGV(WORDS(" " SILO_ARG_NET)) };
	check_argv(f->cmd.argv, want);
}

/* --no-docker, and SILO_GUEST_CMDLINE_EXTRA's words last so they win. */
static void test_guest_words(void **state)
{
	struct fix *f = *state;
	f->c.no_docker = true;
	f->in.netd = "/n";
	f->in.cmdline_extra = "silo.idle_trim=5 quiet";
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	assert_string_equal(f->cmd.cmdline, WORDS(" " SILO_ARG_NO_DOCKER " " SILO_ARG_NET
						  " silo.idle_trim=5 quiet"));
	f->in.cmdline_extra = ""; /* set but empty: no trailing space */
	f->in.netd = NULL;
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	assert_string_equal(f->cmd.cmdline, WORDS(" " SILO_ARG_NO_DOCKER));
}

static void test_every_publish_fits(void **state)
{
	struct fix *f = *state;
	char spec[32];
	for (int i = 0; i < SB_PUBLISH_MAX; i++) {
		snprintf(spec, sizeof(spec), "%d:80", 10000 + i);
		assert_int_equal(sb_config_add_publish(&f->c, spec), 0);
	}
	f->in.netd = "/n";
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	size_t n = 0;
	while (f->cmd.argv[n])
		n++;
	assert_int_equal(n, 5 + 4 + 2 * SB_PUBLISH_MAX + 26);
	assert_true(n < SB_VMM_ARGC_MAX);
}

/* A template's first start (--restore): the boot's devices in the boot's
 * order, no kernel, guest words or boot timeout; the file size cap covers a
 * memory larger than the disk (a template build writes the memory file). */
static void test_restore(void **state)
{
	struct fix *f = *state;
	f->c.memory = 2ull << 30;
	f->in.restore = "/d/templates/t";
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), 0);
	static const char *const want[] = { "/usr/bin/silo",
					    "_supervise",
					    "/r/box",
					    "--fsize",
					    "2147483648",
					    "--",
					    "/usr/lib/silo-vmm",
					    "--restore",
					    "/d/templates/t",
					    "--memory",
					    "2048",
					    "--cpus",
					    "2",
					    "--disk",
					    "/g/rootfs.ext4,ro",
					    "--disk",
					    "/d/box/scratch.img",
					    "--balloon",
					    "--rng",
					    "--vsock",
					    "3,/r/box/vsock.sock",
					    "--control",
					    "/r/box/control.sock",
					    "--console",
					    "file:/d/box/console.log",
					    NULL };
	check_argv(f->cmd.argv, want);
}

static void test_too_long_path_fails(void **state)
{
	struct fix *f = *state;
	static char dir[SB_PATH_MAX];
	memset(dir, 'a', sizeof(dir) - 1);
	dir[0] = '/';
	f->in.dir = dir;
	assert_int_equal(sb_vmm_cmd(&f->in, &f->cmd), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_and_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_publish_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long_path_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
