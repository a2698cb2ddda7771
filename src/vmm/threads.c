/*
 * The VM's threads: the event thread (console, control, vsock, signals),
 * one I/O thread per device that asked for its own (devices/device.h
 * own_thread: the disks), the vCPUs, and after a restore with a working set
 * a short-lived prefetch thread; started in vm_run, stopped and joined in
 * vm_destroy, each in the order written beside it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "proto/contract.h"
#include "vmm/evloop.h"
#include "vmm/jail/seccomp.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/thread.h"
#include "vmm/vm_internal.h"

/* The body of the event thread and of each disk's I/O thread. */
static void run_loop(struct vm *vm, struct evloop *ev, const char *name, enum jail_role role)
{
	int ret;

	pthread_setname_np(pthread_self(), name);
	/* The filter before the loop's first wait: from then on the thread
	 * handles what the guest put in its queues. */
	if (jail_seccomp_enter(role)) {
		vm_request_exit(vm, VMM_EXIT_SETUP, "%s: %s", name, log_last_error());
		return;
	}
	ret = ev_run(ev);
	if (ret)
		vm_request_exit(vm, VMM_EXIT_INTERNAL, "%s: event loop failed: %s", name,
				strerror(-ret));
}
static void *ev_thread(void *arg)
{
	struct vm *vm = arg;

	run_loop(vm, vm->ev, "silo-ev", vm->cfg.vsock_peer_fd >= 0 ? JAIL_EVENT : JAIL_EVENT_PATHS);
	return NULL;
}
static void *io_thread(void *arg)
{
	struct vm_virtio *v = arg;
	struct vm *vm = v->host.opaque;
	char name[16];

	snprintf(name, sizeof(name), "silo-io%u", (unsigned int)(v - vm->virtio));
	run_loop(vm, v->io_ev, name, JAIL_IO);
	return NULL;
}
static void *prefetch_thread(void *arg)
{
	struct vm *vm = arg;

	pthread_setname_np(pthread_self(), "silo-prefetch");
	if (jail_seccomp_enter(JAIL_PREFETCH)) {
		vm_request_exit(vm, VMM_EXIT_SETUP, "prefetch: %s", log_last_error());
		return NULL;
	}
	vm_prefetch(vm);
	return NULL;
}

int vm_start_threads(struct vm *vm)
{
	int ret;

	/* The working set first: a head start on the guest, which runs
	 * beside it (snapshot/restore.c, vm_prefetch). */
	if (vm->wset_nr) {
		ret = vmm_thread_create(&vm->prefetch_thread, prefetch_thread, vm);
		if (ret) {
			log_err("starting the prefetch thread: %s", strerror(ret));
			return -1;
		}
		vm->prefetch_started = true;
	}

	/* Device threads before the vCPUs, which kick their queues. */
	ret = vmm_thread_create(&vm->ev_thread, ev_thread, vm);
	if (ret) {
		log_err("starting the event thread: %s", strerror(ret));
		return -1;
	}
	vm->ev_started = true;
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *v = &vm->virtio[i];

		if (!v->io_ev)
			continue;
		ret = vmm_thread_create(&v->io_thread, io_thread, v);
		if (ret) {
			log_err("starting the I/O thread of device %u: %s", i, strerror(ret));
			return -1;
		}
		v->io_started = true;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vcpu_start(&vm->vcpus[i])) {
			vm_request_exit(vm, VMM_EXIT_SETUP, "could not start vcpu %u", i);
			break;
		}
	}
	return 0;
}

void vm_stop_threads(struct vm *vm)
{
	/* Stop order: vCPUs (they call into devices), then the event loop and
	 * the disks' I/O loops (device backends); vm_destroy then frees the
	 * devices, memory and KVM fds. */
	vm_stop(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	if (vm->prefetch_started)
		pthread_join(vm->prefetch_thread, NULL); /* ends on its own */
	if (vm->ev_started) {
		ev_stop(vm->ev);
		pthread_join(vm->ev_thread, NULL);
	}
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i].io_started) {
			ev_stop(vm->virtio[i].io_ev);
			pthread_join(vm->virtio[i].io_thread, NULL);
		}
	}
}
