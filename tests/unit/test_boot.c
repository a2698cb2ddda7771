/* Zero page and e820 bytes for the 64-bit boot protocol (boot.rst). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <asm/e820.h>

#include "vmm/arch/x86/boot.h"
#include "vmm/arch/x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static uint32_t rd32(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return v;
}

static void check_e820(const uint8_t *zp, unsigned int i, uint64_t addr, uint64_t size,
		       uint32_t type)
{
	size_t off = 0x2d0 + i * 20;
	assert_int_equal(rd64(zp, off), addr);
	assert_int_equal(rd64(zp, off + 8), size);
	assert_int_equal(rd32(zp, off + 16), type);
}

static void elf_zero_page(uint8_t *zp, uint64_t mem, uint64_t initrd_gpa, uint64_t initrd_size)
{
	struct boot_kernel k = { .is_bzimage = false, .entry = 0x1000000 };
	struct boot_placement p = { .mem_size = mem,
				    .cmdline_gpa = GPA_CMDLINE,
				    .initrd_gpa = initrd_gpa,
				    .initrd_size = initrd_size };

	memset(zp, 0xaa, 4096);
	boot_fill_zero_page((struct boot_params *)zp, &k, &p);
}

static void test_zero_page_512m(void **state)
{
	uint8_t zp[4096];
	(void)state;

	elf_zero_page(zp, 512 * MiB, 0x1f000000, 0x123456);
	assert_int_equal(zp[0x1fe] | zp[0x1ff] << 8, 0xaa55); /* boot_flag */
	assert_int_equal(rd32(zp, 0x202), 0x53726448);	      /* "HdrS" */
	assert_int_equal(zp[0x210], 0xff);		      /* type_of_loader */
	assert_true(zp[0x211] & 0x80);			      /* CAN_USE_HEAP */
	assert_int_equal(rd32(zp, 0x228), GPA_CMDLINE);	      /* cmd_line_ptr */
	assert_int_equal(rd32(zp, 0x218), 0x1f000000);	      /* ramdisk_image */
	assert_int_equal(rd32(zp, 0x21c), 0x123456);	      /* ramdisk_size */
	assert_int_equal(rd32(zp, 0x0c0), 0);		      /* ext_ramdisk_image */
	assert_int_equal(rd32(zp, 0x0c8), 0);		      /* ext_cmd_line_ptr */
	assert_int_equal(rd32(zp, 0x230), 0x1000000);	      /* kernel_alignment (ELF) */
	assert_int_equal(zp[0x1e8], 3);			      /* e820_entries */
	check_e820(zp, 0, 0, 0x9fc00, E820_RAM);
	check_e820(zp, 1, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
	check_e820(zp, 2, 0x100000, 512 * MiB - 0x100000, E820_RAM);
	/* Everything else zero: no stale bytes reach the guest. */
	assert_int_equal(zp[0], 0);
	assert_int_equal(rd64(zp, 0x2d0 + 3 * 20), 0);
}

static void test_zero_page_5g(void **state)
{
	uint8_t zp[4096];
	(void)state;

	elf_zero_page(zp, 5 * GiB, 0, 0);
	assert_int_equal(zp[0x1e8], 4);
	check_e820(zp, 0, 0, 0x9fc00, E820_RAM);
	check_e820(zp, 1, 0x9fc00, 0x60400, E820_RESERVED);
	check_e820(zp, 2, 0x100000, 3 * GiB - 0x100000, E820_RAM);
	check_e820(zp, 3, 4 * GiB, 2 * GiB, E820_RAM);
	assert_int_equal(rd32(zp, 0x218), 0); /* no initrd */
	assert_int_equal(rd32(zp, 0x21c), 0);
}

static void test_e820_exactly_hole(void **state)
{
	struct boot_e820_entry e[8];
	(void)state;

	/* 3 GiB fits below the hole: no high entry. */
	assert_int_equal(boot_build_e820(e, 8, 3 * GiB), 3);
	assert_int_equal(e[2].size, 3 * GiB - 0x100000);
	assert_int_equal(boot_low_ram(3 * GiB + 4096), 3 * GiB);
	assert_int_equal(boot_build_e820(e, 8, 3 * GiB + 4096), 4);
	assert_int_equal(e[3].addr, 4 * GiB);
	assert_int_equal(e[3].size, 4096);
	/* Never writes past max. */
	assert_int_equal(boot_build_e820(e, 2, 5 * GiB), 2);
}

static void test_zero_page_bzimage_header(void **state)
{
	struct boot_kernel k = { .is_bzimage = true, .entry = 0x100200 };
	struct boot_placement p = { .mem_size = 256 * MiB, .cmdline_gpa = GPA_CMDLINE };
	struct boot_params bp;
	(void)state;

	/* The bzImage's own header comes through; our fields override. */
	k.hdr.version = 0x020f;
	k.hdr.xloadflags = 0x1;
	k.hdr.kernel_alignment = 0x200000;
	k.hdr.loadflags = 0x01; /* LOADED_HIGH */
	k.hdr.type_of_loader = 0x00;
	boot_fill_zero_page(&bp, &k, &p);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp.hdr.loadflags, 0x81);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.cmd_line_ptr, GPA_CMDLINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_page_512m),
		cmocka_unit_test(test_zero_page_5g),
		cmocka_unit_test(test_e820_exactly_hole),
		cmocka_unit_test(test_zero_page_bzimage_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
