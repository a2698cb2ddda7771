/*
 * Linux x86 boot protocol: kernel/initrd loading, zero page, e820 and command
 * line. The builders are pure functions over caller buffers so unit tests can
 * check exact bytes without /dev/kvm.
 */
#ifndef SILO_VMM_X86_BOOT_H
#define SILO_VMM_X86_BOOT_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* What the kernel loader learned; input to the zero-page builder. */
struct boot_kernel {
	bool is_bzimage;
	uint64_t entry;		 /* 64-bit entry GPA */
	uint64_t end;		 /* first GPA above the kernel's in-memory footprint */
	uint32_t initrd_max;	 /* highest GPA the initrd may end at (inclusive) */
	uint32_t cmdline_max;	 /* max cmdline length excl. NUL */
	struct setup_header hdr; /* from the bzImage; synthesised for ELF */
	size_t mapped, copied;	 /* bytes mmapped from the file / read into RAM */
};

/* Where the pieces went in guest memory. */
struct boot_placement {
	uint64_t mem_size; /* total guest RAM bytes */
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_size; /* size 0: no initrd */
};

/* One virtio-mmio device to declare on the kernel command line. */
struct virtio_decl {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
};

/* Bytes of guest RAM below the 32-bit MMIO hole (the rest goes above 4 GiB). */
uint64_t boot_low_ram(uint64_t mem_size);

/* Fill e820 entries for mem_size bytes of RAM; returns the count (<= max). */
unsigned int boot_build_e820(struct boot_e820_entry *e, unsigned int max, uint64_t mem_size);

/*
 * boot_build_cmdline - "<base> virtio_mmio.device=4K@0x..:GSI ... <extra>".
 * Returns the length (excl. NUL) or -E2BIG when it does not fit in cap bytes
 * (incl. NUL). base and extra may be NULL or empty.
 */
int boot_build_cmdline(char *out, size_t cap, const char *base, const struct virtio_decl *d,
		       unsigned int n, const char *extra);

/* Fill the zero page for a 64-bit entry (boot.rst "64-bit Boot Protocol"). */
void boot_fill_zero_page(struct boot_params *bp, const struct boot_kernel *k,
			 const struct boot_placement *p);

/*
 * Load an ELF vmlinux (PT_LOAD at p_paddr) or a bzImage (protected-mode part
 * at GPA_HIMEM, entry +0x200). With allow_map, page-aligned file ranges are
 * mapped MAP_PRIVATE|MAP_FIXED over guest RAM instead of copied. -errno.
 */
int boot_load_kernel(struct guest_mem *m, const char *path, bool allow_map, struct boot_kernel *k);

/* Load the initrd at the top of low RAM, above the kernel. -errno. */
int boot_load_initrd(struct guest_mem *m, const char *path, bool allow_map,
		     const struct boot_kernel *k, uint64_t mem_size, uint64_t *gpa, uint64_t *size);

/* Write cmdline and zero page into guest memory. -errno. */
int boot_write_params(struct guest_mem *m, const struct boot_kernel *k,
		      const struct boot_placement *p, const char *cmdline);

#endif
