/*
 * Guest memory: the RAM slots around the 32-bit MMIO hole (layout.h),
 * their KVM memory regions, and the benchmarks' accounting of what the
 * guest made resident.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm_internal.h"

int vm_setup_memory(struct vm *vm)
{
	uint64_t low;
	int ret;

	vm->ram_size = vm->cfg.mem_mib << 20;
	low = boot_low_ram(vm->ram_size);
	/* Slot 0 below the 32-bit MMIO hole, slot 1 (if any) from 4 GiB. */
	vm->mem.r[0] = (struct guest_region){ .gpa = 0, .size = low };
	vm->mem.nr = 1;
	if (vm->ram_size > low) {
		vm->mem.r[1] =
			(struct guest_region){ .gpa = GPA_HIGH_RAM, .size = vm->ram_size - low };
		vm->mem.nr = 2;
	}
	/*
	 * Each slot is its own mapping with PROT_NONE guards around it (mem.h):
	 * a device that indexes past guest RAM faults instead of writing into
	 * the VMM's heap. 4 KiB host pages whatever the host's THP default
	 * (SILO_VMM_HUGEPAGES=1 opts out, for the lab): a huge page would
	 * make the first guest touch cost 2 MiB of host memory, and idle
	 * sandboxes are sized by what they touch. The price is speed where the
	 * host shadows guest page tables (the lab's npt=0: exec round trip and
	 * file put about 2x slower there); with EPT/NPT it is TLB reach only.
	 */
	if (vm->cfg.restore) {
		if ((ret = vm_restore_memory(vm)))
			return ret;
	} else if ((ret = guest_mem_map(&vm->mem, vm->cfg.huge_pages))) {
		return err_ret(ret, "mmap %llu MiB guest RAM: %s",
			       (unsigned long long)vm->cfg.mem_mib, strerror(-ret));
	}
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = vm->mem.r[i].gpa,
			.memory_size = vm->mem.r[i].size,
			.userspace_addr = (uintptr_t)vm->mem.r[i].hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return err_ret(-errno, "KVM_SET_USER_MEMORY_REGION slot %u: %m", i);
	}
	return 0;
}
/*
 * Memory accounting for the benchmarks: guest pages resident in this process
 * (anonymous or mapped from the kernel/initrd files) counted with mincore(2),
 * against the process's peak RSS. The difference is the VMM's own overhead.
 */
void vm_print_mem_stats(struct vm *vm, FILE *f)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t resident = 0;
	struct rusage ru;

	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct guest_region *r = &vm->mem.r[i];
		size_t pages = (r->size + page - 1) / page;
		unsigned char *vec = malloc(pages);

		if (!vec || mincore(r->hva, r->size, vec)) {
			free(vec);
			return;
		}
		for (size_t j = 0; j < pages; j++)
			resident += vec[j] & 1;
		free(vec);
	}
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f, "silo-vmm: stats: maxrss_kib=%ld guest_resident_kib=%llu overhead_kib=%lld\n",
		ru.ru_maxrss, (unsigned long long)(resident * page / 1024),
		(long long)ru.ru_maxrss - (long long)(resident * page / 1024));
}
