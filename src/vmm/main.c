/*
 * silo-vmm's main: parse the command line (args.c), read the environment,
 * build and run the VM (vm.c), report how it ended. The options, exit codes
 * and environment are documented in docs/silo-vmm.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/args.h"
#include "vmm/jail/jail.h"
#include "proto/contract.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* --exit-fd: the supervisor's pipe for the exit reason (src/sandbox/supervise.c). */
static int exit_fd = -1;
/* --start-gate: the supervisor's word that the guest may run. */
static int start_gate = -1;
/* SILO_VMM_JAIL=0: no namespaces, rlimits or capability drop (debugging). */
static bool jail_process = true;

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

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* SILO_VMM_JAIL: unset or 1, the process-wide jail (jail/process.c); 0,
 * none. SILO_VMM_SECCOMP: unset or 1, the filters (src/vmm/jail/); "log", the
 * filters let everything through and the kernel logs what they would have
 * refused (writing an allowlist); 0, none (debugging with gdb or strace). */
static int read_jail_env(void)
{
	const char *env = getenv("SILO_VMM_JAIL");

	if (env && *env && strcmp(env, "0") && strcmp(env, "1"))
		return usage_error("SILO_VMM_JAIL wants 1 or 0, got '%s'", env);
	jail_process = !env || strcmp(env, "0");
	env = getenv("SILO_VMM_SECCOMP");
#ifdef __SANITIZE_ADDRESS__
	/* The sanitizer runtime makes calls of its own at any time (leak
	 * checks at exit ptrace the threads): an ASan build loads the same
	 * filters in log mode. */
	enum jail_mode mode = JAIL_SECCOMP_LOG;
#else
	enum jail_mode mode = JAIL_SECCOMP_KILL;
#endif

	if (env && !strcmp(env, "0"))
		mode = JAIL_SECCOMP_OFF;
	else if (env && !strcmp(env, "log"))
		mode = JAIL_SECCOMP_LOG;
	else if (env && *env && strcmp(env, "1"))
		return usage_error("SILO_VMM_SECCOMP wants 1, log or 0, got '%s'", env);
	if (jail_seccomp_init(mode, exit_fd) < 0) {
		fprintf(stderr, "silo-vmm: %s\n", log_last_error());
		return VMM_EXIT_SETUP;
	}
	return 0;
}

/* The environment's knobs (usage text, docs/silo-vmm.md); 0 or an exit code. */
static int read_env(struct vm_config *cfg, int64_t t0)
{
	const char *trace, *env;

	trace = getenv("SILO_VMM_TRACE_START");
	if (trace && *trace && strcmp(trace, "0")) {
		long long us = strtoll(trace, NULL, 10);
		cfg->trace_t0_ns = us > 1 ? us * 1000 : t0;
	}
	/* The lab's shadow paging runs guests ~2x faster on huge host pages;
	 * the product keeps 4 KiB pages for memory (vm_mem.c). */
	env = getenv("SILO_VMM_HUGEPAGES");
	cfg->huge_pages = env && !strcmp(env, "1");
	/* The lab's nested guests can take seconds to answer a vsock connect
	 * while they boot dockerd; the product keeps VSOCK_CONNECT_TIMEOUT_MS (2 s). */
	env = getenv("SILO_VMM_VSOCK_CONNECT_MS");
	if (env && *env) {
		char *end;
		unsigned long ms = strtoul(env, &end, 10);
		if (*end || ms < 1 || ms > 600000)
			return usage_error("SILO_VMM_VSOCK_CONNECT_MS wants 1..600000, got '%s'",
					   env);
		cfg->vsock_connect_ms = (unsigned int)ms;
	}
	return read_jail_env();
}

/* --start-gate: everything before the guest's first instruction is done
 * (the VM built or restored, the jail entered); the supervisor, which
 * starts the network broker beside us, says with one byte that the guest
 * may run, or with end of file (it closed the pipe: the broker failed, or
 * it died) that it must not: a restored guest that ran would have changed
 * the sandbox's disk under the template's memory. 0 or -errno. */
static int wait_gate(void)
{
	char go;
	ssize_t n;

	while ((n = read(start_gate, &go, 1)) < 0 && errno == EINTR)
		;
	int e = n < 0 ? errno : ECANCELED; /* before close may change errno */
	close(start_gate);
	start_gate = -1;
	if (n == 1)
		return 0;
	return err_ret(-e, "the start was called off before the guest ran%s%s",
		       n < 0 ? ": " : " (--start-gate closed)", n < 0 ? strerror(e) : "");
}

/* Build, run and tear down the VM; the process exit code. */
static int run(const struct vm_config *cfg)
{
	struct vm *vm = NULL;
	const char *stats;
	int ret, code;

	ret = vm_create(&vm, cfg);
	if (ret) {
		/* The failing step recorded its context with err_ret(). */
		const char *ctx = log_last_error();
		report_exit("", VMM_EXIT_SETUP, "setup failed: %s", *ctx ? ctx : strerror(-ret));
		vm_destroy(vm);
		return VMM_EXIT_SETUP;
	}
	/* The VM is built (files open, sockets bound) and no thread runs yet:
	 * the one point where the process-wide jail fits (jail/process.c). */
	if (jail_process && (ret = jail_enter_process())) {
		report_exit("", VMM_EXIT_SETUP, "setup failed: %s", log_last_error());
		vm_destroy(vm);
		return VMM_EXIT_SETUP;
	}
	if (start_gate >= 0 && (ret = wait_gate())) {
		report_exit("", VMM_EXIT_SETUP, "setup failed: %s", log_last_error());
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

int main(int argc, char **argv)
{
	int64_t t0 = mono_ns();
	struct vmm_args a;
	char err[512];
	int ret;

	ret = vmm_parse_args(argc, argv, &a, err, sizeof(err));
	exit_fd = a.exit_fd;
	if (exit_fd >= 0)
		fcntl(exit_fd, F_SETFD, FD_CLOEXEC);
	start_gate = a.start_gate;
	if (start_gate >= 0)
		fcntl(start_gate, F_SETFD, FD_CLOEXEC);
	if (ret)
		return usage_error("%s", err);
	if (a.help) {
		vmm_usage(stdout);
		return 0;
	}
	log_set_level(a.verbose >= 2 ? LOG_DEBUG : a.verbose ? LOG_INFO : LOG_WARN);
	if ((ret = read_env(&a.vm, t0)))
		return ret;
	/* before any thread, and early: its namespaces are made while the VM
	 * is built (jail/maker.c) */
	if (jail_process && jail_start() < 0) {
		report_exit("", VMM_EXIT_SETUP, "setup failed: %s", log_last_error());
		return VMM_EXIT_SETUP;
	}
	/* Console and control sockets: a vanished reader must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Past RLIMIT_FSIZE (the supervisor's backstop behind the console cap)
	 * a write fails with EFBIG instead of killing the VM. */
	signal(SIGXFSZ, SIG_IGN);
	return run(&a.vm);
}
