/* A vCPU thread: KVM_RUN and what its exits need (port I/O and MMIO go to
 * the devices: the serial console, the i8042's reset, the virtio
 * transports, whose queue set-up and reset run here). */
#include <linux/kvm.h>

#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_vcpu[] = {
	IOCTL(KVM_RUN, "run the guest"),
	IOCTL(KVM_IRQ_LINE, "the serial port's interrupt line"),
	IOCTL(KVM_IOEVENTFD, "a virtio queue's notify address, wired when the driver is ready"),
	IOCTL(KVM_GET_REGS, "registers for the exit line of a failed vCPU"),
	IOCTL(KVM_GET_SREGS, "registers for the exit line of a failed vCPU"),
	SYS(read, "draining an eventfd on a virtio device reset"),
	SYS(epoll_ctl, "watching a queue's eventfd once the driver is ready"),
	SYS(eventfd2, "a queue's notify eventfd"),
	SYS(close, "a queue's eventfd after a device reset"),
};
ALLOWLIST_LEN(jail_allow_vcpu);
