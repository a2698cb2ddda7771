/* test_vmm_args.c: silo-vmm's command-line parser (src/vmm/args.c): the
 * defaults, every option, the device table's options, and the messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "vmm/arch/x86/mptable.h"
#include "vmm/args.h"
#include "vmm/console.h"
#include "vmm/devices/device.h"
#include "vmm/devices/virtio/virtio.h"

#define MAX_ARGS 40

/* Parse a NULL-terminated list (copied: getopt_long may permute argv). */
static int parse(struct vmm_args *a, char *err, size_t errlen, ...)
{
	char *argv[MAX_ARGS + 2] = { "silo-vmm" };
	int argc = 1;
	va_list ap;

	va_start(ap, errlen);
	for (char *s; (s = va_arg(ap, char *)) && argc <= MAX_ARGS;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return vmm_parse_args(argc, argv, a, err, errlen);
}

#define PARSE(a, err, ...) parse((a), (err), sizeof(err), __VA_ARGS__, (char *)NULL)

/* The message a bad command line gets, or "" if it parsed. */
#define EXPECT_ERR(msg, ...)                                       \
	do {                                                       \
		struct vmm_args a_;                                \
		char e_[512];                                      \
		assert_int_equal(PARSE(&a_, e_, __VA_ARGS__), -1); \
		assert_string_equal(e_, (msg));                    \
	} while (0)

static void test_defaults(void **state)
{
	struct vmm_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE(&a, err, "--kernel", "vmlinux"), 0);
	assert_string_equal(a.vm.kernel, "vmlinux");
	assert_null(a.vm.initrd);
	assert_null(a.vm.cmdline);
	assert_int_equal(a.vm.cpus, 1);
	assert_int_equal(a.vm.mem_mib, VMM_DEFAULT_MEM_MIB);
	assert_int_equal(a.vm.boot_timeout, VMM_DEFAULT_BOOT_TIMEOUT);
	assert_string_equal(a.vm.console, "stdio");
	assert_int_equal(a.vm.nr_devs, 0);
	assert_int_equal(a.exit_fd, -1);
	assert_int_equal(a.start_gate, -1);
	assert_int_equal(a.verbose, 0);
	assert_false(a.help);
	assert_false(a.vm.no_map);
}

static void test_every_option(void **state)
{
	struct vmm_args a;
	char err[256], cpus[16];

	(void)state;
	snprintf(cpus, sizeof(cpus), "%d", MPTABLE_MAX_CPUS);
	assert_int_equal(PARSE(&a, err, "--kernel", "k", "--initrd", "i", "--cmdline", "quiet",
			       "--cpus", cpus, "--memory", "1048576", "--console", "file:/c",
			       "--console-max", "4096", "--control", "/ctl", "--boot-timeout", "0",
			       "--no-map", "-v", "--verbose", "--exit-fd", "2", "--rng"),
			 -1); /* fd 2 is stdio */
	assert_int_equal(PARSE(&a, err, "--kernel", "k", "--initrd", "i", "--cmdline", "quiet",
			       "--cpus", cpus, "--memory", "1048576", "--console", "file:/c",
			       "--console-max", "4096", "--control", "/ctl", "--boot-timeout",
			       "86400", "--boot-marker", "READY", "--no-map", "-v", "--verbose"),
			 0);
	assert_string_equal(a.vm.initrd, "i");
	assert_string_equal(a.vm.cmdline, "quiet");
	assert_int_equal(a.vm.cpus, MPTABLE_MAX_CPUS);
	assert_int_equal(a.vm.mem_mib, VMM_MAX_MEM_MIB);
	assert_string_equal(a.vm.console, "file:/c");
	assert_int_equal(a.vm.console_max, CONSOLE_FILE_MAX_MIN);
	assert_string_equal(a.vm.control, "/ctl");
	assert_int_equal(a.vm.boot_timeout, VMM_MAX_BOOT_TIMEOUT);
	assert_string_equal(a.vm.boot_marker, "READY");
	assert_true(a.vm.no_map);
	assert_int_equal(a.verbose, 2);
}

static void test_exit_fd(void **state)
{
	struct vmm_args a;
	char err[256], num[16];
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	snprintf(num, sizeof(num), "%d", fds[1]);
	assert_int_equal(PARSE(&a, err, "--exit-fd", num, "--kernel", "k"), 0);
	assert_int_equal(a.exit_fd, fds[1]);
	/* A mistake after --exit-fd still knows the fd (main reports there). */
	assert_int_equal(PARSE(&a, err, "--exit-fd", num, "--cpus", "0"), -1);
	assert_int_equal(a.exit_fd, fds[1]);
	/* --start-gate: the same kind of descriptor, the supervisor's pipe */
	snprintf(num, sizeof(num), "%d", fds[0]);
	assert_int_equal(PARSE(&a, err, "--start-gate", num, "--kernel", "k"), 0);
	assert_int_equal(a.start_gate, fds[0]);
	close(fds[0]);
	close(fds[1]);
}

/* --vsock-peer FD:PORTS: a SEQPACKET socket and the ports it takes. */
static void test_vsock_peer(void **state)
{
	struct vmm_args a;
	char err[256], arg[64], stream_arg[64];
	int sp[2], st[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, st), 0);
	snprintf(arg, sizeof(arg), "%d:1053,1080", sp[0]);
	assert_int_equal(PARSE(&a, err, "--vsock-peer", arg, "--kernel", "k"), 0);
	assert_int_equal(a.vm.vsock_peer_fd, sp[0]);
	assert_int_equal(a.vm.nr_vsock_peer_ports, 2);
	assert_int_equal(a.vm.vsock_peer_ports[0], 1053);
	assert_int_equal(a.vm.vsock_peer_ports[1], 1080);
	assert_int_equal(PARSE(&a, err, "--kernel", "k"), 0);
	assert_int_equal(a.vm.vsock_peer_fd, -1); /* none unless given */
	snprintf(stream_arg, sizeof(stream_arg), "%d:1053", st[0]);
	assert_int_equal(PARSE(&a, err, "--vsock-peer", stream_arg), -1);
	assert_non_null(strstr(err, "an open SOCK_SEQPACKET socket"));
	EXPECT_ERR("--vsock-peer wants an open SOCK_SEQPACKET socket >= 3 before its ':', got "
		   "'2:1053'",
		   "--vsock-peer", "2:1053");
	EXPECT_ERR("--vsock-peer wants FD:PORT[,PORT]... (at most 8 ports), got '5'",
		   "--vsock-peer", "5");
	snprintf(arg, sizeof(arg), "%d:", sp[0]);
	assert_int_equal(PARSE(&a, err, "--vsock-peer", arg), -1);
	snprintf(arg, sizeof(arg), "%d:1,2,3,4,5,6,7,8,9", sp[0]);
	assert_int_equal(PARSE(&a, err, "--vsock-peer", arg), -1);
	assert_non_null(strstr(err, "at most 8 ports"));
	snprintf(arg, sizeof(arg), "%d:0", sp[0]);
	assert_int_equal(PARSE(&a, err, "--vsock-peer", arg), -1);
	close(sp[0]), close(sp[1]), close(st[0]), close(st[1]);
}

/* Devices come in command-line order, each with its table row. */
static void test_devices(void **state)
{
	struct vmm_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE(&a, err, "--vsock", "3,/v", "--disk", "a", "--rng", "--balloon",
			       "--disk", "b,ro", "--kernel", "k"),
			 0);
	assert_int_equal(a.vm.nr_devs, 5);
	assert_string_equal(a.vm.devs[0].dev->name, "vsock");
	assert_string_equal(a.vm.devs[0].arg, "3,/v");
	assert_string_equal(a.vm.devs[1].dev->name, "disk");
	assert_string_equal(a.vm.devs[1].arg, "a");
	assert_string_equal(a.vm.devs[2].dev->name, "rng");
	assert_null(a.vm.devs[2].arg);
	assert_string_equal(a.vm.devs[3].dev->name, "balloon");
	assert_string_equal(a.vm.devs[4].arg, "b,ro");
	/* Unique prefixes work as with any getopt_long option. */
	assert_int_equal(PARSE(&a, err, "--ba", "--kernel", "k"), 0);
	assert_string_equal(a.vm.devs[0].dev->name, "balloon");
	/* The table: disks first (vda, vdb, ...), every row complete. */
	assert_string_equal(vmm_devices[0]->name, "disk");
	for (const struct vmm_device *const *d = vmm_devices; *d; d++) {
		assert_non_null((*d)->help);
		assert_non_null((*d)->create);
		assert_true((*d)->max >= 1);
	}
}

static void test_disk_limit(void **state)
{
	char *argv[2 * VM_MAX_DISKS + 5] = { "silo-vmm", "--kernel", "k" };
	char names[VM_MAX_DISKS + 1][16], err[256], msg[64];
	struct vmm_args a;
	int argc = 3;

	(void)state;
	for (int i = 0; i < VM_MAX_DISKS; i++) {
		snprintf(names[i], sizeof(names[i]), "d%d", i);
		argv[argc++] = "--disk";
		argv[argc++] = names[i];
	}
	assert_int_equal(vmm_parse_args(argc, argv, &a, err, sizeof(err)), 0);
	assert_int_equal(a.vm.nr_devs, VM_MAX_DISKS);
	argv[argc++] = "--disk";
	argv[argc++] = "one-more";
	assert_int_equal(vmm_parse_args(argc, argv, &a, err, sizeof(err)), -1);
	snprintf(msg, sizeof(msg), "at most %d --disk options", VM_MAX_DISKS);
	assert_string_equal(err, msg);
}

static void test_help(void **state)
{
	struct vmm_args a;
	char err[256];

	(void)state;
	/* -h wins over whatever follows it, and needs no --kernel. */
	assert_int_equal(PARSE(&a, err, "-h", "--bogus"), 0);
	assert_true(a.help);
	assert_int_equal(PARSE(&a, err, "--help"), 0);
	assert_true(a.help);
	/* ...but not over a mistake before it. */
	EXPECT_ERR("--cpus wants 1..32, got '0'", "--cpus", "0", "-h");
}

static void test_usage_lists_devices(void **state)
{
	char buf[8192] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	(void)state;
	assert_non_null(f);
	vmm_usage(f);
	fclose(f);
	assert_non_null(strstr(buf, "\n  --disk PATH[,ro]     virtio-blk disk; repeatable"));
	assert_non_null(strstr(buf, "\n  --rng                add a virtio-rng device\n"));
	assert_non_null(strstr(buf, "\n  --vsock CID,PATH     virtio-vsock: "));
	assert_non_null(strstr(buf, "\n  --console SPEC "));
}

static void test_bad(void **state)
{
	char msg[128];

	(void)state;
	snprintf(msg, sizeof(msg), "--cpus wants 1..%d, got '%d'", MPTABLE_MAX_CPUS,
		 MPTABLE_MAX_CPUS + 1);
	EXPECT_ERR(msg, "--cpus", MPTABLE_MAX_CPUS == 32 ? "33" : "100000");
	EXPECT_ERR("--cpus wants 1..32, got 'x'", "--cpus", "x");
	EXPECT_ERR("--cpus wants 1..32, got '+1'", "--cpus", "+1");
	EXPECT_ERR("--memory wants MiB in 32..1048576, got '31'", "--memory", "31");
	EXPECT_ERR("--memory wants MiB in 32..1048576, got '1048577'", "--memory", "1048577");
	EXPECT_ERR("--disk PATH[,ro]: unknown flag in 'a,rw'", "--disk", "a,rw");
	EXPECT_ERR("--disk needs a path", "--disk", ",ro");
	EXPECT_ERR("--disk needs a path", "--disk", "");
	EXPECT_ERR("disk 'a' given twice", "--disk", "a", "--disk", "a,ro");
	EXPECT_ERR("option --rng given twice", "--rng", "--rng");
	EXPECT_ERR("option --balloon given twice", "--balloon", "--balloon");
	EXPECT_ERR("option --vsock given twice", "--vsock", "3,p", "--vsock", "4,q");
	EXPECT_ERR("--vsock wants CID,PATH, got '3'", "--vsock", "3");
	EXPECT_ERR("--vsock wants CID,PATH, got ',p'", "--vsock", ",p");
	EXPECT_ERR("--vsock wants CID,PATH, got '3,'", "--vsock", "3,");
	EXPECT_ERR("--vsock CID must be in 3..4294967294, got '2'", "--vsock", "2,p");
	EXPECT_ERR("--vsock CID must be in 3..4294967294, got '4294967295'", "--vsock",
		   "4294967295,p");
	EXPECT_ERR("--console wants stdio, file:PATH or unix:PATH, got 'tty'", "--console", "tty");
	EXPECT_ERR("--console-max wants bytes, at least 4096, got '4095'", "--console-max", "4095");
	EXPECT_ERR("--exit-fd wants an open file descriptor >= 3, got '2'", "--exit-fd", "2");
	EXPECT_ERR("--exit-fd wants an open file descriptor >= 3, got '999'", "--exit-fd", "999");
	EXPECT_ERR("--start-gate wants an open file descriptor >= 3, got '0'", "--start-gate", "0");
	EXPECT_ERR("--start-gate wants an open file descriptor >= 3, got '999'", "--start-gate",
		   "999");
	EXPECT_ERR("--control needs a path", "--control", "");
	EXPECT_ERR("--boot-timeout wants seconds 0..86400, got '86401'", "--boot-timeout", "86401");
	EXPECT_ERR("--boot-marker must be a non-empty single line", "--boot-marker", "a\nb");
	EXPECT_ERR("--boot-marker needs a non-zero --boot-timeout", "--kernel", "k",
		   "--boot-marker", "a", "--boot-timeout", "0");
	EXPECT_ERR("option --kernel given twice", "--kernel", "k", "--kernel", "l");
	EXPECT_ERR("option --no-map given twice", "--no-map", "--no-map");
	EXPECT_ERR("option '--kernel' needs an argument", "--kernel");
	EXPECT_ERR("unknown option '--bogus'", "--bogus");
	EXPECT_ERR("unknown option '-x'", "-x");
	EXPECT_ERR("unexpected argument 'foo'", "--kernel", "k", "foo");
	EXPECT_ERR("--kernel is required", "--initrd", "i");
	EXPECT_ERR("--control and --console use the same socket '/s'", "--kernel", "k", "--control",
		   "/s", "--console", "unix:/s");
}

static void test_restore(void **state)
{
	struct vmm_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE(&a, err, "--restore", "/snap", "--memory", "512", "--disk", "d"), 0);
	assert_string_equal(a.vm.restore, "/snap");
	assert_null(a.vm.kernel);
	EXPECT_ERR("--restore needs a directory", "--restore", "");
	EXPECT_ERR(
		"--restore resumes a snapshot: no --kernel, --initrd, --cmdline or --boot-marker",
		"--restore", "/snap", "--kernel", "k");
	EXPECT_ERR(
		"--restore resumes a snapshot: no --kernel, --initrd, --cmdline or --boot-marker",
		"--restore", "/snap", "--cmdline", "quiet");
	EXPECT_ERR("option --restore given twice", "--restore", "/a", "--restore", "/b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_exit_fd),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_disk_limit),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage_lists_devices),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_vsock_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
