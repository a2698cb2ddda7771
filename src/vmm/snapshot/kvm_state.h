/* vCPU and VM (PIT, clock, irqchips) state to and from a snapshot (kvm_state.c). */
#ifndef SILO_VMM_SNAPSHOT_KVM_STATE_H
#define SILO_VMM_SNAPSHOT_KVM_STATE_H

#include <stddef.h>
#include <stdint.h>

struct snap_writer;
struct snap_reader;

/* More CPUID entries than KVM_GET_SUPPORTED_CPUID returns on any host. */
#define KVM_SNAP_CPUID_MAX 256

/* The MSRs to save (KVM's list intersected with an allow-list), TSC_DEADLINE last. */
int snap_msr_list(int kvm_fd, uint32_t **out, unsigned int *nr);
/* Save vCPU id (fd) in Firecracker's order; xsave_size from KVM_CAP_XSAVE2 or 4096. */
int snap_save_vcpu(struct snap_writer *w, int fd, unsigned int id, const uint32_t *msrs,
		   unsigned int nr_msrs, size_t xsave_size);
/* PIT2, kvmclock, the three irqchips. */
int snap_save_vm(struct snap_writer *w, int vm_fd);

/* Restore vCPU id (created, never run) in the order KVM needs; -errno, message recorded. */
int snap_restore_vcpu(const struct snap_reader *r, int fd, unsigned int id, size_t xsave_size);
/* After every vCPU: PIT2, kvmclock (not advanced by wall time), irqchips. */
int snap_restore_vm(const struct snap_reader *r, int vm_fd);

#endif
