/*
 * Kernel, initrd and boot parameters for the Linux x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"): the VMM loads
 * the kernel, fills a zero page (struct boot_params) and enters the kernel's
 * 64-bit entry with rsi pointing at it and paging already on (regs.c).
 */
#include "vmm/arch/x86/boot.h"

#include <asm/e820.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/arch/x86/layout.h"
#include "vmm/fdarg.h"
#include "vmm/log.h"
#include "vmm/mem.h"

#define PAGE_SIZE	      4096ULL
#define HDR_MAGIC	      0x53726448 /* "HdrS", boot.rst */
#define BOOT_FLAG	      0xaa55
#define BZ_ENTRY64_OFFSET     0x200	/* boot.rst: 64-bit entry = load address + 0x200 */
#define ELF_KERNEL_ALIGN      0x1000000 /* what Firecracker synthesises for ELF boots */
#define X86_COMMAND_LINE_SIZE 2048	/* arch/x86 COMMAND_LINE_SIZE */

_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
_Static_assert(offsetof(struct boot_params, hdr) == 0x1f1, "setup_header at 0x1f1");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820 at 0x2d0");
_Static_assert(sizeof(struct boot_e820_entry) == 20, "packed e820 entry");
_Static_assert(offsetof(struct setup_header, cmd_line_ptr) == 0x228 - 0x1f1, "cmd_line_ptr");

uint64_t boot_low_ram(uint64_t mem_size)
{
	return mem_size < GPA_MMIO32_BASE ? mem_size : GPA_MMIO32_BASE;
}

unsigned int boot_build_e820(struct boot_e820_entry *e, unsigned int max, uint64_t mem_size)
{
	uint64_t low = boot_low_ram(mem_size);
	struct boot_e820_entry all[4] = {
		/* Conventional memory up to the MP table. */
		{ 0, GPA_EBDA_START, E820_RAM },
		/* MP table, VGA hole and BIOS area: never RAM (boot.rst, Firecracker). */
		{ GPA_EBDA_START, GPA_HIMEM - GPA_EBDA_START, E820_RESERVED },
		{ GPA_HIMEM, low - GPA_HIMEM, E820_RAM },
		{ GPA_HIGH_RAM, mem_size - low, E820_RAM },
	};
	unsigned int n = mem_size > low ? 4 : 3;

	if (n > max)
		n = max;
	memcpy(e, all, n * sizeof(*e));
	return n;
}

int boot_build_cmdline(char *out, size_t cap, const char *base, const struct virtio_decl *d,
		       unsigned int n, const char *extra)
{
	size_t len = 0;
	int w;

	if (cap == 0)
		return -E2BIG;
	out[0] = '\0';
#define APPEND(...)                                              \
	do {                                                     \
		w = snprintf(out + len, cap - len, __VA_ARGS__); \
		if (w < 0 || (size_t)w >= cap - len)             \
			goto too_big;                            \
		len += (size_t)w;                                \
	} while (0)
	if (base && *base)
		APPEND("%s", base);
	/* drivers/virtio/virtio_mmio.c: device=<size>@<base>:<irq>; one per device. */
	for (unsigned int i = 0; i < n; i++)
		APPEND("%svirtio_mmio.device=%uK@0x%llx:%u", len ? " " : "", d[i].size / 1024,
		       (unsigned long long)d[i].base, d[i].gsi);
	if (extra && *extra)
		APPEND("%s%s", len ? " " : "", extra);
#undef APPEND
	return (int)len;
too_big:
	out[0] = '\0';
	return -E2BIG;
}

void boot_fill_zero_page(struct boot_params *bp, const struct boot_kernel *k,
			 const struct boot_placement *p)
{
	struct setup_header *h = &bp->hdr;

	memset(bp, 0, sizeof(*bp));
	/* bzImage: pass its own setup header back (boot.rst: "copy the header
	 * into the zero page"); ELF: synthesise the fields the kernel reads. */
	*h = k->hdr;
	h->boot_flag = BOOT_FLAG;
	h->header = HDR_MAGIC;
	h->type_of_loader = 0xff; /* "undefined" boot loader */
	h->loadflags |= CAN_USE_HEAP;
	h->heap_end_ptr = 0xfe00; /* only used by real-mode setup code */
	h->vid_mode = 0xffff;	  /* "normal" */
	if (!k->is_bzimage)
		h->kernel_alignment = ELF_KERNEL_ALIGN;
	h->cmd_line_ptr = (uint32_t)p->cmdline_gpa;
	bp->ext_cmd_line_ptr = (uint32_t)(p->cmdline_gpa >> 32);
	if (p->initrd_size) {
		h->ramdisk_image = (uint32_t)p->initrd_gpa;
		h->ramdisk_size = (uint32_t)p->initrd_size;
		bp->ext_ramdisk_image = (uint32_t)(p->initrd_gpa >> 32);
		bp->ext_ramdisk_size = (uint32_t)(p->initrd_size >> 32);
	}
	bp->e820_entries =
		(uint8_t)boot_build_e820(bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE, p->mem_size);
}

/* Read exactly len bytes at off (short files are an error). */
static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *b = buf;

	while (len) {
		ssize_t n = pread(fd, b, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		b += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Bring file bytes [off, off+len) to guest RAM at hva: whole pages are mapped
 * copy-on-write from the page cache (no copy, shared by every VM booting the
 * same file), the tail is read. Falls back to reading everything.
 */
static int load_range(uint8_t *hva, int fd, off_t off, size_t len, bool map, size_t *mapped,
		      size_t *copied)
{
	size_t whole = map && off % PAGE_SIZE == 0 && (uintptr_t)hva % PAGE_SIZE == 0
			       ? len & ~(PAGE_SIZE - 1)
			       : 0;

	if (whole && mmap(hva, whole, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, off) ==
			     MAP_FAILED) {
		/* MAP_FIXED failure leaves the old anonymous mapping in place. */
		whole = 0;
	}
	*mapped += whole;
	*copied += len - whole;
	return pread_all(fd, hva + whole, len - whole, off + (off_t)whole);
}

static int load_elf(struct guest_mem *m, int fd, const Elf64_Ehdr *eh, off_t fsize, bool map,
		    struct boot_kernel *k)
{
	Elf64_Phdr ph[64];
	uint64_t entry = eh->e_entry;
	bool entry_found = false;
	int ret;

	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64)
		return err_ret(-ENOEXEC, "not an x86-64 ELF kernel");
	ret = pread_all(fd, ph, eh->e_phnum * sizeof(Elf64_Phdr), (off_t)eh->e_phoff);
	if (ret)
		return err_ret(ret, "reading program headers: %s", strerror(-ret));
	k->end = 0;
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint8_t *hva;

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz || p->p_offset > (uint64_t)fsize ||
		    p->p_filesz > (uint64_t)fsize - p->p_offset)
			return err_ret(-ENOEXEC, "bad PT_LOAD %u", i);
		hva = gpa_to_hva(m, p->p_paddr, p->p_memsz);
		if (!hva || p->p_paddr < GPA_HIMEM)
			return err_ret(-ENOMEM, "PT_LOAD %u [0x%llx,+0x%llx) not in guest RAM", i,
				       (unsigned long long)p->p_paddr,
				       (unsigned long long)p->p_memsz);
		ret = load_range(hva, fd, (off_t)p->p_offset, p->p_filesz, map, &k->mapped,
				 &k->copied);
		if (ret)
			return err_ret(ret, "loading PT_LOAD %u: %s", i, strerror(-ret));
		/* [filesz, memsz) is .bss: fresh anonymous guest RAM is already zero. */
		if (p->p_paddr + p->p_memsz > k->end)
			k->end = p->p_paddr + p->p_memsz;
		/* vmlinux's e_entry is physical (ENTRY(phys_startup_64)); translate
		 * a virtual one through its segment, just in case. */
		if (entry >= p->p_vaddr && entry - p->p_vaddr < p->p_memsz) {
			entry = p->p_paddr + (entry - p->p_vaddr);
			entry_found = true;
		}
	}
	if (!k->end)
		return err_ret(-ENOEXEC, "ELF kernel has no PT_LOAD segment");
	if (!entry_found && !gpa_to_hva(m, entry, 1))
		return err_ret(-ENOEXEC, "ELF entry 0x%llx outside the kernel",
			       (unsigned long long)entry);
	k->is_bzimage = false;
	k->entry = entry;
	k->initrd_max = 0x7fffffff; /* boot.rst default for old protocols */
	k->cmdline_max = X86_COMMAND_LINE_SIZE - 1;
	memset(&k->hdr, 0, sizeof(k->hdr));
	return 0;
}

static int load_bzimage(struct guest_mem *m, int fd, const uint8_t *first, off_t fsize, bool map,
			struct boot_kernel *k)
{
	const struct setup_header *h = (const void *)(first + 0x1f1);
	unsigned int sects = h->setup_sects ? h->setup_sects : 4;
	off_t setup = (off_t)(sects + 1) * 512;
	uint64_t payload, footprint, base;
	uint8_t *hva;
	int ret;

	if (h->boot_flag != BOOT_FLAG || h->header != HDR_MAGIC)
		return err_ret(-ENOEXEC, "neither an ELF vmlinux nor a bzImage");
	/* 64-bit entry needs protocol 2.12 and XLF_KERNEL_64 (boot.rst). */
	if (h->version < 0x020c || !(h->xloadflags & XLF_KERNEL_64))
		return err_ret(-ENOEXEC, "bzImage protocol %#x has no 64-bit entry", h->version);
	if (setup >= fsize)
		return err_ret(-ENOEXEC, "bzImage truncated");
	payload = (uint64_t)(fsize - setup);
	/* The decompressor works in place from max(load, pref_address) for
	 * init_size bytes (boot.rst: init_size, pref_address). */
	base = h->pref_address > GPA_HIMEM ? h->pref_address : GPA_HIMEM;
	footprint = base + h->init_size;
	if (footprint < GPA_HIMEM + payload)
		footprint = GPA_HIMEM + payload;
	hva = gpa_to_hva(m, GPA_HIMEM, footprint - GPA_HIMEM);
	if (!hva)
		return err_ret(-ENOMEM, "bzImage needs RAM up to 0x%llx",
			       (unsigned long long)footprint);
	/* setup is a multiple of 512, rarely of 4096: usually copied. */
	ret = load_range(hva, fd, setup, payload, map, &k->mapped, &k->copied);
	if (ret)
		return err_ret(ret, "loading bzImage: %s", strerror(-ret));
	k->is_bzimage = true;
	k->entry = GPA_HIMEM + BZ_ENTRY64_OFFSET;
	k->end = footprint;
	k->hdr = *h;
	k->initrd_max = h->initrd_addr_max;
	k->cmdline_max = h->cmdline_size;
	return 0;
}

int boot_load_kernel(struct guest_mem *m, const char *path, bool allow_map, struct boot_kernel *k)
{
	uint8_t first[1024];
	struct stat st;
	int fd, ret;

	memset(k, 0, sizeof(*k));
	fd = fdarg_open(path, O_RDONLY);
	if (fd < 0)
		return err_ret(fd, "open kernel %s: %s", path, strerror(-fd));
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (st.st_size < (off_t)sizeof(first)) {
		ret = err_ret(-ENOEXEC, "kernel %s is too small", path);
		goto out;
	}
	ret = pread_all(fd, first, sizeof(first), 0);
	if (ret)
		goto out;
	if (!memcmp(first, ELFMAG, SELFMAG))
		ret = load_elf(m, fd, (const Elf64_Ehdr *)first, st.st_size, allow_map, k);
	else
		ret = load_bzimage(m, fd, first, st.st_size, allow_map, k);
out:
	close(fd);
	return ret;
}

int boot_load_initrd(struct guest_mem *m, const char *path, bool allow_map,
		     const struct boot_kernel *k, uint64_t mem_size, uint64_t *gpa, uint64_t *size)
{
	uint64_t top = boot_low_ram(mem_size), at;
	size_t mapped = 0, copied = 0;
	struct stat st;
	int fd, ret;

	fd = fdarg_open(path, O_RDONLY);
	if (fd < 0)
		return err_ret(fd, "open initrd %s: %s", path, strerror(-fd));
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	/* Highest page-aligned spot below both end of low RAM and initrd_addr_max
	 * (Firecracker: end of the low slot), but above the kernel image. */
	if ((uint64_t)k->initrd_max + 1 < top)
		top = (uint64_t)k->initrd_max + 1;
	if ((uint64_t)st.st_size > top || st.st_size == 0) {
		ret = err_ret(-EFBIG, "initrd %s (%lld bytes) does not fit", path,
			      (long long)st.st_size);
		goto out;
	}
	at = (top - (uint64_t)st.st_size) & ~(PAGE_SIZE - 1);
	if (at < k->end) {
		ret = err_ret(-ENOMEM, "initrd %s (%lld bytes) overlaps the kernel: more --memory",
			      path, (long long)st.st_size);
		goto out;
	}
	ret = load_range(gpa_to_hva(m, at, (uint64_t)st.st_size), fd, 0, (size_t)st.st_size,
			 allow_map, &mapped, &copied);
	if (ret) {
		err_ret(ret, "reading initrd %s: %s", path, strerror(-ret));
		goto out;
	}
	*gpa = at;
	*size = (uint64_t)st.st_size;
out:
	close(fd);
	return ret;
}

int boot_write_params(struct guest_mem *m, const struct boot_kernel *k,
		      const struct boot_placement *p, const char *cmdline)
{
	size_t len = strlen(cmdline) + 1;
	struct boot_params *bp = gpa_to_hva(m, GPA_ZERO_PAGE, sizeof(*bp));
	char *cl = gpa_to_hva(m, p->cmdline_gpa, len);

	if (!bp || !cl)
		return -ENOMEM;
	if (len - 1 > k->cmdline_max)
		return err_ret(-E2BIG, "command line is %zu bytes, kernel accepts %u", len - 1,
			       k->cmdline_max);
	memcpy(cl, cmdline, len);
	boot_fill_zero_page(bp, k, p);
	return 0;
}
