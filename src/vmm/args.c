/*
 * silo-vmm's command line (see args.h): the fixed options here, the
 * optional devices' options from the device table (devices/device.h).
 * The options, exit codes and environment are documented in
 * docs/silo-vmm.md; keep vmm_usage() in sync with it.
 */
#include "vmm/args.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "vmm/arch/x86/mptable.h"
#include "vmm/console.h"
#include "vmm/devices/device.h"

static void usage_devices(FILE *f)
{
	for (const struct vmm_device *const *d = vmm_devices; *d; d++) {
		char opt[64];

		snprintf(opt, sizeof(opt), "--%s%s%s", (*d)->name, (*d)->metavar ? " " : "",
			 (*d)->metavar ? (*d)->metavar : "");
		fprintf(f, "  %-20s %s\n", opt, (*d)->help);
	}
}

void vmm_usage(FILE *f)
{
	fprintf(f,
		"usage: silo-vmm --kernel PATH [options]\n"
		"       silo-vmm --restore DIR [options]\n"
		"Boot a Linux guest in a KVM microVM.\n"
		"\n"
		"  --kernel PATH        ELF vmlinux (64-bit entry) or bzImage (its 64-bit entry)\n"
		"  --initrd PATH        initramfs\n"
		"  --cmdline STR        appended after the VMM's own kernel arguments\n"
		"  --cpus N             vCPUs, 1..%d (default 1)\n"
		"  --memory MIB         guest RAM in MiB, %d..%llu (default %d)\n",
		MPTABLE_MAX_CPUS, VMM_MIN_MEM_MIB, VMM_MAX_MEM_MIB, VMM_DEFAULT_MEM_MIB);
	usage_devices(f);
	fprintf(f,
		"  --console SPEC       stdio (default) | file:PATH | unix:PATH\n"
		"  --console-max BYTES  budget of a file: console, %llu..; the first quarter and\n"
		"                       the last part are kept, with a [N bytes dropped] line\n"
		"                       (default %llu MiB)\n"
		"  --control PATH       control socket (status, pause, resume, stop, snapshot,\n"
		"                       working-set)\n"
		"  --boot-timeout SEC   boot must complete within SEC seconds, 0 = no limit\n"
		"                       (default %d); boot completes at the first console byte,\n"
		"                       or when the guest prints --boot-marker\n"
		"  --boot-marker STR    console string that marks boot completion\n"
		"  --no-map             copy the kernel into guest RAM instead of mapping it\n"
		"  --restore DIR        resume the snapshot in DIR (control `snapshot`);\n"
		"                       --cpus, --memory and the devices must match it;\n"
		"                       DIR/workingset, if there, is faulted in first\n"
		"  --exit-fd N          also write the exit line (without \"silo-vmm: \") to fd N,\n"
		"                       a channel the guest cannot write to, unlike the console\n"
		"  --vsock-peer FD:PORT[,PORT]...\n"
		"                       a SOCK_SEQPACKET socket that takes the guest's connections\n"
		"                       to these host ports: each is a new socket passed on it\n"
		"                       with its port, instead of a connect to PATH_PORT\n"
		"  --start-gate N       build the VM, then wait for one byte on fd N before the\n"
		"                       guest runs (end of file: exit without running it)\n"
		"  -v, --verbose        log lifecycle events (twice: debug)\n"
		"every PATH above may be fd:N, a descriptor opened for it (the console file's\n"
		"four: file:fd:H,M,T1,T2; --restore fd:STATE,MEM[,WORKINGSET]): docs/silo-vmm.md\n"
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
		"  10  killed by seccomp (a syscall outside its thread's allowlist)\n"
		"\n"
		"environment: SILO_VMM_TRACE_START=1 prints the time from start to the first\n"
		"KVM_RUN on stderr (=<CLOCK_MONOTONIC microseconds>: measured from that instant).\n"
		"SILO_VMM_SECCOMP=0 runs without the seccomp filters (debugging), =log only\n"
		"logs what they would refuse (dmesg); SILO_VMM_JAIL=0 keeps the namespaces\n"
		"and capabilities silo-vmm was started with.\n",
		CONSOLE_FILE_MAX_MIN, CONSOLE_FILE_MAX_DEFAULT >> 20, VMM_DEFAULT_BOOT_TIMEOUT);
}

/* The fixed options; opts[opt - OPT_KERNEL] names one. The devices' options
 * follow them in the getopt table, with values OPT_DEV + table index. */
enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_CONSOLE,
	OPT_CONTROL,
	OPT_BOOT_TIMEOUT,
	OPT_BOOT_MARKER,
	OPT_NO_MAP,
	OPT_EXIT_FD,
	OPT_CONSOLE_MAX,
	OPT_RESTORE,
	OPT_VSOCK_PEER,
	OPT_START_GATE,
	OPT_END,
	OPT_DEV = 512
};

static const struct option fixed_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
	{ "boot-marker", required_argument, NULL, OPT_BOOT_MARKER },
	{ "no-map", no_argument, NULL, OPT_NO_MAP },
	{ "exit-fd", required_argument, NULL, OPT_EXIT_FD },
	{ "console-max", required_argument, NULL, OPT_CONSOLE_MAX },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "vsock-peer", required_argument, NULL, OPT_VSOCK_PEER },
	{ "start-gate", required_argument, NULL, OPT_START_GATE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
};
#define NR_FIXED (sizeof(fixed_opts) / sizeof(fixed_opts[0]))
_Static_assert(NR_FIXED == OPT_END - OPT_KERNEL + 2,
	       "fixed_opts[] lists the OPT_* options in order, then verbose, help");
/* Room for the device table's rows in the getopt table; build_opts drops any
 * beyond it, so keep it above the length of vmm_devices[]. */
#define MAX_DEV_TYPES 32

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The getopt table: the fixed options, one per device, the terminator. */
static void build_opts(struct option *o)
{
	unsigned int n = 0;

	memcpy(o, fixed_opts, sizeof(fixed_opts));
	for (const struct vmm_device *const *d = vmm_devices; *d && n < MAX_DEV_TYPES; d++, n++)
		o[NR_FIXED + n] = (struct option){ (*d)->name,
						   (*d)->metavar ? required_argument : no_argument,
						   NULL, OPT_DEV + (int)n };
	o[NR_FIXED + n] = (struct option){ NULL, 0, NULL, 0 };
}

/* --vsock-peer FD:PORT[,PORT]...: an inherited SOCK_SEQPACKET socket (not
 * stdio) and the guest-side ports whose connections go to it. */
static int parse_peer(struct vm_config *c, const char *arg, char *err, size_t errlen)
{
	char buf[128], *save = NULL, *tok, *colon;
	unsigned long long n;
	int type = 0;
	socklen_t tl = sizeof(type);

	if (strlen(arg) >= sizeof(buf) || !(colon = strchr(strcpy(buf, arg), ':')))
		goto bad;
	*colon = '\0';
	if (!vmm_parse_uint(buf, 3, INT_MAX, &n) ||
	    getsockopt((int)n, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET)
		return fail(err, errlen,
			    "--vsock-peer wants an open SOCK_SEQPACKET socket >= 3 before its ':', "
			    "got '%s'",
			    arg);
	c->vsock_peer_fd = (int)n;
	c->nr_vsock_peer_ports = 0;
	for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long port;

		if (c->nr_vsock_peer_ports == VM_MAX_PEER_PORTS ||
		    !vmm_parse_uint(tok, 1, UINT32_MAX - 1, &port))
			goto bad;
		c->vsock_peer_ports[c->nr_vsock_peer_ports++] = (uint32_t)port;
	}
	if (c->nr_vsock_peer_ports)
		return 0;
bad:
	return fail(err, errlen,
		    "--vsock-peer wants FD:PORT[,PORT]... (at most %d ports), got '%s'",
		    VM_MAX_PEER_PORTS, arg);
}

/* One device option: count it against the row's max, check its argument. */
static int add_dev(struct vm_config *c, const struct vmm_device *dev, const char *arg, char *err,
		   size_t errlen)
{
	const char *prev[VM_MAX_DEVS];
	unsigned int nr = 0;

	for (unsigned int i = 0; i < c->nr_devs; i++)
		if (c->devs[i].dev == dev)
			prev[nr++] = c->devs[i].arg;
	if (nr == dev->max)
		return dev->max == 1
			       ? fail(err, errlen, "option --%s given twice", dev->name)
			       : fail(err, errlen, "at most %u --%s options", dev->max, dev->name);
	if (c->nr_devs == VM_MAX_DEVS)
		return fail(err, errlen, "at most %u devices", VM_MAX_DEVS);
	if (dev->check && dev->check(arg, prev, nr, err, errlen))
		return -1;
	c->devs[c->nr_devs++] = (struct vm_dev_arg){ .dev = dev, .arg = arg };
	return 0;
}

/* The options that take a number or a checked string. */
static int parse_value(struct vmm_args *a, int opt, const char *arg, char *err, size_t errlen)
{
	struct vm_config *c = &a->vm;
	unsigned long long n;

	switch (opt) {
	case OPT_CPUS:
		if (!vmm_parse_uint(arg, 1, MPTABLE_MAX_CPUS, &n))
			return fail(err, errlen, "--cpus wants 1..%d, got '%s'", MPTABLE_MAX_CPUS,
				    arg);
		c->cpus = (unsigned int)n;
		return 0;
	case OPT_MEMORY:
		if (!vmm_parse_uint(arg, VMM_MIN_MEM_MIB, VMM_MAX_MEM_MIB, &n))
			return fail(err, errlen, "--memory wants MiB in %d..%llu, got '%s'",
				    VMM_MIN_MEM_MIB, VMM_MAX_MEM_MIB, arg);
		c->mem_mib = n;
		return 0;
	case OPT_CONSOLE:
		if (!console_spec_valid(arg))
			return fail(err, errlen,
				    "--console wants stdio, file:PATH or unix:PATH, got '%s'", arg);
		c->console = arg;
		return 0;
	case OPT_CONSOLE_MAX:
		if (!vmm_parse_uint(arg, CONSOLE_FILE_MAX_MIN, VMM_CONSOLE_MAX_MAX, &n))
			return fail(err, errlen,
				    "--console-max wants bytes, at least %llu, got '%s'",
				    CONSOLE_FILE_MAX_MIN, arg);
		c->console_max = n;
		return 0;
	case OPT_EXIT_FD:
		/* an inherited, open fd other than stdio */
		if (!vmm_parse_uint(arg, 3, INT_MAX, &n) || fcntl((int)n, F_GETFD) < 0)
			return fail(err, errlen,
				    "--exit-fd wants an open file descriptor >= 3, got '%s'", arg);
		a->exit_fd = (int)n;
		return 0;
	case OPT_VSOCK_PEER:
		return parse_peer(c, arg, err, errlen);
	case OPT_START_GATE:
		if (!vmm_parse_uint(arg, 3, INT_MAX, &n) || fcntl((int)n, F_GETFD) < 0)
			return fail(err, errlen,
				    "--start-gate wants an open file descriptor >= 3, got '%s'",
				    arg);
		a->start_gate = (int)n;
		return 0;
	case OPT_BOOT_TIMEOUT:
		if (!vmm_parse_uint(arg, 0, VMM_MAX_BOOT_TIMEOUT, &n))
			return fail(err, errlen, "--boot-timeout wants seconds 0..%d, got '%s'",
				    VMM_MAX_BOOT_TIMEOUT, arg);
		c->boot_timeout = (unsigned int)n;
		return 0;
	}
	return fail(err, errlen, "option %d has no parser", opt);
}

/* One fixed option (each may be given once). */
static int parse_fixed(struct vmm_args *a, int opt, const char *arg, char *err, size_t errlen)
{
	struct vm_config *c = &a->vm;

	switch (opt) {
	case OPT_KERNEL:
		c->kernel = arg;
		return 0;
	case OPT_INITRD:
		c->initrd = arg;
		return 0;
	case OPT_CMDLINE:
		c->cmdline = arg;
		return 0;
	case OPT_CONTROL:
		if (!*arg)
			return fail(err, errlen, "--control needs a path");
		c->control = arg;
		return 0;
	case OPT_BOOT_MARKER:
		if (!*arg || strpbrk(arg, "\r\n"))
			return fail(err, errlen, "--boot-marker must be a non-empty single line");
		c->boot_marker = arg;
		return 0;
	case OPT_NO_MAP:
		c->no_map = true;
		return 0;
	case OPT_RESTORE:
		if (!*arg)
			return fail(err, errlen, "--restore needs a directory");
		c->restore = arg;
		return 0;
	}
	return parse_value(a, opt, arg, err, errlen);
}

/* What no single option can check. */
static int check_combination(const struct vm_config *c, char *err, size_t errlen)
{
	/* A restored guest is already running: it needs no kernel, initrd,
	 * command line or boot. */
	if (c->restore && (c->kernel || c->initrd || c->cmdline || c->boot_marker))
		return fail(err, errlen,
			    "--restore resumes a snapshot: no --kernel, --initrd, --cmdline or "
			    "--boot-marker");
	if (!c->kernel && !c->restore)
		return fail(err, errlen, "--kernel is required");
	if (c->boot_marker && !c->boot_timeout)
		return fail(err, errlen, "--boot-marker needs a non-zero --boot-timeout");
	if (c->control && !strncmp(c->console, "unix:", strlen("unix:")) &&
	    !strcmp(c->console + strlen("unix:"), c->control))
		return fail(err, errlen, "--control and --console use the same socket '%s'",
			    c->control);
	return 0;
}

int vmm_parse_args(int argc, char **argv, struct vmm_args *a, char *err, size_t errlen)
{
	struct option opts[NR_FIXED + MAX_DEV_TYPES + 1];
	const struct vmm_device *dev;
	bool seen[OPT_END - OPT_KERNEL] = { false };
	int opt;

	*a = (struct vmm_args){ .exit_fd = -1,
				.start_gate = -1,
				.vm = { .cpus = 1,
					.mem_mib = VMM_DEFAULT_MEM_MIB,
					.boot_timeout = VMM_DEFAULT_BOOT_TIMEOUT,
					.console = "stdio",
					.vsock_peer_fd = -1 } };
	build_opts(opts);
	opterr = 0;
	optind = 0; /* glibc: start afresh, also after an earlier parse */
	while ((opt = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		if (opt >= OPT_DEV) {
			dev = vmm_devices[opt - OPT_DEV];
			if (add_dev(&a->vm, dev, dev->metavar ? optarg : NULL, err, errlen))
				return -1;
			continue;
		}
		if (opt >= OPT_KERNEL) {
			if (seen[opt - OPT_KERNEL])
				return fail(err, errlen, "option --%s given twice",
					    opts[opt - OPT_KERNEL].name);
			seen[opt - OPT_KERNEL] = true;
			if (parse_fixed(a, opt, optarg, err, errlen))
				return -1;
			continue;
		}
		switch (opt) {
		case 'v':
			a->verbose++;
			break;
		case 'h':
			a->help = true;
			return 0;
		case ':':
			return fail(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	return check_combination(&a->vm, err, errlen);
}
