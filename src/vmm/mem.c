/*
 * Guest RAM host mappings with guard regions (mem.h).
 *
 * Layout of the reservation, each region GUEST_MEM_GUARD-aligned:
 *   [guard >= 2 MiB][r0][guard >= 2 MiB][r1][guard >= 2 MiB]
 * The whole reservation is one PROT_NONE mapping; each region is mapped
 * read-write over it with MAP_FIXED, so the guards stay PROT_NONE and
 * nothing else the process maps can land next to guest RAM.
 */
#include <errno.h>
#include <sys/mman.h>

#include "vmm/mem.h"

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int guest_mem_map(struct guest_mem *m, bool huge)
{
	return guest_mem_map_fd(m, huge, -1);
}

int guest_mem_map_fd(struct guest_mem *m, bool huge, int fd)
{
	uint64_t file_off = 0;
	uint64_t total = GUEST_MEM_GUARD, at;
	uint8_t *base;
	int ret;

	if (m->nr == 0 || m->nr > GUEST_MEM_MAX_REGIONS)
		return -EINVAL;
	for (unsigned int i = 0; i < m->nr; i++) {
		if (m->r[i].size == 0 || m->r[i].size > (1ULL << 48))
			return -EINVAL;
		total += round_up(m->r[i].size, GUEST_MEM_GUARD) + GUEST_MEM_GUARD;
	}
	total += GUEST_MEM_GUARD; /* slack to align the first region */
	/* NORESERVE: neither the guards nor untouched guest RAM cost anything. */
	base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	at = round_up((uintptr_t)base + GUEST_MEM_GUARD, GUEST_MEM_GUARD);
	for (unsigned int i = 0; i < m->nr; i++) {
		/* From a file, MAP_PRIVATE is copy-on-write: pages are read in
		 * from the page cache on first touch and shared by every VM
		 * mapping the same file; guest writes go to private pages. */
		void *p =
			mmap((void *)(uintptr_t)at, m->r[i].size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0),
			     fd, fd < 0 ? 0 : (off_t)file_off);

		if (p == MAP_FAILED) {
			ret = -errno;
			munmap(base, total);
			return ret;
		}
		/* Advisory, so failure is fine (vm_mem.c says why 4 KiB pages by default). */
		(void)madvise(p, m->r[i].size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		m->r[i].hva = p;
		file_off += m->r[i].size;
		at += round_up(m->r[i].size, GUEST_MEM_GUARD) + GUEST_MEM_GUARD;
	}
	m->map = base;
	m->map_len = total;
	return 0;
}

void guest_mem_unmap(struct guest_mem *m)
{
	if (!m->map)
		return;
	munmap(m->map, m->map_len);
	m->map = NULL;
	m->map_len = 0;
	for (unsigned int i = 0; i < m->nr; i++)
		m->r[i].hva = NULL;
}
