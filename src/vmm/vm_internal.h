/*
 * What the files that make up struct vm's implementation share (vm.c builds
 * and frees the VM and calls the rest in order; see each file's top comment).
 * Not for devices or main.c: they use vm.h.
 */
#ifndef SILO_VMM_VM_INTERNAL_H
#define SILO_VMM_VM_INTERNAL_H

#include "vmm/console.h"
#include "vmm/vm.h"

/* runstate.c: signals end the VM through the event loop. */
int vm_setup_signals(struct vm *vm);
/* runstate.c: boot, panic, power-off and Ctrl-A x, as the console sees them. */
void vm_console_event(void *opaque, enum console_event ev);
/* runstate.c: mark the VM stopping (no exit code) and kick the vCPUs. */
void vm_stop(struct vm *vm);
/* runstate.c: wait until an exit is requested (or the boot times out). */
int vm_wait_exit(struct vm *vm);

/* threads.c: the event, I/O and vCPU threads; 0 or -1 (nothing to run). */
int vm_start_threads(struct vm *vm);
/* threads.c: stop and join every thread that was started. */
void vm_stop_threads(struct vm *vm);

/* vm_devices.c: the legacy devices and the table's devices (devices/device.h). */
int vm_setup_devices(struct vm *vm);
/* vm_mem.c: guest RAM and its KVM memory slots. */
int vm_setup_memory(struct vm *vm);
/* load.c: kernel, initrd, boot tables and command line into guest RAM. */
int vm_load_guest(struct vm *vm);

#endif
