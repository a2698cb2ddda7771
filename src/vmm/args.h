/*
 * silo-vmm's command line: the options, their limits and the usage text.
 * vmm_parse_args is pure (no output, no exit, no fd or signal changes) so
 * tests/unit/test_vmm_args.c can check every message; main.c acts on it.
 */
#ifndef SILO_VMM_ARGS_H
#define SILO_VMM_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vmm/vm.h"

#define VMM_DEFAULT_MEM_MIB	 256
#define VMM_MIN_MEM_MIB		 32
#define VMM_MAX_MEM_MIB		 (1024ULL * 1024) /* 1 TiB */
#define VMM_DEFAULT_BOOT_TIMEOUT 8
#define VMM_MAX_BOOT_TIMEOUT	 86400	      /* a day */
#define VMM_CONSOLE_MAX_MAX	 (1ULL << 40) /* 1 TiB */

struct vmm_args {
	struct vm_config vm;
	int verbose;	/* -v count */
	int exit_fd;	/* --exit-fd, or -1 */
	int start_gate; /* --start-gate, or -1 */
	bool help;	/* -h: print vmm_usage, nothing else */
};

/*
 * Fill *a from argv (getopt_long order: argv may be permuted); the strings
 * in a->vm point into argv. 0, or -1 with a one-line message in err; after
 * an error a->exit_fd is still set if --exit-fd came before the mistake.
 */
int vmm_parse_args(int argc, char **argv, struct vmm_args *a, char *err, size_t errlen);
/* The --help text (docs/silo-vmm.md documents the same options). */
void vmm_usage(FILE *f);

#endif
