/* One thread per vCPU running KVM_RUN and dispatching exits to the buses. */
#ifndef SILO_VMM_VCPU_H
#define SILO_VMM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct kvm_run;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t unknown_exits;
};

/* Process-wide: install the no-op kick signal handler (once). -errno. */
int vcpu_kick_signal_init(void);
/* KVM_CREATE_VCPU + mmap kvm_run only (a restore sets the state). -errno. */
int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id);
/* KVM_CREATE_VCPU + mmap kvm_run + CPUID, MSRs, regs, FPU, LAPIC. -errno. */
int vcpu_init(struct vcpu *v, struct vm *vm, unsigned int id);
int vcpu_start(struct vcpu *v);
/* Make the vCPU leave KVM_RUN and look at the VM run state. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif
