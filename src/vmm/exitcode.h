/*
 * silo-vmm process exit codes. Each names one way a VM can end; documented
 * in docs/silo-vmm.md and `silo-vmm --help`. Keep the three in sync.
 */
#ifndef SILO_VMM_EXITCODE_H
#define SILO_VMM_EXITCODE_H

enum vmm_exit {
	VMM_EXIT_RESET = 0,       /* guest reset the machine (reboot=k → i8042) */
	VMM_EXIT_INTERNAL = 1,    /* VMM failure after the guest started */
	VMM_EXIT_USAGE = 2,       /* bad command line */
	VMM_EXIT_SETUP = 3,       /* host setup failed (KVM, files, sockets) */
	VMM_EXIT_POWEROFF = 4,    /* guest powered off or halted */
	VMM_EXIT_PANIC = 5,       /* guest kernel panic */
	VMM_EXIT_TRIPLE_FAULT = 6,/* KVM_EXIT_SHUTDOWN */
	VMM_EXIT_KVM_ERROR = 7,   /* KVM could not run the guest (internal error, emulation failure, failed entry) */
	VMM_EXIT_BOOT_TIMEOUT = 8,/* boot not complete within --boot-timeout */
	VMM_EXIT_STOPPED = 9,     /* stopped by the host: control `stop`, SIGTERM/SIGINT/SIGHUP, Ctrl-A x */
};

#endif
