/*
 * MSR values at boot. KVM_SET_MSRS returns how many entries it set and stops
 * at the first one it refuses, so anything short of all of them is an error
 * (Firecracker VcpuSetMsrsIncomplete). Must run after KVM_SET_CPUID2: KVM
 * decides which MSRs exist from the guest's CPUID.
 */
#include "vmm/arch/x86/msr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/log.h"

/* SDM vol. 4, table 2-2 (architectural MSRs). */
#define MSR_IA32_TSC	      0x10
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_STAR	      0xc0000081
#define MSR_LSTAR	      0xc0000082
#define MSR_CSTAR	      0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WB		6ULL

unsigned int msr_boot_entries(struct kvm_msr_entry *e)
{
	static const struct {
		uint32_t idx;
		uint64_t val;
	} boot[MSR_BOOT_COUNT] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		/* MTRRs on, default type write-back: no uncached RAM. */
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};

	for (unsigned int i = 0; i < MSR_BOOT_COUNT; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].index = boot[i].idx;
		e[i].data = boot[i].val;
	}
	return MSR_BOOT_COUNT;
}

int msr_setup(int vcpu_fd)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + MSR_BOOT_COUNT * sizeof(m->entries[0]));
	int ret;

	if (!m)
		return -ENOMEM;
	m->nmsrs = msr_boot_entries(m->entries);
	ret = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (ret < 0) {
		ret = err_ret(-errno, "KVM_SET_MSRS: %m");
	} else if ((unsigned int)ret < m->nmsrs) {
		ret = err_ret(-EINVAL, "KVM_SET_MSRS set %d of %u (refused MSR 0x%x)", ret,
			      m->nmsrs, m->entries[ret].index);
	} else {
		ret = 0;
	}
	free(m);
	return ret;
}
