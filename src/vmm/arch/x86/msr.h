/* Boot MSRs (Intel SDM Vol. 4 for the MSRs; the set Firecracker's msr.rs create_boot_msr_entries writes). */
#ifndef SILO_VMM_X86_MSR_H
#define SILO_VMM_X86_MSR_H

#include <linux/kvm.h>

#define MSR_BOOT_COUNT 11

/* Fill e[MSR_BOOT_COUNT]; returns the count. */
unsigned int msr_boot_entries(struct kvm_msr_entry *e);
/* KVM_SET_MSRS; fails unless every entry was accepted. -errno. */
int msr_setup(int vcpu_fd);

#endif
