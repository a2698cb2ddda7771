/* Kernel command line assembly: VMM args, virtio_mmio.device=, user args. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/arch/x86/boot.h"

static void test_order_and_format(void **state)
{
	struct virtio_decl d[2] = { { 0xd0000000, 4096, 5 }, { 0xd0001000, 4096, 6 } };
	char buf[256];
	int n;
	(void)state;

	n = boot_build_cmdline(buf, sizeof(buf), "console=ttyS0 reboot=k", d, 2, "quiet init=/x");
	assert_string_equal(buf, "console=ttyS0 reboot=k virtio_mmio.device=4K@0xd0000000:5 "
				 "virtio_mmio.device=4K@0xd0001000:6 quiet init=/x");
	assert_int_equal(n, (int)strlen(buf));
}

static void test_empty_parts(void **state)
{
	struct virtio_decl d = { 0xd0000000, 4096, 5 };
	char buf[64];
	(void)state;

	assert_int_equal(boot_build_cmdline(buf, sizeof(buf), NULL, NULL, 0, NULL), 0);
	assert_string_equal(buf, "");
	boot_build_cmdline(buf, sizeof(buf), "", &d, 1, "");
	assert_string_equal(buf, "virtio_mmio.device=4K@0xd0000000:5");
	boot_build_cmdline(buf, sizeof(buf), "a", NULL, 0, "b");
	assert_string_equal(buf, "a b");
}

static void test_overflow(void **state)
{
	struct virtio_decl d = { 0xd0000000, 4096, 5 };
	char buf[40];
	(void)state;

	/* Exactly fits: 34 chars + NUL in 35 bytes. */
	assert_int_equal(boot_build_cmdline(buf, 35, NULL, &d, 1, NULL), 34);
	assert_int_equal(boot_build_cmdline(buf, 34, NULL, &d, 1, NULL), -E2BIG);
	assert_string_equal(buf, ""); /* never a truncated line */
	assert_int_equal(boot_build_cmdline(buf, sizeof(buf), "console=ttyS0", &d, 1, NULL),
			 -E2BIG);
	assert_int_equal(boot_build_cmdline(buf, 0, NULL, NULL, 0, NULL), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_format),
		cmocka_unit_test(test_empty_parts),
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
