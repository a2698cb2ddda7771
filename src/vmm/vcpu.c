/*
 * vCPU threads. Each runs KVM_RUN in a loop and handles port-I/O and MMIO
 * exits through the VM's buses; every way the guest can end the VM maps to
 * one exit code (enum vmm_exit, proto/contract.h).
 *
 * Pause/stop: the requester sets vm->attention, then kicks each vCPU:
 * run->immediate_exit = 1 and a real-time signal (api.rst, "immediate_exit";
 * Firecracker register_kick_signal_handler). If the thread is inside KVM_RUN
 * the signal makes it return -EINTR; if it is about to enter, immediate_exit
 * makes KVM_RUN return -EINTR at once. Either way the loop top then sees
 * attention, so no kick is lost.
 */
#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/arch/x86/cpuid.h"
#include "vmm/thread.h"
#include "vmm/arch/x86/msr.h"
#include "vmm/arch/x86/regs.h"
#include "proto/contract.h"
#include "vmm/jail/seccomp.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define SIG_KICK (SIGRTMIN + 1)

/* The one piece of process-global state: a signal handler must be global. */
static void kick_handler(int sig)
{
	(void)sig;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

int vcpu_kick_signal_init(void)
{
	/* No SA_RESTART: KVM_RUN must return -EINTR to the loop. */
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIG_KICK, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id)
{
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return err_ret(-errno, "KVM_CREATE_VCPU %u: %m", id);
	v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
		      0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return err_ret(-errno, "mmap kvm_run of vcpu %u: %m", id);
	}
	return 0;
}

int vcpu_init(struct vcpu *v, struct vm *vm, unsigned int id)
{
	int ret = vcpu_create(v, vm, id);

	if (ret)
		return ret;
	/*
	 * Order matters (Firecracker configure_vcpus_for_boot):
	 * 1. CPUID first: KVM derives the set of valid MSRs and XSAVE state
	 *    from the guest CPUID, so MSRs set before it can be refused.
	 * 2. MSRs.
	 * 3. Registers: only the boot CPU; the in-kernel LAPIC holds the other
	 *    vCPUs in wait-for-SIPI and INIT/SIPI gives them their state.
	 * 4. FPU.
	 * 5. LAPIC LINT0/LINT1 last: KVM_SET_CPUID2 may reset LAPIC state.
	 */
	ret = cpuid_setup(v->fd, vm->cpuid, id, vm->nr_vcpus, vm->tsc_deadline);
	if (!ret)
		ret = msr_setup(v->fd);
	if (!ret && id == 0)
		ret = regs_setup_boot_cpu(v->fd, vm->entry);
	if (!ret)
		ret = regs_setup_fpu(v->fd);
	if (!ret)
		ret = regs_setup_lapic(v->fd);
	return ret;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, SIG_KICK);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void trace_first_run(struct vm *vm)
{
	struct timespec cpu;
	int64_t t0 = vm->cfg.trace_t0_ns, prev = t0;
	char line[512];
	size_t n;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	n = (size_t)snprintf(
		line, sizeof(line),
		"silo-vmm: trace: first KVM_RUN %lld us after start (process cpu %lld us;",
		(long long)(mono_ns() - t0) / 1000,
		(long long)cpu.tv_sec * 1000000 + cpu.tv_nsec / 1000);
	/* Per setup phase, so a slow step is visible without a profiler. */
	for (unsigned int i = 0; i < vm->nr_trace && n < sizeof(line) - 2; i++) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %lld", vm->trace[i].name,
				      (long long)(vm->trace[i].ns - prev) / 1000);
		prev = vm->trace[i].ns;
	}
	if (n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	n += (size_t)snprintf(line + n, sizeof(line) - n, ")\n");
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* Block while paused; returns false when the vCPU must exit. */
static bool check_attention(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool go;

	pthread_mutex_lock(&vm->lock);
	while (vm->pause_req && !vm->stopping) {
		vm->nr_paused++;
		pthread_cond_broadcast(&vm->cond);
		pthread_cond_wait(&vm->cond, &vm->lock);
		vm->nr_paused--;
	}
	go = !vm->stopping;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static const char *internal_suberror(uint32_t s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	default:
		return "internal error";
	}
}

#define LAB_HINT                                                                          \
	"this host's /dev/kvm cannot run this guest (e.g. kvm-pvm inside a VM runs only " \
	"PVM-enabled kernels); boot it in the lab: tests/lab/run silo-vmm ..."

static void exit_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	unsigned long long rip = 0;
	char data[96] = "";
	size_t off = 0;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		rip = regs.rip;
	for (uint32_t i = 0; i < run->internal.ndata && i < 4 && off < sizeof(data); i++)
		off += (size_t)snprintf(data + off, sizeof(data) - off, " %#llx",
					(unsigned long long)run->internal.data[i]);
	vm_request_exit(
		v->vm, VMM_EXIT_KVM_ERROR,
		"KVM internal error on vcpu %u: %s (suberror %u, data:%s) at guest RIP %#llx; " LAB_HINT,
		v->id, internal_suberror(run->internal.suberror), run->internal.suberror,
		off ? data : " none", rip);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (rep outsb/insb) repeats count times over consecutive data. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!bus_access(&v->vm->pio, run->io.port, data, run->io.size, out))
			log_debug("unhandled %s port %#x", out ? "out" : "in", run->io.port);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		warn_once(&v->vm->unhandled_mmio, "bad MMIO length %u at %#llx", len,
			  (unsigned long long)run->mmio.phys_addr);
		return;
	}
	if (!bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
		warn_once(&v->vm->unhandled_mmio, "guest touched unmapped MMIO %#llx",
			  (unsigned long long)run->mmio.phys_addr);
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC, which we always have. */
		vm_request_exit(vm, VMM_EXIT_POWEROFF, "guest halted (vcpu %u)", v->id);
		return false;
	case KVM_EXIT_SHUTDOWN:
		/* Triple fault; after a panic this is the guest rebooting. */
		if (vm->panic_seen)
			vm_request_exit(vm, VMM_EXIT_PANIC, "guest kernel panic");
		else
			vm_request_exit(vm, VMM_EXIT_TRIPLE_FAULT,
					"guest triple fault (KVM_EXIT_SHUTDOWN) on vcpu %u", v->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_exit(vm, VMM_EXIT_POWEROFF, "guest powered off");
			break;
		case KVM_SYSTEM_EVENT_CRASH:
			vm_request_exit(vm, VMM_EXIT_PANIC, "guest reported a crash");
			break;
		default:
			vm_request_exit(vm, vm->panic_seen ? VMM_EXIT_PANIC : VMM_EXIT_RESET,
					vm->panic_seen ? "guest kernel panic" : "guest reset");
			break;
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_exit(
			vm, VMM_EXIT_KVM_ERROR,
			"KVM_RUN failed to enter the guest on vcpu %u (hardware reason %#llx); " LAB_HINT,
			v->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		exit_internal_error(v);
		return false;
	case KVM_EXIT_INTR:
		return true;
	default:
		warn_once(&v->unknown_exits, "vcpu %u: unexpected exit reason %u", v->id,
			  run->exit_reason);
		return true;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	/* The filter before the first KVM_RUN: no guest instruction runs on
	 * an unfiltered thread. */
	if (jail_seccomp_enter(JAIL_VCPU)) {
		vm_request_exit(vm, VMM_EXIT_SETUP, "vcpu %u: %s", v->id, log_last_error());
		goto out;
	}
	for (;;) {
		jail_test_poll(JAIL_VCPU);
		if (__atomic_load_n(&vm->attention, __ATOMIC_SEQ_CST) && !check_attention(v))
			break;
		if (v->id == 0 && vm->cfg.trace_t0_ns) {
			trace_first_run(vm);
			vm->cfg.trace_t0_ns = 0;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Kicked: clear before looking at attention (see top). */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			if (errno == ENOSYS || errno == EFAULT)
				vm_request_exit(vm, VMM_EXIT_KVM_ERROR,
						"KVM_RUN on vcpu %u: %m; " LAB_HINT, v->id);
			else
				vm_request_exit(vm, VMM_EXIT_INTERNAL, "KVM_RUN on vcpu %u: %m",
						v->id);
			break;
		}
		if (!handle_exit(v))
			break;
	}
out:
	pthread_mutex_lock(&vm->lock);
	vm->nr_exited++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = vmm_thread_create(&v->thread, vcpu_thread, v);

	if (ret)
		return err_ret(-ret, "starting vcpu %u: %s", v->id, strerror(ret));
	v->started = true;
	return 0;
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}
