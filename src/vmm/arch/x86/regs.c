/*
 * Register state for entering Linux directly in 64-bit mode (boot.rst "64-bit
 * Boot Protocol": paging on with an identity map covering the kernel, zero
 * page and command line; flat __BOOT_CS/__BOOT_DS segments). Same values as
 * Firecracker arch/x86_64/regs.rs; Intel SDM vol. 3 §3.4.5 for descriptors.
 */
#include "vmm/arch/x86/regs.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/arch/x86/layout.h"
#include "vmm/log.h"
#include "vmm/mem.h"

#define X86_CR0_PE	 0x1ULL
#define X86_CR0_PG	 0x80000000ULL
#define X86_CR4_PAE	 0x20ULL
#define EFER_LME	 0x100ULL
#define EFER_LMA	 0x400ULL
#define PTE_P		 0x1ULL
#define PTE_RW		 0x2ULL
#define PTE_PS		 0x80ULL
#define APIC_LVT0	 0x350 /* SDM vol. 3 §10.5.1 */
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

void gdt_to_segment(uint64_t e, unsigned int index, struct kvm_segment *s)
{
	uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));

	memset(s, 0, sizeof(*s));
	s->base = ((e >> 16) & 0xffffff) | (((e >> 56) & 0xff) << 24);
	s->selector = (uint16_t)(index * 8);
	s->type = (e >> 40) & 0xf;
	s->s = (e >> 44) & 1;
	s->dpl = (e >> 45) & 3;
	s->present = (e >> 47) & 1;
	s->avl = (e >> 52) & 1;
	s->l = (e >> 53) & 1;
	s->db = (e >> 54) & 1;
	s->g = (e >> 55) & 1;
	/* With G=1 the limit counts 4 KiB pages; KVM wants it in bytes. */
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->unusable = !s->present;
}

void regs_build_gdt(uint64_t gdt[4])
{
	gdt[0] = 0;
	gdt[1] = gdt_entry(0xa09b, 0, 0xfffff); /* code: G, L, P, DPL0, exec/read, accessed */
	gdt[2] = gdt_entry(0xc093, 0, 0xfffff); /* data: G, DB, P, read/write, accessed */
	gdt[3] =
		gdt_entry(0x808b, 0, 0xfffff); /* TSS: busy 64-bit TSS (only for VMX's TR checks) */
}

void regs_build_page_tables(uint64_t pml4[512], uint64_t pdpte[512], uint64_t pde[512])
{
	memset(pml4, 0, 4096);
	memset(pdpte, 0, 4096);
	pml4[0] = GPA_PDPTE | PTE_P | PTE_RW;
	pdpte[0] = GPA_PDE | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 512; i++)
		pde[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
}

void regs_build_sregs(struct kvm_sregs *s)
{
	uint64_t gdt[4];

	regs_build_gdt(gdt);
	gdt_to_segment(gdt[1], 1, &s->cs);
	gdt_to_segment(gdt[2], 2, &s->ds);
	s->es = s->fs = s->gs = s->ss = s->ds;
	gdt_to_segment(gdt[3], 3, &s->tr);
	s->gdt.base = GPA_GDT;
	s->gdt.limit = sizeof(gdt) - 1;
	s->idt.base = GPA_IDT;
	s->idt.limit = 7;
	s->cr3 = GPA_PML4;
	s->cr4 |= X86_CR4_PAE;
	s->cr0 |= X86_CR0_PE | X86_CR0_PG;
	s->efer |= EFER_LME | EFER_LMA;
}

void regs_build_regs(struct kvm_regs *r, uint64_t entry)
{
	memset(r, 0, sizeof(*r));
	r->rflags = 0x2; /* bit 1 is reserved-as-one */
	r->rip = entry;
	r->rsi = GPA_ZERO_PAGE; /* boot.rst: %rsi holds the boot_params address */
	r->rsp = r->rbp = GPA_BOOT_STACK;
}

void regs_build_lint(struct kvm_lapic_state *l)
{
	uint32_t v;

	/* LINT0 ExtINT lets the 8259 PIC deliver through the LAPIC (virtual-wire
	 * mode, MP spec §3.6.2.2); LINT1 is wired to NMI. */
	memcpy(&v, &l->regs[APIC_LVT0], 4);
	v = (v & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&l->regs[APIC_LVT0], &v, 4);
	memcpy(&v, &l->regs[APIC_LVT1], 4);
	v = (v & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&l->regs[APIC_LVT1], &v, 4);
}

int regs_write_tables(struct guest_mem *m)
{
	uint64_t *gdt = gpa_to_hva(m, GPA_GDT, GDT_ENTRIES * 8);
	uint64_t *idt = gpa_to_hva(m, GPA_IDT, 8);
	uint64_t *pml4 = gpa_to_hva(m, GPA_PML4, 4096);
	uint64_t *pdpte = gpa_to_hva(m, GPA_PDPTE, 4096);
	uint64_t *pde = gpa_to_hva(m, GPA_PDE, 4096);

	if (!gdt || !idt || !pml4 || !pdpte || !pde)
		return -ENOMEM;
	regs_build_gdt(gdt);
	*idt = 0;
	regs_build_page_tables(pml4, pdpte, pde);
	return 0;
}

int regs_setup_boot_cpu(int fd, uint64_t entry)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	/* Read first: KVM fills in the parts we do not set (APIC base, ...). */
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return err_ret(-errno, "KVM_GET_SREGS: %m");
	regs_build_sregs(&s);
	if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
		return err_ret(-errno, "KVM_SET_SREGS: %m");
	regs_build_regs(&r, entry);
	if (ioctl(fd, KVM_SET_REGS, &r) < 0)
		return err_ret(-errno, "KVM_SET_REGS: %m");
	return 0;
}

int regs_setup_fpu(int fd)
{
	/* x87 control word 0x37f and MXCSR 0x1f80 are the FNINIT / reset values. */
	struct kvm_fpu f = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(fd, KVM_SET_FPU, &f) < 0)
		return err_ret(-errno, "KVM_SET_FPU: %m");
	return 0;
}

int regs_setup_lapic(int fd)
{
	struct kvm_lapic_state l;

	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return err_ret(-errno, "KVM_GET_LAPIC: %m");
	regs_build_lint(&l);
	if (ioctl(fd, KVM_SET_LAPIC, &l) < 0)
		return err_ret(-errno, "KVM_SET_LAPIC: %m");
	return 0;
}
