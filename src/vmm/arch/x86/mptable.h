/* Intel MultiProcessor Specification 1.4 table: SMP and IOAPIC without ACPI. */
#ifndef SILO_VMM_X86_MPTABLE_H
#define SILO_VMM_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS 32

/* Bytes the table needs for nr_cpus. */
size_t mptable_size(unsigned int nr_cpus);
/*
 * Build the floating pointer + config table for a table placed at GPA gpa
 * into buf (cap bytes). Returns bytes used or -errno (-E2BIG, -EINVAL).
 */
int mptable_build(uint8_t *buf, size_t cap, uint64_t gpa, unsigned int nr_cpus);
/* Sum of bytes mod 256 (0 for a valid MP structure). */
uint8_t mptable_checksum(const uint8_t *p, size_t len);

#endif
