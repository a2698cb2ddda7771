/*
 * x86 KVM setup: open /dev/kvm and check the capabilities an x86 guest
 * needs, then create the VM with what must exist before any vCPU (TSS and
 * identity map for real-mode emulation, the in-kernel PIC/IOAPIC, the PIT).
 */
#include "vmm/arch/x86/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/arch/x86/cpuid.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define KVM_API_VERSION_EXPECTED 12

int x86_kvm_open(struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} req[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
		{ KVM_CAP_IRQFD, "IRQFD" },
		{ KVM_CAP_IOEVENTFD, "IOEVENTFD" },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
	};
	int ret;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return err_ret(-errno, "cannot open /dev/kvm: %m; this host offers no usable KVM: "
				       "boot the guest in the lab (tests/lab/run silo-vmm ...)");
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION_EXPECTED)
		return err_ret(-EINVAL, "KVM API version %d, need %d", ret,
			       KVM_API_VERSION_EXPECTED);
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, req[i].cap) <= 0)
			return err_ret(-ENOTSUP, "KVM lacks KVM_CAP_%s", req[i].name);
	vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return err_ret(-EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", vm->vcpu_mmap_size);
	return cpuid_get_supported(vm->kvm_fd, &vm->cpuid);
}
int x86_vm_create(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = GPA_IDENTITY_MAP;

	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0)
		return err_ret(-errno, "KVM_CREATE_VM: %m");
	/* TSS (3 pages) and identity map (1 page) for Intel real-mode emulation:
	 * in the MMIO hole, clear of RAM and devices; before any vCPU exists. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)GPA_TSS) < 0)
		return err_ret(-errno, "KVM_SET_TSS_ADDR: %m");
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return err_ret(-errno, "KVM_SET_IDENTITY_MAP_ADDR: %m");
	/* PIC + IOAPIC (+ per-vCPU LAPICs) must exist before KVM_CREATE_VCPU. */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_ret(-errno, "KVM_CREATE_IRQCHIP: %m");
	/* SPEAKER_DUMMY: KVM absorbs port 0x61, so it never exits to us. */
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_ret(-errno, "KVM_CREATE_PIT2: %m");
	return 0;
}
