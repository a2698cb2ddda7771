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
#define CPUID_NENT_MAX 4096

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
		case 0x1:
			/* EBX: [31:24] initial APIC ID, [23:16] logical CPUs per
			 * package, [15:8] CLFLUSH line size in 8-byte units (64 B). */
			e->ebx = (id << 24) | ((nr & 0xff) << 16) | (8 << 8) | (e->ebx & 0xff);
			e->ecx |= 1u << 31;  /* hypervisor present */
			e->ecx &= ~(1u << 15); /* PDCM: no perf capabilities MSR */
			if (tsc_deadline)
				e->ecx |= 1u << 24;
			if (nr > 1)
				e->edx |= 1u << 28; /* HTT: EBX[23:16] is valid */
			else
				e->edx &= ~(1u << 28);
			break;
		case 0x6:
			e->ecx &= ~(1u << 3); /* no energy-performance bias MSR */
			break;
		case 0xa: {
			/* Architectural PMU: keep it only if it is version 2 with
			 * counters, else the guest pokes perf MSRs KVM may refuse. */
			unsigned int ver = e->eax & 0xff, cnt = (e->eax >> 8) & 0xff;
			if (ver != 2 || cnt == 0)
				e->eax = 0;
			break;
		}
		case 0xb:
		case 0x1f:
			e->edx = id; /* x2APIC ID on every subleaf */
			break;
		default:
			break;
		}
	}
}

int cpuid_setup(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned int id,
		unsigned int nr, bool tsc_deadline)
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
