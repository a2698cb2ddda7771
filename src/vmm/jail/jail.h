/* silo-vmm's jail (docs/security.md, "The jail"): the process-wide part
 * (process.c) and the per-thread seccomp filters (seccomp.h). */
#ifndef SILO_VMM_JAIL_JAIL_H
#define SILO_VMM_JAIL_JAIL_H

#include "vmm/jail/seccomp.h"

/* Namespaces, an empty root, rlimits, no capabilities (process.c gives
 * the order). jail_start: before the VM
 * is built; it starts the copy of silo-vmm that makes the namespaces
 * meanwhile.
 * jail_enter_process: once the VM is built and before any of its threads
 * runs. Each 0 or -errno, the context recorded with err_ret. */
int jail_start(void);
/* argv[1] of the copy of silo-vmm that jail_start runs to make the
 * namespaces, and that copy's main (process.c). */
#define JAIL_MAKER_ARG "--jail-namespaces"
int jail_maker_main(int argc, char **argv);
int jail_enter_process(void);

#endif
