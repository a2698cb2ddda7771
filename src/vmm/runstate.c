/*
 * Run state: how a running VM is paused, resumed and asked to end, what
 * ends it (signals, the console's boot/panic/power-off events, the boot
 * timeout), and what it reports (status, metrics, the exit message).
 * vm->lock guards the state; vm->cond signals any change.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "proto/contract.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/evloop.h"
#include "vmm/jail/seccomp.h"
#include "vmm/log.h"
#include "vmm/vm_internal.h"

/* Under vm->lock: every thread that waits or runs is to wind down. */
static void set_stopping(struct vm *vm)
{
	vm->stopping = true;
	__atomic_store_n(&vm->attention, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
}

/* Out of KVM_RUN, so each vCPU sees vm->attention. */
static void kick_vcpus(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->exit_code < 0) {
		vm->exit_code = code;
		va_start(ap, fmt);
		vsnprintf(vm->exit_msg, sizeof(vm->exit_msg), fmt, ap);
		va_end(ap);
	}
	set_stopping(vm);
	pthread_mutex_unlock(&vm->lock);
	kick_vcpus(vm);
}

void vm_stop(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	set_stopping(vm);
	pthread_mutex_unlock(&vm->lock);
	kick_vcpus(vm);
}
int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return -ESHUTDOWN;
	}
	vm->pause_req = true;
	__atomic_store_n(&vm->attention, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	kick_vcpus(vm);
	/* Paused means every vCPU is out of KVM_RUN and parked. */
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping && vm->nr_paused + vm->nr_exited < vm->nr_vcpus)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stopping)
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->lock);
	if (!ret)
		log_info("paused");
	return ret;
}
int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	__atomic_store_n(&vm->attention, vm->stopping, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	log_info("resumed");
	return 0;
}
/* Since the vCPUs started, paused time included. */
static long long uptime_ms(const struct vm *vm)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - vm->t_start.tv_sec) * 1000LL +
	       (now.tv_nsec - vm->t_start.tv_nsec) / 1000000;
}
void vm_status(struct vm *vm, char *buf, size_t len)
{
	long long ms = uptime_ms(vm);
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->pause_req;
	pthread_mutex_unlock(&vm->lock);
	snprintf(buf, len, "%s vcpus=%u uptime_ms=%lld", paused ? "paused" : "running",
		 vm->nr_vcpus, ms);
}
void vm_metrics_json(struct vm *vm, FILE *f)
{
	fprintf(f,
		"{\"uptime_ms\":%lld,\"unhandled_pio\":%llu,\"unhandled_mmio\":%llu,"
		"\"irq_errs\":%llu,\"prefetched_pages\":%llu,\"devices\":[",
		uptime_ms(vm),
		(unsigned long long)__atomic_load_n(&vm->unhandled_pio, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&vm->unhandled_mmio, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&vm->irq_errs, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&vm->prefetched_pages, __ATOMIC_RELAXED));
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (i)
			fputc(',', f);
		virtio_mmio_metrics_json(vm->virtio[i].mmio, f);
	}
	fputs("]}", f);
}
const char *vm_exit_message(struct vm *vm)
{
	return vm->exit_msg;
}
void vm_console_event(void *opaque, enum console_event ev)
{
	struct vm *vm = opaque;

	switch (ev) {
	case CON_FIRST_OUTPUT:
	case CON_MARKER:
		if (ev == CON_MARKER || !vm->cfg.boot_marker) {
			pthread_mutex_lock(&vm->lock);
			vm->booted = true;
			pthread_cond_broadcast(&vm->cond);
			pthread_mutex_unlock(&vm->lock);
		}
		break;
	case CON_PANIC:
		/* Let the guest finish printing; its reset ends the VM. */
		vm->panic_seen = true;
		break;
	case CON_POWEROFF:
		/* Linux without ACPI has no power-off method: kernel_power_off()
		 * prints this after shutting devices down, then halts. */
		vm_request_exit(vm, VMM_EXIT_POWEROFF, "guest powered off");
		break;
	case CON_ESCAPE_STOP:
		vm_request_exit(vm, VMM_EXIT_STOPPED, "stopped from the console (Ctrl-A x)");
		break;
	}
}
static void on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_exit(vm, VMM_EXIT_STOPPED, "stopped by signal %s", strsignal((int)si.ssi_signo));
}
int vm_setup_signals(struct vm *vm)
{
	sigset_t sigs;

	/* Termination signals arrive on the event loop, not in a handler
	 * (blocked here, before any thread exists, so all threads inherit it). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	vm->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0 || ev_add(vm->ev, vm->sig_fd, EPOLLIN, on_signal, vm) < 0)
		return err_ret(-errno, "signalfd: %m");
	return 0;
}

/* Called with vm->lock held, after the boot deadline passed; drops it while
 * it requests the exit. */
static void boot_timed_out(struct vm *vm)
{
	pthread_mutex_unlock(&vm->lock);
	if (vm->cfg.boot_marker)
		vm_request_exit(vm, VMM_EXIT_BOOT_TIMEOUT,
				"boot timeout: guest did not print \"%s\" within %u s",
				vm->cfg.boot_marker, vm->cfg.boot_timeout);
	else
		vm_request_exit(vm, VMM_EXIT_BOOT_TIMEOUT,
				"boot timeout: no console output from the guest within %u s; "
				"if this host's /dev/kvm cannot run stock kernels (kvm-pvm), "
				"boot it in the lab: tests/lab/run silo-vmm ...",
				vm->cfg.boot_timeout);
	pthread_mutex_lock(&vm->lock);
}

int vm_wait_exit(struct vm *vm)
{
	struct timespec deadline;
	int code;

	/* Boot timeout: the guest must complete boot (first console byte, or
	 * the --boot-marker) in time, or the VM is stopped -- a guest that
	 * never speaks must not hang its caller. */
	deadline = vm->t_start;
	deadline.tv_sec += vm->cfg.boot_timeout;
	pthread_mutex_lock(&vm->lock);
	while (vm->exit_code < 0) {
		jail_test_poll(JAIL_MAIN);
		if (vm->cfg.boot_timeout && !vm->booted) {
			if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT &&
			    !vm->booted && vm->exit_code < 0)
				boot_timed_out(vm);
		} else {
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
	}
	code = vm->exit_code;
	pthread_mutex_unlock(&vm->lock);
	return code;
}

int vm_run(struct vm *vm)
{
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	if (vm_start_threads(vm))
		return VMM_EXIT_SETUP;
	/* Every thread is started (they cannot inherit this filter, which
	 * would narrow theirs): the main thread now only waits and tears
	 * down. */
	if (jail_seccomp_enter(JAIL_MAIN))
		vm_request_exit(vm, VMM_EXIT_SETUP, "main thread: %s", log_last_error());
	return vm_wait_exit(vm);
}
