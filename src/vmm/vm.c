/*
 * VM construction and lifetime. vm_create follows the order the KVM API
 * asks for (Documentation/virt/kvm/api.rst); each step says why it sits
 * where it is. The steps live in arch/x86/kvm.c (KVM and the VM fd),
 * vm_mem.c (guest RAM), vm_devices.c (devices), load.c (kernel and boot
 * tables), threads.c and runstate.c (running, pausing, ending).
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/arch/x86/kvm.h"
#include "vmm/control.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm_internal.h"

static void trace_mark(struct vm *vm, const char *name)
{
	struct timespec ts;

	if (!vm->cfg.trace_t0_ns || vm->nr_trace == sizeof(vm->trace) / sizeof(vm->trace[0]))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	vm->trace[vm->nr_trace].name = name;
	vm->trace[vm->nr_trace++].ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
/* The struct with every fd at -1 and the run state at "running". */
static struct vm *vm_alloc(const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	pthread_condattr_t ca;

	if (!vm)
		return NULL;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->sig_fd = vm->pagemap_fd = -1;
	vm->exit_code = -1;
	vm->nr_vcpus = cfg->cpus;
	for (unsigned int i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpus[i] = (struct vcpu){ .vm = vm, .fd = -1 };
	pthread_mutex_init(&vm->lock, NULL);
	/* The boot deadline is on CLOCK_MONOTONIC; the default condvar clock is
	 * CLOCK_REALTIME, against which that deadline lies decades in the past. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	return vm;
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct vm *vm = vm_alloc(cfg);
	int ret;

	*out = vm;
	if (!vm)
		return -ENOMEM;
	if ((ret = vcpu_kick_signal_init()))
		return err_ret(ret, "installing the kick signal: %s", strerror(-ret));
	/* A snapshot is read and checked before anything is built. */
	if (cfg->restore && (ret = vm_restore_open(vm)))
		return ret;
	if ((ret = x86_kvm_open(vm)))
		return ret;
	trace_mark(vm, "kvm");
	if ((ret = x86_vm_create(vm)) || (ret = vm_setup_memory(vm)))
		return ret;
	trace_mark(vm, "vm+mem");
	if ((ret = ev_create(&vm->ev)))
		return err_ret(ret, "event loop: %s", strerror(-ret));
	/* Before any thread exists, so every thread inherits the blocked set. */
	if ((ret = vm_setup_signals(vm)))
		return ret;
	ret = console_open(&vm->con, cfg->console ? cfg->console : "stdio", cfg->console_max,
			   cfg->boot_marker, vm_console_event, vm);
	if (ret)
		return ret;
	/* Devices before boot params: the command line declares them. */
	if ((ret = vm_setup_devices(vm)))
		return ret;
	trace_mark(vm, "devices");
	if (!cfg->restore && (ret = vm_load_guest(vm)))
		return ret;
	trace_mark(vm, "load");
	if (cfg->control && (ret = control_create(&vm->ctl, cfg->control, vm)))
		return ret;
	/* For `snapshot` (snapshot/save.c): which pages were never touched;
	 * for `working-set` (a restored VM): which pages the guest wrote.
	 * Opened now because the jailed process can open nothing. */
	if (cfg->control)
		vm->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	/* vCPUs last: the boot CPU's registers need the kernel entry; a
	 * restore sets vCPUs, VM and devices from the snapshot instead. */
	if (cfg->restore) {
		ret = vm_restore_state(vm);
		vm_restore_close(vm);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; !cfg->restore && i < vm->nr_vcpus; i++)
		if ((ret = vcpu_init(&vm->vcpus[i], vm, i)))
			return ret;
	trace_mark(vm, "vcpus");
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* Threads first (threads.c says in which order), then devices, then
	 * memory and KVM fds. */
	vm_stop_threads(vm);
	if (vm->serial)
		serial_flush(vm->serial);
	control_destroy(vm->ctl);
	console_close(vm->con);
	serial_destroy(vm->serial);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		virtio_mmio_destroy(vm->virtio[i].mmio);
		close(vm->virtio[i].irqfd);
		ev_destroy(vm->virtio[i].io_ev); /* after the transport left it */
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	if (vm->pagemap_fd >= 0)
		close(vm->pagemap_fd);
	ev_destroy(vm->ev);
	guest_mem_unmap(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	free(vm->wset); /* its thread never ran */
	vm_restore_close(vm);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
