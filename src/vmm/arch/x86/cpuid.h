/* Guest CPUID: KVM's supported set, adjusted per vCPU (KVM_GET_SUPPORTED_CPUID, Documentation/virt/kvm/api.rst; bits in cpuid.c). */
#ifndef SILO_VMM_X86_CPUID_H
#define SILO_VMM_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

/* KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd, growing on E2BIG. Caller frees. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/* Adjust a copy of the supported set for vCPU id of nr_vcpus. */
void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int id, unsigned int nr_vcpus, bool tsc_deadline);
/* KVM_SET_CPUID2 on a vCPU with the adjusted copy of base. -errno. */
int cpuid_setup(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned int id, unsigned int nr_vcpus,
		bool tsc_deadline);

#endif
