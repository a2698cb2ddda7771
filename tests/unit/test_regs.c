/* GDT, page tables and segment conversion for the 64-bit entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/regs.h"

static void test_gdt_qwords(void **state)
{
	uint64_t gdt[4];
	(void)state;

	/* Same values Firecracker's regs.rs asserts. */
	regs_build_gdt(gdt);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0x00af9b000000ffffULL);
	assert_int_equal(gdt[2], 0x00cf93000000ffffULL);
	assert_int_equal(gdt[3], 0x008f8b000000ffffULL);
	assert_int_equal(gdt_entry(0xc09b, 0x12345678, 0xabcde), 0x12ca9b345678bcdeULL);
}

static void test_segments(void **state)
{
	struct kvm_segment s;
	uint64_t gdt[4];
	(void)state;

	regs_build_gdt(gdt);
	gdt_to_segment(gdt[1], 1, &s);
	assert_int_equal(s.selector, 0x08);
	assert_int_equal(s.base, 0);
	assert_int_equal(s.limit, 0xffffffff);
	assert_int_equal(s.type, 0xb);
	assert_int_equal(s.present, 1);
	assert_int_equal(s.dpl, 0);
	assert_int_equal(s.s, 1);
	assert_int_equal(s.l, 1);
	assert_int_equal(s.db, 0);
	assert_int_equal(s.g, 1);
	assert_int_equal(s.unusable, 0);

	gdt_to_segment(gdt[2], 2, &s);
	assert_int_equal(s.selector, 0x10);
	assert_int_equal(s.type, 0x3);
	assert_int_equal(s.l, 0);
	assert_int_equal(s.db, 1);

	gdt_to_segment(gdt[3], 3, &s);
	assert_int_equal(s.selector, 0x18);
	assert_int_equal(s.type, 0xb);
	assert_int_equal(s.s, 0);

	/* G=0: limit stays in bytes. */
	gdt_to_segment(gdt_entry(0x008b, 0x1000, 0x67), 4, &s);
	assert_int_equal(s.limit, 0x67);
	assert_int_equal(s.base, 0x1000);

	gdt_to_segment(0, 0, &s);
	assert_int_equal(s.unusable, 1);
}

static void test_page_tables(void **state)
{
	static uint64_t pml4[512], pdpte[512], pde[512];
	(void)state;

	memset(pml4, 0xff, sizeof(pml4));
	regs_build_page_tables(pml4, pdpte, pde);
	assert_int_equal(pml4[0], 0xa003);
	assert_int_equal(pml4[1], 0);
	assert_int_equal(pml4[511], 0);
	assert_int_equal(pdpte[0], 0xb003);
	assert_int_equal(pdpte[1], 0);
	assert_int_equal(pde[0], 0x83);
	assert_int_equal(pde[1], 0x200083);
	assert_int_equal(pde[511], (511ULL << 21) | 0x83);
}

static void test_sregs_regs(void **state)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_lapic_state l;
	uint32_t v;
	(void)state;

	memset(&s, 0, sizeof(s));
	s.cr0 = 0x60000010; /* reset value bits we must keep */
	regs_build_sregs(&s);
	assert_int_equal(s.cr0, 0x60000010 | 0x80000001);
	assert_int_equal(s.cr3, GPA_PML4);
	assert_int_equal(s.cr4 & 0x20, 0x20);
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.gdt.base, GPA_GDT);
	assert_int_equal(s.gdt.limit, 31);
	assert_int_equal(s.idt.base, GPA_IDT);
	assert_int_equal(s.idt.limit, 7);
	assert_int_equal(s.cs.selector, 8);
	assert_int_equal(s.ss.selector, 0x10);
	assert_int_equal(s.tr.selector, 0x18);

	regs_build_regs(&r, 0x1000000);
	assert_int_equal(r.rip, 0x1000000);
	assert_int_equal(r.rsi, GPA_ZERO_PAGE);
	assert_int_equal(r.rsp, GPA_BOOT_STACK);
	assert_int_equal(r.rflags, 2);

	memset(&l, 0, sizeof(l));
	v = 0x10700; /* masked, some old mode */
	memcpy(&l.regs[0x350], &v, 4);
	regs_build_lint(&l);
	memcpy(&v, &l.regs[0x350], 4);
	assert_int_equal(v, 0x10700); /* ExtINT = 7 */
	memcpy(&v, &l.regs[0x360], 4);
	assert_int_equal(v, 0x400); /* NMI = 4 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gdt_qwords),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_sregs_regs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
