/* The build and host CPU a snapshot belongs to (ident.c). */
#ifndef SILO_VMM_SNAPSHOT_IDENT_H
#define SILO_VMM_SNAPSHOT_IDENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/snapshot/state.h"

/* Fill h's build_id, cpu_vendor and cpu_signature for this process and host. */
void snap_host_ident(struct snap_header *h);
/* 0 if a snapshot with header saved may be restored here; else -1 and one
 * line in err (build, CPU vendor/model or TSC frequency differ). */
int snap_check_ident(const struct snap_header *saved, uint32_t host_tsc_khz, char *err,
		     size_t errlen);

#endif
