/* Guest physical memory: the one accessor every device uses to reach guest RAM. */
#ifndef SILO_VMM_MEM_H
#define SILO_VMM_MEM_H

#include <stdbool.h>
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
	/* The PROT_NONE reservation the regions live in (guest_mem_map), or NULL. */
	void *map;
	size_t map_len;
};

/*
 * Host mappings of guest RAM are fenced: every region has at least
 * GUEST_MEM_GUARD bytes of PROT_NONE on both sides, so a device bug that
 * indexes past a region faults instead of writing into other host memory.
 * 2 MiB is also the alignment of each region, which keeps guest and host
 * addresses congruent for transparent huge pages (SILO_VMM_HUGEPAGES).
 */
#define GUEST_MEM_GUARD (2ULL << 20)

/*
 * guest_mem_map - map m->r[0..nr) (gpa and size set by the caller) as
 * private anonymous memory inside one PROT_NONE reservation, guards around
 * each region; fills r[i].hva. huge: MADV_HUGEPAGE, else MADV_NOHUGEPAGE.
 * Returns 0 or -errno (nothing left mapped on error).
 */
int guest_mem_map(struct guest_mem *m, bool huge);

/*
 * guest_mem_map_fd - the same, with the regions mapped MAP_PRIVATE from fd
 * (a snapshot's memory file: the regions back to back from offset 0; the
 * caller checks the file is that large, since touching a page past its
 * end raises SIGBUS). fd < 0: anonymous, as guest_mem_map.
 */
int guest_mem_map_fd(struct guest_mem *m, bool huge, int fd);

/* guest_mem_unmap - undo guest_mem_map (no-op when nothing is mapped). */
void guest_mem_unmap(struct guest_mem *m);

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
