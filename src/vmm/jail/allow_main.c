/* The main thread once the others run: it waits for the VM to end, writes
 * the exit line and tears the VM down. */
#include <linux/kvm.h>

#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_main[] = {
	SYS(close, "teardown: the VM's descriptors"),
	SYS(unlink, "teardown: the control and vsock socket files"),
	SYS(read, "teardown: draining eventfds"),
	SYS(epoll_ctl, "teardown: devices leave the event loops"),
	IOCTL(KVM_IOEVENTFD, "teardown: virtio queues' notify addresses unwired"),
	SYS(mincore, "SILO_VMM_STATS=1: guest pages resident, after the exit line"),
	SYS(getrusage, "SILO_VMM_STATS=1: peak RSS, after the exit line"),
};
ALLOWLIST_LEN(jail_allow_main);
