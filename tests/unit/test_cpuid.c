/* test_cpuid.c: cpuid_adjust's edits to the leaves KVM reports (arch/x86/cpuid.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "vmm/arch/x86/cpuid.h"

static struct kvm_cpuid2 *table(void)
{
	static const struct kvm_cpuid_entry2 in[] = {
		{ .function = 0x1, .ebx = 0xffffff42, .ecx = 0x7fffffff, .edx = 0xffffffff },
		{ .function = 0x6, .ecx = 0xffffffff },
		{ .function = 0xa, .eax = 0x07300402 }, /* version 2, 4 counters */
		{ .function = 0xb, .index = 1, .edx = 0 },
		{ .function = 0x1f, .edx = 0 },
		{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b },
	};
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(in));

	assert_non_null(c);
	c->nent = sizeof(in) / sizeof(in[0]);
	for (unsigned int i = 0; i < c->nent; i++)
		c->entries[i] = in[i];
	return c;
}

static void test_one_cpu(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpuid_adjust(c, 0, 1, false);
	/* APIC ID 0, 1 logical CPU, 64-byte CLFLUSH, brand index kept. */
	assert_int_equal(c->entries[0].ebx, 0x00010842);
	/* hypervisor bit set, PDCM (15) and TSC-deadline (24, absent) clear */
	assert_int_equal(c->entries[0].ecx, (0x7fffffffu & ~(1u << 15)) | (1u << 31));
	assert_int_equal(c->entries[0].edx, 0xffffffffu & ~(1u << 28)); /* no HTT */
	assert_int_equal(c->entries[1].ecx, 0xfffffff7u);		/* no EPB */
	assert_int_equal(c->entries[2].eax, 0x07300402);		/* PMU v2 kept */
	assert_int_equal(c->entries[5].ebx, 0x4b4d564b);		/* KVM leaf kept */
	free(c);
}

static void test_smp(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	c->entries[2].eax = 0x07300403; /* PMU version 3: dropped */
	cpuid_adjust(c, 5, 8, true);
	assert_int_equal(c->entries[0].ebx, 0x05080842);
	assert_true(c->entries[0].ecx & (1u << 24)); /* TSC-deadline */
	assert_true(c->entries[0].edx & (1u << 28)); /* HTT */
	assert_int_equal(c->entries[2].eax, 0);
	assert_int_equal(c->entries[3].edx, 5); /* x2APIC ID */
	assert_int_equal(c->entries[4].edx, 5);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_smp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
