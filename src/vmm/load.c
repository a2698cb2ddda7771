/*
 * The loader: kernel and initrd into guest RAM, the boot CPU's tables (GDT,
 * page tables, MP table), the kernel command line with the virtio-mmio
 * declarations, and the boot parameters. Runs after the devices exist (the
 * command line declares them) and before the vCPUs (the boot CPU's
 * registers need the entry point).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/arch/x86/mptable.h"
#include "vmm/arch/x86/regs.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/log.h"
#include "vmm/vm_internal.h"

/* The VMM's own kernel arguments; the user's --cmdline goes after them and
 * after the virtio_mmio.device= declarations, so it can override them.
 * 8250.nr_uarts=1: only ttyS0 exists, do not probe three phantom UARTs. */
#define VMM_CMDLINE "console=ttyS0 reboot=k panic=-1 pci=off nomodule 8250.nr_uarts=1"

int vm_load_guest(struct vm *vm)
{
	struct boot_placement p = { .mem_size = vm->ram_size, .cmdline_gpa = GPA_CMDLINE };
	struct virtio_decl decl[VIRTIO_MMIO_MAX_DEVS];
	char *cmdline;
	size_t cap;
	uint8_t *mp;
	int ret;

	ret = boot_load_kernel(&vm->mem, vm->cfg.kernel, !vm->cfg.no_map, &vm->kernel);
	if (ret)
		return ret;
	vm->entry = vm->kernel.entry;
	log_info("kernel entry %#llx, %zu bytes mapped, %zu copied", (unsigned long long)vm->entry,
		 vm->kernel.mapped, vm->kernel.copied);
	if (vm->cfg.initrd) {
		ret = boot_load_initrd(&vm->mem, vm->cfg.initrd, !vm->cfg.no_map, &vm->kernel,
				       vm->ram_size, &p.initrd_gpa, &p.initrd_size);
		if (ret)
			return ret;
	}
	if ((ret = regs_write_tables(&vm->mem)))
		return err_ret(ret, "writing GDT/page tables");
	mp = gpa_to_hva(&vm->mem, GPA_MPTABLE, mptable_size(vm->nr_vcpus));
	if (!mp)
		return -ENOMEM;
	ret = mptable_build(mp, GPA_HIMEM - GPA_MPTABLE, GPA_MPTABLE, vm->nr_vcpus);
	if (ret < 0)
		return err_ret(ret, "building the MP table: %s", strerror(-ret));

	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		decl[i] = (struct virtio_decl){ .base = vm->virtio[i].base,
						.size = VIRTIO_MMIO_SIZE,
						.gsi = vm->virtio[i].gsi };
	cap = (size_t)vm->kernel.cmdline_max + 1;
	if (cap > CMDLINE_MAX)
		cap = CMDLINE_MAX;
	cmdline = malloc(cap);
	if (!cmdline)
		return -ENOMEM;
	ret = boot_build_cmdline(cmdline, cap, VMM_CMDLINE, decl, vm->nr_virtio, vm->cfg.cmdline);
	if (ret < 0) {
		free(cmdline);
		return err_ret(ret, "kernel command line longer than %zu bytes", cap - 1);
	}
	log_info("cmdline: %s", cmdline);
	ret = boot_write_params(&vm->mem, &vm->kernel, &p, cmdline);
	free(cmdline);
	return ret;
}
