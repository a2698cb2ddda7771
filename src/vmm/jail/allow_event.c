/* The event thread: console, control socket, vsock, entropy, balloon,
 * signals, and the control commands (pause, resume, stop, snapshot). */
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_event[] = {
	SYS(epoll_wait, "the event loop"),
	SYS(epoll_ctl, "the event loop"),
	SYS(read, "sockets, eventfds, the signalfd, the console's input"),
	SYS(readv, "vsock: a connection's bytes into guest buffers"),
	SYS(writev, "vsock: guest buffers to a connection"),
	SYS(recvfrom, "vsock and control sockets (recv)"),
	SYS(sendto, "vsock and control sockets (send)"),
	SYS(recvmsg, "vsock connections (silo-netd's reply brings the destination's socket); the "
		     "control socket (a snapshot's files come with it)"),
	SYS(sendmsg, "vsock connections"),
	SYS(accept4, "the control and vsock listeners"),
	SOCKET(AF_UNIX, "vsock: a guest's connect to a host port is a Unix socket"),
	{ SCMP_SYS(socketpair), 0, AF_UNIX,
	  "vsock with --vsock-peer: a guest's connect to a host port is a socketpair" },
	SYS(poll, "vsock: waiting for that connect"),
	SYS(shutdown, "vsock: a half-closed connection"),
	SYS(close, "connections that ended"),
	FCNTL(F_GETFL, "making a socket non-blocking"),
	FCNTL(F_SETFL, "making a socket non-blocking"),
	IOCTL(FIONREAD, "vsock: how much a connection has buffered"),
	IOCTL(KVM_IRQ_LINE, "the serial port's interrupt line (console input)"),
	SYS(getrandom, "virtio-rng: the guest's entropy"),
	SYS(eventfd2, "a queue's notify eventfd"),
	/* snapshot (snapshot/save.c): the state of the paused vCPUs and of
	 * the VM into the two files the caller passed (control.c); ftruncate
	 * and pwrite64, which it also needs, are in every thread's list
	 * (allow_common.c). No open, mkdir or unlink: the event thread, which
	 * faces the guest most, can create no file. */
	SYS(pread64,
	    "snapshot: /proc/self/pagemap (opened at start), which pages were never touched"),
	IOCTL(KVM_CHECK_EXTENSION, "snapshot: the XSAVE size"),
	IOCTL(KVM_GET_MSR_INDEX_LIST, "snapshot: the MSRs KVM saves"),
	IOCTL(KVM_GET_MP_STATE, "snapshot"),
	IOCTL(KVM_GET_REGS, "snapshot"),
	IOCTL(KVM_GET_SREGS, "snapshot"),
	IOCTL(KVM_GET_XSAVE, "snapshot"),
	IOCTL(KVM_GET_XSAVE2, "snapshot"),
	IOCTL(KVM_GET_XCRS, "snapshot"),
	IOCTL(KVM_GET_DEBUGREGS, "snapshot"),
	IOCTL(KVM_GET_LAPIC, "snapshot"),
	IOCTL(KVM_GET_TSC_KHZ, "snapshot"),
	IOCTL(KVM_GET_CPUID2, "snapshot"),
	IOCTL(KVM_GET_MSRS, "snapshot"),
	IOCTL(KVM_GET_VCPU_EVENTS, "snapshot"),
	IOCTL(KVM_GET_PIT2, "snapshot"),
	IOCTL(KVM_GET_CLOCK, "snapshot"),
	IOCTL(KVM_GET_IRQCHIP, "snapshot"),
};
ALLOWLIST_LEN(jail_allow_event);

/* The event thread without --vsock-peer (JAIL_EVENT_PATHS): the above, and
 * the connect that turns a guest's connect to CID 2 port P into one to
 * PATH_P. Never with sockets silo-netd dialed in the process (seccomp.h). */
const struct jail_rule jail_allow_event_paths[] = {
	SYS(connect, "vsock: a guest's connect to a host port is a connect to PATH_P"),
};
ALLOWLIST_LEN(jail_allow_event_paths);
