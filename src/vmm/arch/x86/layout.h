/*
 * x86 guest-physical memory map of a silo microVM. Every guest address the
 * VMM uses is named here exactly once; keep the list sorted by address.
 * Sources: Firecracker arch/x86_64/layout.rs (same low-memory layout),
 * Linux Documentation/arch/x86/boot.rst, Intel MP spec 1.4 §4.
 */
#ifndef SILO_VMM_X86_LAYOUT_H
#define SILO_VMM_X86_LAYOUT_H

/* GDT: 4 x 8-byte descriptors (null, code, data, TSS). */
#define GPA_GDT		     0x500ULL
#define GDT_ENTRIES	     4
/* IDT: one zero 8-byte entry, limit 7 -- any exception before the kernel
 * installs its own IDT is a triple fault, which we report as such. */
#define GPA_IDT		     0x520ULL
/* Linux zero page (struct boot_params, 4 KiB); rsi points here at entry. */
#define GPA_ZERO_PAGE	     0x7000ULL
/* Initial stack pointer (grows down, below the page tables). */
#define GPA_BOOT_STACK	     0x8ff0ULL
/* Identity page tables for the first 1 GiB: PML4, one PDPT, one PD of 2 MiB pages. */
#define GPA_PML4	     0x9000ULL
#define GPA_PDPTE	     0xa000ULL
#define GPA_PDE		     0xb000ULL
/* Kernel command line, NUL-terminated. */
#define GPA_CMDLINE	     0x20000ULL
#define CMDLINE_MAX	     4096 /* bytes incl. NUL; also clamped to hdr.cmdline_size+1 */
/*
 * End of conventional RAM / start of the reserved area. The MP floating
 * pointer must be in the last KiB of base memory (MP spec §4: 639K..640K) to
 * be found without a BIOS data area; the config table follows it.
 */
#define GPA_MPTABLE	     0x9fc00ULL
#define GPA_EBDA_START	     GPA_MPTABLE
/* [GPA_EBDA_START, GPA_HIMEM) is e820-reserved: VGA hole and BIOS ROM area. */
/* Kernel load address (bzImage protected-mode part; "HIMEM" in boot.rst). */
#define GPA_HIMEM	     0x100000ULL
/* Start of the 32-bit MMIO hole; RAM beyond it moves above 4 GiB. */
#define GPA_MMIO32_BASE	     0xc0000000ULL
/* virtio-mmio windows, VIRTIO_MMIO_SIZE (4 KiB) each, inside the hole. */
#define GPA_VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_MAX_DEVS 16
/* In-kernel IOAPIC and LAPIC (fixed by KVM / the architecture). */
#define GPA_IOAPIC	     0xfec00000ULL
#define GPA_LAPIC	     0xfee00000ULL
/* Intel VMX real-mode helpers KVM needs: identity-map page, then 3 TSS pages. */
#define GPA_IDENTITY_MAP     0xfffbc000ULL
#define GPA_TSS		     0xfffbd000ULL
/* End of the hole; guest RAM above GPA_MMIO32_BASE is placed from here. */
#define GPA_HIGH_RAM	     0x100000000ULL

/* Legacy I/O ports (port space, not GPAs). */
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD	0x64
#define PORT_COM1	0x3f8
#define PORT_COM1_LEN	8

/* Interrupt lines (GSIs). ISA IRQs keep their numbers; virtio from 5 on
 * (Firecracker GSI_LEGACY_START) up to the last IOAPIC pin. */
#define IRQ_COM1	 4
#define GSI_VIRTIO_FIRST 5
#define GSI_MAX		 23
#define IOAPIC_PINS	 24

#endif
