/* Guest physical memory: the one accessor every device uses to reach guest RAM. */
#ifndef SILO_VMM_MEM_H
#define SILO_VMM_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2 /* below the 32-bit MMIO hole, and above 4 GiB */

struct guest_region {
	uint64_t gpa;  /* first guest-physical address */
	uint64_t size; /* bytes */
	uint8_t *hva;  /* host mapping of gpa */
};

struct guest_mem {
	struct guest_region r[GUEST_MEM_MAX_REGIONS];
	unsigned int nr;
};

/*
 * gpa_to_hva - host pointer for [gpa, gpa+len) or NULL.
 *
 * NULL when the range wraps, is empty-and-out-of-range, or is not wholly inside
 * one region. Guest-supplied addresses reach host memory only through here, so
 * a hostile guest cannot make the VMM touch anything but its own RAM.
 * len == 0 is allowed and checks only that gpa lies inside (or at the end of) a
 * region.
 */
static inline void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nr; i++) {
		const struct guest_region *r = &m->r[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off > r->size || len > r->size - off)
			continue;
		return r->hva + off;
	}
	return NULL;
}

#endif
