/* silo-vmm's jail (docs/security.md, "The jail"): the process-wide part
 * (process.c) and the per-thread seccomp filters (seccomp.h). */
#ifndef SILO_VMM_JAIL_JAIL_H
#define SILO_VMM_JAIL_JAIL_H

#include "vmm/jail/seccomp.h"

/* Namespaces, rlimits, no capabilities: once the VM is built and before
 * any thread runs (process.c gives the order). 0 or -errno, the context
 * recorded with err_ret. */
int jail_enter_process(void);

#endif
