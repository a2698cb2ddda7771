/* x86 KVM setup (kvm.c): the steps of vm_create before memory and devices. */
#ifndef SILO_VMM_ARCH_X86_KVM_H
#define SILO_VMM_ARCH_X86_KVM_H

struct vm;

/* Open /dev/kvm, check the API and capabilities, read the supported CPUID. */
int x86_kvm_open(struct vm *vm);
/* KVM_CREATE_VM and what must precede the first vCPU. */
int x86_vm_create(struct vm *vm);

#endif
