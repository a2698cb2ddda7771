/* MP table (Intel MP spec 1.4 ch. 4): signatures, checksums, entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/mptable.h"

static void check_table(unsigned int cpus)
{
	uint8_t buf[1024];
	uint16_t len, count;
	uint32_t physptr;
	const uint8_t *hdr, *p;
	unsigned int ncpu = 0, nioapic = 0, nbus = 0, nint = 0, nlint = 0;
	int n;

	memset(buf, 0xee, sizeof(buf));
	n = mptable_build(buf, sizeof(buf), GPA_MPTABLE, cpus);
	assert_int_equal(n, (int)mptable_size(cpus));
	/* Fits in the reserved area below 0xa0000 for the max CPU count. */
	assert_true(GPA_MPTABLE + mptable_size(MPTABLE_MAX_CPUS) <= 0xa0000);

	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(mptable_checksum(buf, 16), 0);
	assert_int_equal(buf[8], 1); /* length in paragraphs */
	assert_int_equal(buf[9], 4); /* spec rev 1.4 */
	memcpy(&physptr, buf + 4, 4);
	assert_int_equal(physptr, GPA_MPTABLE + 16);

	hdr = buf + 16;
	assert_memory_equal(hdr, "PCMP", 4);
	memcpy(&len, hdr + 4, 2);
	memcpy(&count, hdr + 34, 2);
	assert_int_equal(mptable_checksum(hdr, len), 0);
	assert_int_equal(16 + len, n);

	p = hdr + 44;
	for (unsigned int i = 0; i < count; i++) {
		switch (p[0]) {
		case 0:
			assert_int_equal(p[1], ncpu);		   /* APIC ID = vCPU id */
			assert_int_equal(p[3], ncpu == 0 ? 3 : 1); /* enabled, BSP */
			ncpu++;
			p += 20;
			break;
		case 1:
			assert_memory_equal(p + 2, "ISA   ", 6);
			nbus++;
			p += 8;
			break;
		case 2: {
			uint32_t a;
			memcpy(&a, p + 4, 4);
			assert_int_equal(a, GPA_IOAPIC);
			assert_int_equal(p[1], cpus);
			nioapic++;
			p += 8;
			break;
		}
		case 3:
			assert_int_equal(p[5], nint); /* src IRQ */
			assert_int_equal(p[7], nint); /* IOAPIC pin */
			nint++;
			p += 8;
			break;
		case 4:
			nlint++;
			p += 8;
			break;
		default:
			fail_msg("bad entry type %u", p[0]);
		}
	}
	assert_int_equal(ncpu, cpus);
	assert_int_equal(nbus, 1);
	assert_int_equal(nioapic, 1);
	assert_int_equal(nint, IOAPIC_PINS); /* includes the virtio GSIs 5..23 */
	assert_int_equal(nlint, 2);
	assert_int_equal(buf[n], 0xee); /* nothing written past the end */
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_table(1);
}

static void test_smp(void **state)
{
	(void)state;
	check_table(4);
	check_table(MPTABLE_MAX_CPUS);
}

static void test_limits(void **state)
{
	uint8_t buf[1024];
	(void)state;

	assert_int_equal(mptable_build(buf, sizeof(buf), GPA_MPTABLE, 0), -EINVAL);
	assert_int_equal(mptable_build(buf, sizeof(buf), GPA_MPTABLE, MPTABLE_MAX_CPUS + 1),
			 -EINVAL);
	assert_int_equal(mptable_build(buf, 100, GPA_MPTABLE, 1), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_smp),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
