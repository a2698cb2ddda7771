/* silo-vmm's jail (docs/security.md, "The jail"): the process-wide part
 * (process.c) and the per-thread seccomp filters (seccomp.h). */
#ifndef SILO_VMM_JAIL_JAIL_H
#define SILO_VMM_JAIL_JAIL_H

#include "vmm/jail/seccomp.h"

/* Namespaces, an empty root, rlimits, no capabilities (process.c gives
 * the order). jail_start: before the VM is built; it starts the task that
 * makes the namespaces meanwhile (maker.c).
 * jail_enter_process: once the VM is built and before any of its threads
 * runs. Each 0 or -errno, the context recorded with err_ret. */
int jail_start(void);
int jail_enter_process(void);

#endif
