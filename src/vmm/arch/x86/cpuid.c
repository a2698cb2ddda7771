/*
 * CPUID for the guest: start from what KVM supports on this host and adjust a
 * few leaves the way kvmtool (x86/cpuid.c) and Firecracker (cpuid/normalize.rs)
 * do. The KVM signature leaves (0x40000000..) are kept untouched: the guest
 * needs them to find kvmclock and paravirt features.
 */
#include "vmm/arch/x86/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/log.h"

#define CPUID_NENT_START 100
#define CPUID_NENT_MAX	 4096

/*
 * Leaves and bits, as the Intel SDM Vol. 2A, "CPUID--CPU Identification"
 * (Table "Information Returned by CPUID Instruction" and the leaf 01H tables
 * "Feature Information Returned in the ECX/EDX Register") names them.
 */
#define CPUID_LEAF_FEATURES    0x1  /* 01H: version and feature information */
#define CPUID_LEAF_POWER       0x6  /* 06H: thermal and power management */
#define CPUID_LEAF_PMU	       0xa  /* 0AH: architectural performance monitoring */
#define CPUID_LEAF_TOPOLOGY    0xb  /* 0BH: extended topology enumeration */
#define CPUID_LEAF_TOPOLOGY_V2 0x1f /* 1FH: V2 extended topology enumeration */

/* 01H EBX: [31:24] initial APIC ID, [23:16] maximum addressable logical
 * processor IDs per package, [15:8] CLFLUSH line size in 8-byte units,
 * [7:0] brand index (kept). */
#define CPUID_1_EBX_APIC_ID_SHIFT    24
#define CPUID_1_EBX_NR_LOGICAL_SHIFT 16
#define CPUID_1_EBX_CLFLUSH_SHIFT    8
#define CPUID_1_EBX_CLFLUSH_64B	     8 /* 64-byte lines */
#define CPUID_1_EBX_BRAND_MASK	     0xffu
#define CPUID_1_ECX_PDCM	     (1u << 15) /* IA32_PERF_CAPABILITIES MSR */
#define CPUID_1_ECX_TSC_DEADLINE     (1u << 24) /* LAPIC TSC-deadline timer mode */
/* Bit 31: always 0 on hardware; set by a hypervisor for its guests (AMD64
 * APM Vol. 3, Appendix E, CPUID Fn0000_0001_ECX bit 31). */
#define CPUID_1_ECX_HYPERVISOR	     (1u << 31)
#define CPUID_1_EDX_HTT		     (1u << 28) /* EBX[23:16] is valid */
/* 06H ECX bit 3: IA32_ENERGY_PERF_BIAS (performance-energy bias) MSR. */
#define CPUID_6_ECX_EPB		     (1u << 3)
/* 0AH EAX: [7:0] version ID, [15:8] general-purpose counters per logical CPU. */
#define CPUID_A_EAX_VERSION(eax)     ((eax)&0xff)
#define CPUID_A_EAX_NR_COUNTERS(eax) (((eax) >> 8) & 0xff)

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned int n = CPUID_NENT_START; n <= CPUID_NENT_MAX; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return err_ret(-errno, "KVM_GET_SUPPORTED_CPUID: %m");
	}
	return err_ret(-E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int id, unsigned int nr, bool tsc_deadline)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case CPUID_LEAF_FEATURES:
			e->ebx = (id << CPUID_1_EBX_APIC_ID_SHIFT) |
				 ((nr & 0xff) << CPUID_1_EBX_NR_LOGICAL_SHIFT) |
				 (CPUID_1_EBX_CLFLUSH_64B << CPUID_1_EBX_CLFLUSH_SHIFT) |
				 (e->ebx & CPUID_1_EBX_BRAND_MASK);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			e->ecx &= ~CPUID_1_ECX_PDCM; /* no perf capabilities MSR */
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (nr > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case CPUID_LEAF_POWER:
			e->ecx &= ~CPUID_6_ECX_EPB; /* no energy-performance bias MSR */
			break;
		case CPUID_LEAF_PMU:
			/* Architectural PMU: keep it only if it is version 2 with
			 * counters, else the guest pokes perf MSRs KVM may refuse. */
			if (CPUID_A_EAX_VERSION(e->eax) != 2 ||
			    CPUID_A_EAX_NR_COUNTERS(e->eax) == 0)
				e->eax = 0;
			break;
		case CPUID_LEAF_TOPOLOGY:
		case CPUID_LEAF_TOPOLOGY_V2:
			e->edx = id; /* x2APIC ID on every subleaf */
			break;
		default:
			break;
		}
	}
}

int cpuid_setup(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned int id, unsigned int nr,
		bool tsc_deadline)
{
	size_t sz = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, base, sz);
	cpuid_adjust(c, id, nr, tsc_deadline);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = err_ret(-errno, "KVM_SET_CPUID2 (vcpu %u): %m", id);
	free(c);
	return ret;
}
