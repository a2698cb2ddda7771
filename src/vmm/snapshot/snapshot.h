/*
 * Snapshot and restore of a whole VM (docs/snapshots.md): save.c writes
 * DIR/mem and DIR/state (control `snapshot DIR`), restore.c builds a VM
 * from them (--restore DIR). The state file format is state.h.
 */
#ifndef SILO_VMM_SNAPSHOT_SNAPSHOT_H
#define SILO_VMM_SNAPSHOT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Bytes of XSAVE state per vCPU: KVM_CAP_XSAVE2's size, or struct kvm_xsave. */
size_t snap_xsave_size(int kvm_fd);

/* --restore, before anything is built: read and check DIR/state (format,
 * CRCs, --cpus, --memory). -errno with the reason recorded (err_ret). */
int vm_restore_open(struct vm *vm);
/* Guest RAM as a private (copy-on-write) mapping of DIR/mem. */
int vm_restore_memory(struct vm *vm);
/* After the devices are built: create the vCPUs and set the saved state
 * of vCPUs, VM, devices and UART in the order KVM asks for. */
int vm_restore_state(struct vm *vm);
/* Control `working-set`: a restored VM's working set into fd (wset.h);
 * *pages is its size. -errno with the reason in err. */
int vm_working_set(struct vm *vm, int fd, uint64_t *pages, char *err, size_t errlen);
/* A restored VM's working set in (its own thread, threads.c), then freed. */
void vm_prefetch(struct vm *vm);
/* Free what vm_restore_open kept. */
void vm_restore_close(struct vm *vm);

#endif
