/*
 * silo-vmm: command line and wiring. Everything else lives in vm.c and below.
 * The options, exit codes and environment are documented in docs/silo-vmm.md;
 * keep usage() in sync with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/arch/x86/mptable.h"
#include "vmm/console.h"
#include "proto/contract.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define DEFAULT_MEM_MIB 256
#define MIN_MEM_MIB 32
#define MAX_MEM_MIB (1024ULL * 1024) /* 1 TiB */
#define DEFAULT_BOOT_TIMEOUT 8

static void usage(FILE *f)
{
	fprintf(f,
"usage: silo-vmm --kernel PATH [options]\n"
"Boot a Linux guest in a KVM microVM.\n"
"\n"
"  --kernel PATH        ELF vmlinux (64-bit entry) or bzImage (its 64-bit entry)\n"
"  --initrd PATH        initramfs\n"
"  --cmdline STR        appended after the VMM's own kernel arguments\n"
"  --cpus N             vCPUs, 1..%d (default 1)\n"
"  --memory MIB         guest RAM in MiB, %d..%llu (default %d)\n"
"  --disk PATH[,ro]     virtio-blk disk; repeatable, in order /dev/vda, vdb, ...\n"
"  --rng                add a virtio-rng device\n"
"  --balloon            add a virtio-balloon device: the guest reports free memory,\n"
"                       which goes back to the host\n"
"  --vsock CID,PATH     virtio-vsock: host clients connect to PATH and send\n"
"                       \"CONNECT <port>\\n\"; guest connections to port P reach PATH_P\n"
"  --console SPEC       stdio (default) | file:PATH | unix:PATH\n"
"  --console-max BYTES  budget of a file: console, %llu..; the first quarter and\n"
"                       the last part are kept, with a [N bytes dropped] line\n"
"                       (default %llu MiB)\n"
"  --control PATH       control socket (status, pause, resume, stop)\n"
"  --boot-timeout SEC   boot must complete within SEC seconds, 0 = no limit\n"
"                       (default %d); boot completes at the first console byte,\n"
"                       or when the guest prints --boot-marker\n"
"  --boot-marker STR    console string that marks boot completion\n"
"  --no-map             copy the kernel into guest RAM instead of mapping it\n"
"  --exit-fd N          also write the exit line (without \"silo-vmm: \") to fd N,\n"
"                       a channel the guest cannot write to, unlike the console\n"
"  -v, --verbose        log lifecycle events (twice: debug)\n"
"  -h, --help           this help\n"
"\n"
"stdio console on a terminal: raw mode, Ctrl-A x stops the VM, Ctrl-A Ctrl-A\n"
"sends Ctrl-A.\n"
"\n"
"exit codes:\n"
"  0  guest reset the machine (reboot, reboot=k through the i8042)\n"
"  1  VMM failure while running\n"
"  2  bad command line\n"
"  3  host setup failed (no /dev/kvm, unreadable kernel, ...)\n"
"  4  guest powered off or halted\n"
"  5  guest kernel panic\n"
"  6  guest triple fault\n"
"  7  KVM could not run the guest (internal error / emulation failure)\n"
"  8  boot timeout\n"
"  9  stopped by the host (control stop, SIGTERM/SIGINT/SIGHUP, Ctrl-A x)\n"
"\n"
"environment: SILO_VMM_TRACE_START=1 prints the time from start to the first\n"
"KVM_RUN on stderr (=<CLOCK_MONOTONIC microseconds>: measured from that instant).\n",
		MPTABLE_MAX_CPUS, MIN_MEM_MIB, MAX_MEM_MIB, DEFAULT_MEM_MIB,
		CONSOLE_FILE_MAX_MIN, CONSOLE_FILE_MAX_DEFAULT >> 20, DEFAULT_BOOT_TIMEOUT);
}

/* --exit-fd: the supervisor's pipe for the exit reason (src/sandbox/supervise.c). */
static int exit_fd = -1;

/* The one exit line: "silo-vmm: REASON (exit N)" on stderr (or into the
 * console file, in order after the guest's last words), and REASON (exit N)
 * alone on --exit-fd. */
static void report_exit(const char *lead, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report_exit(const char *lead, int code, const char *fmt, ...)
{
	char reason[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_raw("%ssilo-vmm: %s (exit %d)\n", lead, reason, code);
	if (exit_fd >= 0) {
		dprintf(exit_fd, "%s (exit %d)\n", reason, code);
		close(exit_fd);
		exit_fd = -1;
	}
}

static int usage_error(const char *fmt, const char *arg)
{
	char msg[600];

	snprintf(msg, sizeof(msg), fmt, arg);
	fprintf(stderr, "silo-vmm: %s (see silo-vmm --help)\n", msg);
	if (exit_fd >= 0)
		dprintf(exit_fd, "bad command line: %s (exit %d)\n", msg, VMM_EXIT_USAGE);
	return VMM_EXIT_USAGE;
}

static bool parse_uint(const char *s, unsigned long long min, unsigned long long max,
		       unsigned long long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out >= min && *out <= max;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* In the order of opts[] below: opts[opt - OPT_KERNEL] names an option. */
enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_DISK, OPT_RNG,
       OPT_BALLOON, OPT_VSOCK, OPT_CONSOLE, OPT_CONTROL, OPT_BOOT_TIMEOUT, OPT_BOOT_MARKER,
       OPT_NO_MAP, OPT_EXIT_FD, OPT_CONSOLE_MAX, OPT_END };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "balloon", no_argument, NULL, OPT_BALLOON },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "boot-marker", required_argument, NULL, OPT_BOOT_MARKER },
		{ "no-map", no_argument, NULL, OPT_NO_MAP },
		{ "exit-fd", required_argument, NULL, OPT_EXIT_FD },
		{ "console-max", required_argument, NULL, OPT_CONSOLE_MAX },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_Static_assert(sizeof(opts) / sizeof(opts[0]) == OPT_END - OPT_KERNEL + 3,
		       "opts[] lists the OPT_* options in order, then verbose, help, end");
	int64_t t0 = mono_ns();
	struct vm_config cfg = { .cpus = 1, .mem_mib = DEFAULT_MEM_MIB,
				 .boot_timeout = DEFAULT_BOOT_TIMEOUT, .console = "stdio" };
	bool seen[OPT_END] = { false };
	unsigned long long n;
	const char *trace, *stats, *env;
	int verbose = 0, opt, ret, code;
	struct vm *vm = NULL;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		if (opt >= OPT_KERNEL && opt != OPT_DISK) {
			if (seen[opt])
				return usage_error("option --%s given twice", opts[opt - OPT_KERNEL].name);
			seen[opt] = true;
		}
		switch (opt) {
		case OPT_KERNEL:
			cfg.kernel = optarg;
			break;
		case OPT_INITRD:
			cfg.initrd = optarg;
			break;
		case OPT_CMDLINE:
			cfg.cmdline = optarg;
			break;
		case OPT_CPUS:
			if (!parse_uint(optarg, 1, MPTABLE_MAX_CPUS, &n))
				return usage_error("--cpus wants 1..32, got '%s'", optarg);
			cfg.cpus = (unsigned int)n;
			break;
		case OPT_MEMORY:
			if (!parse_uint(optarg, MIN_MEM_MIB, MAX_MEM_MIB, &n))
				return usage_error("--memory wants MiB in 32..1048576, got '%s'", optarg);
			cfg.mem_mib = n;
			break;
		case OPT_DISK: {
			struct vm_disk *d = &cfg.disks[cfg.nr_disks];
			char *comma;

			if (cfg.nr_disks == VM_MAX_DISKS)
				return usage_error("at most 8 --disk options%s", "");
			comma = strchr(optarg, ',');
			if (comma) {
				if (strcmp(comma, ",ro"))
					return usage_error("--disk PATH[,ro]: unknown flag in '%s'", optarg);
				*comma = '\0';
				d->readonly = true;
			}
			if (!*optarg)
				return usage_error("--disk needs a path%s", "");
			for (unsigned int i = 0; i < cfg.nr_disks; i++)
				if (!strcmp(cfg.disks[i].path, optarg))
					return usage_error("disk '%s' given twice", optarg);
			d->path = optarg;
			cfg.nr_disks++;
			break;
		}
		case OPT_RNG:
			cfg.rng = true;
			break;
		case OPT_BALLOON:
			cfg.balloon = true;
			break;
		case OPT_VSOCK: {
			char *comma = strchr(optarg, ',');

			if (!comma || comma == optarg || !comma[1])
				return usage_error("--vsock wants CID,PATH, got '%s'", optarg);
			*comma = '\0';
			/* CIDs 0-2 are reserved (hypervisor, local, host); -1 is "any". */
			if (!parse_uint(optarg, 3, 0xfffffffeULL, &n))
				return usage_error("--vsock CID must be in 3..4294967294, got '%s'", optarg);
			cfg.vsock_cid = n;
			cfg.vsock_path = comma + 1;
			break;
		}
		case OPT_CONSOLE:
			if (!console_spec_valid(optarg))
				return usage_error("--console wants stdio, file:PATH or unix:PATH, got '%s'",
						   optarg);
			cfg.console = optarg;
			break;
		case OPT_CONSOLE_MAX:
			if (!parse_uint(optarg, CONSOLE_FILE_MAX_MIN, 1ULL << 40, &n))
				return usage_error("--console-max wants bytes, at least 4096, got '%s'",
						   optarg);
			cfg.console_max = n;
			break;
		case OPT_EXIT_FD:
			/* an inherited, open fd other than stdio */
			if (!parse_uint(optarg, 3, INT_MAX, &n) || fcntl((int)n, F_GETFD) < 0)
				return usage_error("--exit-fd wants an open file descriptor >= 3, got '%s'",
						   optarg);
			exit_fd = (int)n;
			fcntl(exit_fd, F_SETFD, FD_CLOEXEC);
			break;
		case OPT_CONTROL:
			if (!*optarg)
				return usage_error("--control needs a path%s", "");
			cfg.control = optarg;
			break;
		case OPT_BOOT_TIMEOUT:
			if (!parse_uint(optarg, 0, 86400, &n))
				return usage_error("--boot-timeout wants seconds 0..86400, got '%s'",
						   optarg);
			cfg.boot_timeout = (unsigned int)n;
			break;
		case OPT_BOOT_MARKER:
			if (!*optarg || strpbrk(optarg, "\r\n"))
				return usage_error("--boot-marker must be a non-empty single line%s", "");
			cfg.boot_marker = optarg;
			break;
		case OPT_NO_MAP:
			cfg.no_map = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg.kernel)
		return usage_error("--kernel is required%s", "");
	if (cfg.boot_marker && !cfg.boot_timeout)
		return usage_error("--boot-marker needs a non-zero --boot-timeout%s", "");
	if (cfg.control && !strncmp(cfg.console, "unix:", 5) && !strcmp(cfg.console + 5, cfg.control))
		return usage_error("--control and --console use the same socket '%s'", cfg.control);

	log_set_level(verbose >= 2 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_WARN);
	trace = getenv("SILO_VMM_TRACE_START");
	if (trace && *trace && strcmp(trace, "0")) {
		long long us = strtoll(trace, NULL, 10);
		cfg.trace_t0_ns = us > 1 ? us * 1000 : t0;
	}
	/* The lab's shadow paging runs guests ~2x faster on huge host pages;
	 * the product keeps 4 KiB pages for memory (vm.c). */
	env = getenv("SILO_VMM_HUGEPAGES");
	cfg.huge_pages = env && !strcmp(env, "1");
	/* The lab's nested guests can take seconds to answer a vsock connect
	 * while they boot dockerd; the product keeps the recipe's 2 s. */
	env = getenv("SILO_VMM_VSOCK_CONNECT_MS");
	if (env && *env) {
		char *end;
		unsigned long ms = strtoul(env, &end, 10);
		if (*end || ms < 1 || ms > 600000)
			return usage_error("SILO_VMM_VSOCK_CONNECT_MS wants 1..600000, got '%s'", env);
		cfg.vsock_connect_ms = (unsigned int)ms;
	}
	/* Console and control sockets: a vanished reader must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Past RLIMIT_FSIZE (the supervisor's backstop behind the console cap)
	 * a write fails with EFBIG instead of killing the VM. */
	signal(SIGXFSZ, SIG_IGN);

	ret = vm_create(&vm, &cfg);
	if (ret) {
		/* The failing step recorded its context with err_ret(). */
		const char *ctx = log_last_error();
		report_exit("", VMM_EXIT_SETUP, "setup failed: %s", *ctx ? ctx : strerror(-ret));
		vm_destroy(vm);
		return VMM_EXIT_SETUP;
	}
	code = vm_run(vm);
	report_exit("\r\n", code, "%s", vm_exit_message(vm));
	stats = getenv("SILO_VMM_STATS");
	if (stats && *stats && strcmp(stats, "0"))
		vm_print_mem_stats(vm, stderr);
	vm_destroy(vm);
	return code;
}
