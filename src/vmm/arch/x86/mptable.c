/*
 * MP table (Intel MultiProcessor Specification 1.4, chapter 4): how a guest
 * without ACPI learns its CPUs, the IOAPIC and which IOAPIC pin each ISA IRQ
 * uses. Layout as in Firecracker mptable.rs / kvmtool x86/mptable.c: the
 * floating pointer, then the config table header and its entries.
 */
#include "vmm/arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "vmm/arch/x86/layout.h"

/* §4.1 MP floating pointer structure. */
struct mpf {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* config table GPA */
	uint8_t length;	   /* in 16-byte units: 1 */
	uint8_t spec_rev;  /* 4 = MP 1.4 */
	uint8_t checksum;
	uint8_t feature1; /* 0: a config table is present */
	uint8_t feature2, feature3, feature4, feature5;
} __attribute__((packed));

/* §4.2 MP configuration table header. */
struct mpc_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table incl. header */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

/* §4.3.1 processor entry. */
struct mpc_cpu {
	uint8_t type; /* 0 */
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags; /* bit0 enabled, bit1 bootstrap processor */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

/* §4.3.2 bus entry. */
struct mpc_bus {
	uint8_t type; /* 1 */
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

/* §4.3.3 I/O APIC entry. */
struct mpc_ioapic {
	uint8_t type; /* 2 */
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags; /* bit0 enabled */
	uint32_t addr;
} __attribute__((packed));

/* §4.3.4/§4.3.5 I/O and local interrupt assignment entries. */
struct mpc_irq {
	uint8_t type;	    /* 3 I/O interrupt, 4 local interrupt */
	uint8_t irq_type;   /* 0 INT, 1 NMI, 3 ExtINT */
	uint16_t irq_flags; /* 0: conforms to the bus (ISA: edge, active high) */
	uint8_t src_bus;
	uint8_t src_bus_irq;
	uint8_t dst_apic; /* 0xff: all local APICs */
	uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_header) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_bus) == 8, "bus entry is 8 bytes");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "IOAPIC entry is 8 bytes");
_Static_assert(sizeof(struct mpc_irq) == 8, "interrupt entry is 8 bytes");

#define MP_ENTRY_CPU	 0
#define MP_ENTRY_BUS	 1
#define MP_ENTRY_IOAPIC	 2
#define MP_ENTRY_IOINT	 3
#define MP_ENTRY_LINT	 4
#define MP_IRQ_INT	 0
#define MP_IRQ_NMI	 1
#define MP_IRQ_EXTINT	 3
#define MP_CPU_ENABLED	 1
#define MP_CPU_BSP	 2
#define LAPIC_VERSION	 0x14 /* integrated APIC, as KVM reports */
#define IOAPIC_VERSION	 0x11 /* KVM's in-kernel IOAPIC */
#define ISA_BUS_ID	 0
/* CPU signature for the processor entries: family 6 (informational only). */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES	 0x201 /* FPU, APIC */

size_t mptable_size(unsigned int nr_cpus)
{
	return sizeof(struct mpf) + sizeof(struct mpc_header) + nr_cpus * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       IOAPIC_PINS * sizeof(struct mpc_irq) + 2 * sizeof(struct mpc_irq);
}

uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return sum;
}

/* Append one entry to the table at *p. */
static void put(uint8_t **p, uint16_t *entries, const void *e, size_t len)
{
	memcpy(*p, e, len);
	*p += len;
	(*entries)++;
}

/* The interrupt entries: how IOAPIC pins and LAPIC LINTs are wired. */
static void put_interrupts(uint8_t **p, uint16_t *entries, uint8_t ioapic_id)
{
	/* Every IOAPIC pin as an ISA IRQ of the same number: covers the legacy
	 * devices and the virtio GSIs (edge-triggered, as irqfd injects). */
	for (unsigned int i = 0; i < IOAPIC_PINS; i++) {
		struct mpc_irq irq = { .type = MP_ENTRY_IOINT,
				       .irq_type = MP_IRQ_INT,
				       .src_bus = ISA_BUS_ID,
				       .src_bus_irq = (uint8_t)i,
				       .dst_apic = ioapic_id,
				       .dst_pin = (uint8_t)i };
		put(p, entries, &irq, sizeof(irq));
	}
	/* LINT0 = ExtINT (PIC), LINT1 = NMI on every LAPIC (matches regs.c). */
	struct mpc_irq lint0 = { .type = MP_ENTRY_LINT,
				 .irq_type = MP_IRQ_EXTINT,
				 .src_bus = ISA_BUS_ID,
				 .dst_apic = 0xff,
				 .dst_pin = 0 };
	struct mpc_irq lint1 = { .type = MP_ENTRY_LINT,
				 .irq_type = MP_IRQ_NMI,
				 .src_bus = ISA_BUS_ID,
				 .dst_apic = 0xff,
				 .dst_pin = 1 };
	put(p, entries, &lint0, sizeof(lint0));
	put(p, entries, &lint1, sizeof(lint1));
}

int mptable_build(uint8_t *buf, size_t cap, uint64_t gpa, unsigned int nr_cpus)
{
	struct mpf *mpf = (struct mpf *)buf;
	struct mpc_header *hdr = (struct mpc_header *)(mpf + 1);
	uint8_t *p = (uint8_t *)(hdr + 1);
	uint8_t ioapic_id = (uint8_t)nr_cpus; /* first APIC ID after the CPUs */
	uint16_t entries = 0;
	size_t size = mptable_size(nr_cpus);

	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	if (size > cap || gpa + size > 0xffffffffULL)
		return -E2BIG;
	memset(buf, 0, size);

	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mpc_cpu c = {
			.type = MP_ENTRY_CPU,
			.apic_id = (uint8_t)i, /* = vCPU id = CPUID.1 EBX[31:24] */
			.apic_ver = LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};
		put(&p, &entries, &c, sizeof(c));
	}
	struct mpc_bus bus = { .type = MP_ENTRY_BUS, .bus_id = ISA_BUS_ID };
	memcpy(bus.bus_type, "ISA   ", 6);
	put(&p, &entries, &bus, sizeof(bus));
	struct mpc_ioapic io = { .type = MP_ENTRY_IOAPIC,
				 .apic_id = ioapic_id,
				 .apic_ver = IOAPIC_VERSION,
				 .flags = 1,
				 .addr = (uint32_t)GPA_IOAPIC };
	put(&p, &entries, &io, sizeof(io));
	put_interrupts(&p, &entries, ioapic_id);

	memcpy(hdr->signature, "PCMP", 4);
	hdr->length = (uint16_t)(p - (uint8_t *)hdr);
	hdr->spec_rev = 4;
	memcpy(hdr->oem, "SILO    ", 8);
	memcpy(hdr->product, "SILO-VMM    ", 12);
	hdr->entry_count = entries;
	hdr->lapic_addr = (uint32_t)GPA_LAPIC;
	hdr->checksum = (uint8_t)-mptable_checksum((uint8_t *)hdr, hdr->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = (uint8_t)-mptable_checksum((uint8_t *)mpf, sizeof(*mpf));
	return (int)(p - buf);
}
