/*
 * Boot-time vCPU state for the 64-bit entry: GDT, identity page tables,
 * segment/control registers, FPU and LAPIC LINT pins. Pure builders are
 * exposed for unit tests; regs_* with a vcpu fd issue the ioctls.
 */
#ifndef SILO_VMM_X86_REGS_H
#define SILO_VMM_X86_REGS_H

#include <linux/kvm.h>
#include <stdint.h>

struct guest_mem;

/* GDT descriptor from 16-bit flags (access byte + G/DB/L nibble), base, limit. */
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* Decode a GDT descriptor into the KVM segment with selector index*8. */
void gdt_to_segment(uint64_t entry, unsigned int index, struct kvm_segment *seg);
/* Build the boot GDT: null, code64, data, TSS. */
void regs_build_gdt(uint64_t gdt[4]);
/* Identity-map the first 1 GiB with 2 MiB pages into the three tables. */
void regs_build_page_tables(uint64_t pml4[512], uint64_t pdpte[512], uint64_t pde[512]);
/* Turn sregs (as read from KVM) into long mode with the boot GDT. */
void regs_build_sregs(struct kvm_sregs *s);
/* General registers for the 64-bit entry. */
void regs_build_regs(struct kvm_regs *r, uint64_t entry);
/* Set LINT0 to ExtINT and LINT1 to NMI in a kvm_lapic_state register page. */
void regs_build_lint(struct kvm_lapic_state *l);

/* Write GDT, IDT and page tables into guest memory (once per VM). -errno. */
int regs_write_tables(struct guest_mem *m);
/* KVM_SET_SREGS/REGS on the boot vCPU. -errno. */
int regs_setup_boot_cpu(int vcpu_fd, uint64_t entry);
/* KVM_SET_FPU with the x87/SSE reset defaults. -errno. */
int regs_setup_fpu(int vcpu_fd);
/* KVM_GET/SET_LAPIC with LINT0 ExtINT, LINT1 NMI. -errno. */
int regs_setup_lapic(int vcpu_fd);

#endif
