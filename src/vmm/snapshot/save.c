/*
 * Control `snapshot` (docs/snapshots.md): quiesce the VM, then write guest
 * RAM (sparse) and the state (snapshot/state.h), the state last. Both files
 * come as descriptors from whoever asked (control.c): the jailed silo-vmm
 * opens no file, and the caller decides where they go and renames the
 * state into place once the reply says "ok", so a state file under its
 * final name is only ever complete.
 *
 * Quiesce: every vCPU out of KVM_RUN and parked (vm_pause), and every
 * device lock held: a disk's I/O thread serves its queue under that lock
 * and each request completes with its pwritev, so once we hold the lock no
 * request is half done and the disk file matches guest memory. vsock, rng
 * and balloon run on the event thread, which is the thread running this.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/log.h"
#include "vmm/snapshot/ident.h"
#include "vmm/snapshot/kvm_state.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm_internal.h"

#define PAGE 4096u

size_t snap_xsave_size(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_CHUNK   4096 /* pagemap entries read at once: 16 MiB of guest RAM */

/*
 * Pages of anonymous guest RAM that were never touched (or were dropped by
 * the balloon's MADV_DONTNEED) are neither present nor swapped in
 * /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst): they read
 * as zero without being read, which saves faulting in the zero page for
 * each. Not for a restored VM, whose pages may still be in its memory file
 * only; and any page pagemap cannot vouch for is read.
 */
struct pagemap {
	int fd;
	uint64_t base; /* first page number in ent */
	unsigned int n;
	uint64_t ent[PM_CHUNK];
};

static bool page_untouched(struct pagemap *pm, const uint8_t *p)
{
	uint64_t pfn = (uintptr_t)p / PAGE;
	ssize_t got;

	if (pm->fd < 0)
		return false;
	if (pfn < pm->base || pfn >= pm->base + pm->n) {
		got = pread(pm->fd, pm->ent, sizeof(pm->ent), (off_t)(pfn * 8));
		pm->base = pfn;
		pm->n = got > 0 ? (unsigned int)(got / 8) : 0;
		if (!pm->n)
			return false;
	}
	return !(pm->ent[pfn - pm->base] & (PM_PRESENT | PM_SWAPPED));
}

static bool page_hole(struct pagemap *pm, const uint8_t *p)
{
	return page_untouched(pm, p) || page_zero(p);
}

/* Runs of non-zero pages at their offsets; zero pages stay holes, so the
 * file is as sparse as the guest's RAM (SEEK_DATA/SEEK_HOLE see it). */
static int write_region(int fd, struct pagemap *pm, const uint8_t *p, uint64_t size, uint64_t off)
{
	uint64_t i = 0;

	while (i < size) {
		uint64_t start, len;

		while (i < size && page_hole(pm, p + i))
			i += PAGE;
		start = i;
		while (i < size && i - start < (64u << 20) && !page_hole(pm, p + i))
			i += PAGE;
		for (len = i - start; len;) {
			ssize_t n = pwrite(fd, p + start, len, (off_t)(off + start));

			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			start += (uint64_t)n;
			len -= (uint64_t)n;
		}
	}
	return 0;
}

static int write_memory(struct vm *vm, int fd)
{
	struct pagemap *pm = calloc(1, sizeof(*pm));
	uint64_t off = 0;
	int ret = 0;

	if (!pm)
		return -ENOMEM;
	/* A restored VM's pages may live in its memory file only: read them all. */
	pm->fd = vm->cfg.restore ? -1 : vm->pagemap_fd;
	/* The full size first: trailing zero pages are a hole too. A file
	 * that held something (a reused name) must not keep old pages in
	 * what are holes now: truncate to 0 first. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)vm->ram_size) < 0)
		ret = -errno;
	for (unsigned int i = 0; !ret && i < vm->mem.nr; i++) {
		ret = write_region(fd, pm, vm->mem.r[i].hva, vm->mem.r[i].size, off);
		off += vm->mem.r[i].size;
	}
	free(pm);
	return ret;
}

static void put_vm_info(struct vm *vm, struct snap_writer *w)
{
	struct snap_vm_info info = { .nr_vcpus = vm->nr_vcpus,
				     .nr_virtio = vm->nr_virtio,
				     .mem_size = vm->ram_size };

	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		info.dev_ids[i] = virtio_mmio_device_id(vm->virtio[i].mmio);
	snap_put(w, SNAP_REC_VM_INFO, 0, &info, sizeof(info));
}

/* Everything but memory, in the order restore reads it. */
static int build_state(struct vm *vm, struct snap_writer *w, struct snap_header *h)
{
	size_t xsave = snap_xsave_size(vm->kvm_fd);
	unsigned int nr_msrs;
	uint32_t *msrs;
	int ret;

	snap_host_ident(h);
	ret = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	if (ret <= 0)
		return err_ret(-errno, "KVM_GET_TSC_KHZ: %m");
	h->tsc_khz = (uint32_t)ret;
	put_vm_info(vm, w);
	if ((ret = snap_msr_list(vm->kvm_fd, &msrs, &nr_msrs)))
		return ret;
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = snap_save_vcpu(w, vm->vcpus[i].fd, i, msrs, nr_msrs, xsave);
	free(msrs);
	if (ret || (ret = snap_save_vm(w, vm->vm_fd)))
		return ret;
	for (unsigned int i = 0; !ret && i < vm->nr_virtio; i++)
		ret = virtio_mmio_save(vm->virtio[i].mmio, w, i);
	if (ret)
		return ret;
	serial_save(vm->serial, w);
	/* The i8042 keeps no state (only its reset line): an empty record
	 * says so, and gives a later format a place for it. */
	snap_put(w, SNAP_REC_I8042, 0, NULL, 0);
	return 0;
}

static int write_state(int fd, const uint8_t *buf, size_t len)
{
	if (ftruncate(fd, 0) < 0)
		return -errno;
	while (len) {
		ssize_t n = pwrite(fd, buf, len, 0);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Paused and every device locked. */
static int save_locked(struct vm *vm, int mem_fd, int state_fd, char *err, size_t errlen)
{
	struct snap_header h = { 0 };
	struct snap_writer w;
	const uint8_t *buf;
	size_t len;
	int ret;

	snap_writer_init(&w);
	ret = build_state(vm, &w, &h);
	if (!ret)
		ret = snap_writer_finish(&w, &h, &buf, &len);
	if (ret) {
		snprintf(err, errlen, "saving VM state: %s",
			 *log_last_error() ? log_last_error() : strerror(-ret));
		goto out;
	}
	if ((ret = write_memory(vm, mem_fd))) {
		snprintf(err, errlen, "writing the memory file: %s", strerror(-ret));
		goto out;
	}
	if ((ret = write_state(state_fd, buf, len)))
		snprintf(err, errlen, "writing the state file: %s", strerror(-ret));
out:
	snap_writer_free(&w);
	return ret;
}

/* A file the snapshot can be written to with pwrite: regular, open for
 * writing, not O_APPEND (where pwrite appends, pwrite(2) BUGS). */
static int check_out_fd(int fd, const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (fl & O_ACCMODE) == O_RDONLY ||
	    (fl & O_APPEND)) {
		snprintf(err, errlen, "the %s file must be a regular file open for writing", what);
		return -EINVAL;
	}
	return 0;
}

int vm_snapshot(struct vm *vm, int mem_fd, int state_fd, char *err, size_t errlen)
{
	int ret;

	if ((ret = check_out_fd(mem_fd, "memory", err, errlen)) ||
	    (ret = check_out_fd(state_fd, "state", err, errlen)))
		return ret;
	if ((ret = vm_pause(vm))) {
		snprintf(err, errlen, "the VM is stopping");
		return ret;
	}
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		virtio_mmio_lock(vm->virtio[i].mmio);
	ret = save_locked(vm, mem_fd, state_fd, err, errlen);
	for (unsigned int i = vm->nr_virtio; i-- > 0;)
		virtio_mmio_unlock(vm->virtio[i].mmio);
	if (!ret)
		log_info("snapshot written (paused)");
	return ret;
}
