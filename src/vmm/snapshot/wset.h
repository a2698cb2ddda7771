/*
 * The working set of a template's clones (docs/snapshots.md, "The working
 * set"): the ranges of guest RAM that a clone wrote from its restore until
 * the answer to its first command. `silo template build` records it once, on
 * a test clone (control `working-set`); every later restore of the template
 * faults those pages in, writable, before its vCPUs run (wset_prefetch), so
 * the host's fault handler runs once per range in one pass instead of once
 * per page behind a guest exit. REAP (Ustiugov et al., "Benchmarking,
 * Analysis, and Optimization of Serverless Function Snapshots", ASPLOS '21)
 * records and prefetches a snapshot's working set the same way.
 *
 * The file, all little endian: a 32-byte header, then nr ranges of 16 bytes.
 * A range is an offset and a length in bytes of guest RAM as the memory
 * file lays it out (the RAM regions one after the other), both page
 * aligned, the length not 0; ranges are sorted and neither overlap nor
 * touch, and end inside ram_size. crc is CRC32C (snap_crc32c) of the ranges.
 */
#ifndef SILO_VMM_SNAPSHOT_WSET_H
#define SILO_VMM_SNAPSHOT_WSET_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/mem.h"

/* Its name in a snapshot directory (silo's templates: src/sandbox). */
#define WSET_FILE	"workingset"
#define WSET_MAGIC	"SILOWSET"
#define WSET_VERSION	1
#define WSET_PAGE	4096ULL
/* A bound for the reader, not a limit anyone meets: 1 GiB of guest RAM in
 * every other page is 131072 ranges. */
#define WSET_MAX_RANGES (1U << 20)

struct wset_header {
	char magic[8];	   /* WSET_MAGIC, no NUL */
	uint32_t version;  /* WSET_VERSION */
	uint32_t nr;	   /* ranges that follow */
	uint64_t ram_size; /* the VM's RAM in bytes: the memory file's size */
	uint32_t crc;	   /* CRC32C of the nr ranges as stored */
	uint32_t zero;
};
_Static_assert(sizeof(struct wset_header) == 32, "working-set header is 32 bytes on disk");

struct wset_range {
	uint64_t off; /* bytes into guest RAM */
	uint64_t len; /* bytes */
};
_Static_assert(sizeof(struct wset_range) == 16, "a working-set range is 16 bytes on disk");

/*
 * wset_parse - check a working-set file's bytes for a VM of ram_size bytes
 * and return its ranges in host byte order (*out, free() it; NULL when nr
 * is 0). Pure (no I/O). Returns 0, or -EINVAL with the reason in err.
 */
int wset_parse(const void *buf, size_t len, uint64_t ram_size, struct wset_range **out,
	       uint32_t *nr, char *err, size_t errlen);

/*
 * wset_record - write to out_fd (a regular file, from offset 0, truncated
 * to what was written) the pages of m the process has a private copy of,
 * as /proc/self/pagemap (pagemap_fd) shows them: present and not a file
 * page. For a VM restored from a memory file (mapped MAP_PRIVATE) those
 * are the pages the guest wrote since the restore. *pages: how many.
 * Returns 0 or -errno with the reason in err.
 */
int wset_record(int out_fd, int pagemap_fd, const struct guest_mem *m, uint64_t *pages, char *err,
		size_t errlen);

/*
 * wset_prefetch - fault the ranges in, writable (MADV_POPULATE_WRITE), in
 * m's mapping of guest RAM. *pages: how many were. Returns 0, or -errno of
 * the first range that failed (-EINVAL: a kernel older than 5.14); the
 * pages before it stay in, which changes nothing but speed.
 */
int wset_prefetch(const struct guest_mem *m, const struct wset_range *r, uint32_t nr,
		  uint64_t *pages);

#endif
