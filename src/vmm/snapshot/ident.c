/*
 * What a snapshot must match to be restored (docs/snapshots.md): the
 * silo-vmm build (its ELF build id, so two builds of one version differ)
 * and the host CPU (vendor and family/model/stepping). Restoring on another
 * CPU model could hand the guest CPUID bits and MSRs the host lacks.
 */
#include "vmm/snapshot/ident.h"

#include <cpuid.h>
#include <elf.h>
#include <link.h>
#include <string.h>

struct find_id {
	uint8_t *out;
	size_t len;
};

/* The NT_GNU_BUILD_ID note of the executable (the first object listed). */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *opaque)
{
	struct find_id *f = opaque;

	(void)size;
	for (unsigned int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		size_t off = 0;

		if (ph->p_type != PT_NOTE)
			continue;
		while (off + sizeof(ElfW(Nhdr)) <= ph->p_filesz) {
			const ElfW(Nhdr) *n = (const void *)(p + off);
			size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;

			off += sizeof(*n);
			if (off + name + desc > ph->p_filesz)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    !memcmp(p + off, "GNU", 4)) {
				f->len = n->n_descsz < SNAP_BUILD_ID_MAX ? n->n_descsz
									 : SNAP_BUILD_ID_MAX;
				memcpy(f->out, p + off + name, f->len);
				return 1;
			}
			off += name + desc;
		}
	}
	return 1; /* only the executable */
}

void snap_host_ident(struct snap_header *h)
{
	unsigned int a, b, c, d;
	struct find_id f = { .out = h->build_id };

	memset(h->build_id, 0, sizeof(h->build_id));
	dl_iterate_phdr(find_build_id, &f);
	__cpuid(0, a, b, c, d);
	memcpy(h->cpu_vendor, &b, 4);
	memcpy(h->cpu_vendor + 4, &d, 4);
	memcpy(h->cpu_vendor + 8, &c, 4);
	__cpuid(1, a, b, c, d);
	h->cpu_signature = a;
}

/* Within 250 ppm: what Firecracker tolerates before it would scale the TSC. */
static bool tsc_close(uint32_t a, uint32_t b)
{
	uint64_t diff = a > b ? a - b : b - a;

	return diff * 1000000 <= (uint64_t)a * 250;
}

int snap_check_ident(const struct snap_header *saved, uint32_t host_tsc_khz, char *err,
		     size_t errlen)
{
	struct snap_header host;

	snap_host_ident(&host);
	if (memcmp(saved->build_id, host.build_id, sizeof(host.build_id))) {
		snprintf(err, errlen, "snapshot was taken by a different silo-vmm build");
		return -1;
	}
	if (memcmp(saved->cpu_vendor, host.cpu_vendor, sizeof(host.cpu_vendor)) ||
	    saved->cpu_signature != host.cpu_signature) {
		snprintf(err, errlen,
			 "snapshot was taken on another CPU (%.12s signature %#x, this host: "
			 "%.12s %#x)",
			 saved->cpu_vendor, saved->cpu_signature, host.cpu_vendor,
			 host.cpu_signature);
		return -1;
	}
	if (!tsc_close(saved->tsc_khz, host_tsc_khz)) {
		snprintf(err, errlen, "snapshot TSC runs at %u kHz, this host's at %u kHz",
			 saved->tsc_khz, host_tsc_khz);
		return -1;
	}
	return 0;
}
