/*
 * --restore DIR: build the VM from a snapshot instead of booting
 * (docs/snapshots.md). vm_create calls these in the order the KVM API and
 * Firecracker's build_microvm_from_snapshot use:
 *   1. vm_restore_open: read DIR/state and check it (format, CRCs, the
 *      command line's --cpus/--memory) before anything is built, and
 *      DIR/workingset when there is one (wset.h);
 *   2. KVM_CREATE_VM, TSS, irqchip, PIT2 (as for a boot, arch/x86/kvm.c);
 *   3. vm_restore_memory: guest RAM mapped MAP_PRIVATE from DIR/mem (the
 *      working set is faulted in by vm_prefetch once the threads start);
 *   4. the devices, built from the command line as for a boot;
 *   5. vm_restore_state: vCPUs created and set, then the VM-wide state
 *      (PIT, clock, irqchips), then the devices, which may raise
 *      interrupts and so come after the irqchips.
 * Every mismatch is one line (err_ret) and exit 3; nothing here trusts the
 * file beyond what state.c checked. Under silo the launcher opens the
 * files and passes --restore fd:STATE,MEM[,WORKINGSET] (src/vmm/fdarg.h):
 * all are opened in step 1, so the jailed process needs no path.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/fdarg.h"
#include "vmm/log.h"
#include "vmm/snapshot/ident.h"
#include "vmm/snapshot/kvm_state.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/snapshot/state.h"
#include "vmm/snapshot/wset.h"
#include "vmm/vm_internal.h"

struct snap_loaded {
	struct snap_reader r;
	void *buf;
	int mem_fd;		 /* DIR/mem, until vm_restore_memory maps it */
	struct wset_range *wset; /* DIR/workingset's ranges, or NULL */
	uint32_t wset_nr;
	char what[4200]; /* DIR, or fd:STATE,MEM, for messages */
};

/* A whole snapshot file (the state, the working set) of at most max bytes
 * into *out (fd is closed); what/part/kind name it in the error line. */
static int read_file(int fd, const char *what, const char *part, const char *kind, uint64_t max,
		     void **out, size_t *len)
{
	struct stat st;
	void *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return err_ret(-EINVAL, "snapshot %s: %snot %s (size)", what, part, kind);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return err_ret(-EIO, "snapshot %s: %sshort read", what, part);
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* DIR/state, DIR/mem and DIR/workingset if there is one, or the
 * launcher's fd:STATE,MEM[,WSET]; *wset is -1 without one. */
static int open_files(const char *arg, int *state, int *mem, int *wset)
{
	char path[4200];
	int fds[3];
	bool three;

	if (fdarg_is_fd(arg)) {
		three = fdarg_list(arg, fds, 3);
		if (!three && !fdarg_list(arg, fds, 2))
			return err_ret(-EINVAL,
				       "--restore wants DIR or fd:STATE,MEM[,WORKINGSET], got '%s'",
				       arg);
		if ((*state = fdarg_take(fds[0], O_RDONLY)) < 0 ||
		    (*mem = fdarg_take(fds[1], O_RDONLY)) < 0 ||
		    (three && (*wset = fdarg_take(fds[2], O_RDONLY)) < 0))
			return err_ret(-EBADF, "snapshot %s: %s", arg,
				       strerror(-(*state < 0 ? *state
						  : *mem < 0 ? *mem
							     : *wset)));
		return 0;
	}
	snprintf(path, sizeof(path), "%s/state", arg);
	if ((*state = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_ret(-errno, "snapshot %s: %m", path);
	snprintf(path, sizeof(path), "%s/mem", arg);
	if ((*mem = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_ret(-errno, "snapshot memory %s: %m", path);
	snprintf(path, sizeof(path), "%s/" WSET_FILE, arg);
	if ((*wset = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno != ENOENT)
		return err_ret(-errno, "snapshot working set %s: %m", path);
	return 0;
}

/* The working set's ranges into l (fd is closed); none is fine. */
static int read_wset(struct snap_loaded *l, int fd, uint64_t ram_size)
{
	char err[160];
	void *buf;
	size_t len;
	int ret = read_file(fd, l->what, "working set: ", "a working-set file",
			    sizeof(struct wset_header) +
				    (uint64_t)WSET_MAX_RANGES * sizeof(struct wset_range),
			    &buf, &len);

	if (ret)
		return ret;
	ret = wset_parse(buf, len, ram_size, &l->wset, &l->wset_nr, err, sizeof(err));
	free(buf);
	if (ret)
		return err_ret(ret, "snapshot %s: working set: %s", l->what, err);
	return 0;
}

static int check_info(struct vm *vm, const struct snap_vm_info *info)
{
	if (info->nr_vcpus != vm->cfg.cpus)
		return err_ret(-EINVAL, "snapshot has %u vCPUs, --cpus says %u", info->nr_vcpus,
			       vm->cfg.cpus);
	if (info->mem_size != vm->cfg.mem_mib << 20)
		return err_ret(-EINVAL, "snapshot has %llu MiB of RAM, --memory says %llu",
			       (unsigned long long)(info->mem_size >> 20),
			       (unsigned long long)vm->cfg.mem_mib);
	return 0;
}

int vm_restore_open(struct vm *vm)
{
	struct snap_loaded *l = calloc(1, sizeof(*l));
	struct snap_vm_info info;
	char err[256];
	size_t len = 0;
	int ret, state = -1, wset = -1;

	if (!l)
		return -ENOMEM;
	vm->snap = &l->r; /* first member: vm_restore_close frees l */
	l->mem_fd = -1;
	snprintf(l->what, sizeof(l->what), "%s", vm->cfg.restore);
	if ((ret = open_files(vm->cfg.restore, &state, &l->mem_fd, &wset))) {
		if (state >= 0)
			close(state);
		if (wset >= 0)
			close(wset);
		return ret;
	}
	if (wset >= 0 && (ret = read_wset(l, wset, vm->cfg.mem_mib << 20))) {
		close(state);
		return ret;
	}
	if ((ret = read_file(state, l->what, "", "a state file", SNAP_STATE_MAX, &l->buf, &len)))
		return ret;
	if (snap_reader_init(&l->r, l->buf, len, err, sizeof(err)))
		return err_ret(-EINVAL, "snapshot %s: %s", l->what, err);
	if (snap_get_exact(&l->r, SNAP_REC_VM_INFO, 0, &info, sizeof(info)))
		return err_ret(-EINVAL, "snapshot %s: no VM record", l->what);
	return check_info(vm, &info);
}

void vm_restore_close(struct vm *vm)
{
	struct snap_loaded *l = (struct snap_loaded *)vm->snap;

	if (!l)
		return;
	if (l->mem_fd >= 0)
		close(l->mem_fd);
	free(l->buf);
	free(l->wset);
	free(l);
	vm->snap = NULL;
}

int vm_restore_memory(struct vm *vm)
{
	struct snap_loaded *l = (struct snap_loaded *)vm->snap;
	struct stat st;
	int ret;

	/* A short file would SIGBUS the first access past its end. */
	if (fstat(l->mem_fd, &st) < 0 || (uint64_t)st.st_size != vm->ram_size)
		return err_ret(-EINVAL, "snapshot memory %s is %lld bytes, the VM has %llu",
			       l->what, (long long)st.st_size, (unsigned long long)vm->ram_size);
	ret = guest_mem_map_fd(&vm->mem, vm->cfg.huge_pages, l->mem_fd);
	close(l->mem_fd); /* the mappings keep the file */
	l->mem_fd = -1;
	if (ret)
		return err_ret(ret, "mmap snapshot memory %s: %s", l->what, strerror(-ret));
	/* vm_prefetch's, once the threads start */
	vm->wset = l->wset;
	vm->wset_nr = l->wset_nr;
	l->wset = NULL;
	return 0;
}

/* The devices built from the command line must be those that were saved. */
static int check_devices(struct vm *vm)
{
	struct snap_vm_info info;

	if (snap_get_exact(vm->snap, SNAP_REC_VM_INFO, 0, &info, sizeof(info)))
		return -EINVAL;
	if (info.nr_virtio != vm->nr_virtio)
		return err_ret(-EINVAL, "snapshot has %u virtio devices, the command line %u",
			       info.nr_virtio, vm->nr_virtio);
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		if (info.dev_ids[i] != virtio_mmio_device_id(vm->virtio[i].mmio))
			return err_ret(
				-EINVAL,
				"snapshot device %u is virtio type %u, the command line's %u", i,
				info.dev_ids[i], virtio_mmio_device_id(vm->virtio[i].mmio));
	return 0;
}

static int restore_vcpus(struct vm *vm)
{
	size_t xsave = snap_xsave_size(vm->kvm_fd);
	char err[256];
	int ret;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if ((ret = vcpu_create(&vm->vcpus[i], vm, i)))
			return ret;
	/* The TSC check needs a vCPU: KVM_GET_TSC_KHZ is a vCPU ioctl. */
	ret = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	if (ret <= 0)
		return err_ret(-errno, "KVM_GET_TSC_KHZ: %m");
	if (snap_check_ident(&vm->snap->hdr, (uint32_t)ret, err, sizeof(err)))
		return err_ret(-EINVAL, "cannot restore %s: %s", vm->cfg.restore, err);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if ((ret = snap_restore_vcpu(vm->snap, vm->vcpus[i].fd, i, xsave)))
			return ret;
	return 0;
}

int vm_restore_state(struct vm *vm)
{
	int ret;

	if ((ret = check_devices(vm)) || (ret = restore_vcpus(vm)))
		return ret;
	/* VM-wide after the vCPUs (Firecracker restore order), devices after
	 * the irqchips: restoring a device can raise its interrupt. */
	if ((ret = snap_restore_vm(vm->snap, vm->vm_fd)))
		return ret;
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		if ((ret = virtio_mmio_restore(vm->virtio[i].mmio, vm->snap, i)))
			return ret;
	if (serial_restore(vm->serial, vm->snap))
		return err_ret(-EINVAL, "state file: bad UART record");
	if (!snap_get(vm->snap, SNAP_REC_I8042, 0, &(size_t){ 0 }))
		return err_ret(-EINVAL, "state file: no i8042 record");
	/* The guest booted long ago: no boot timeout, no marker to wait for. */
	vm->booted = true;
	return 0;
}

int vm_working_set(struct vm *vm, int fd, uint64_t *pages, char *err, size_t errlen)
{
	struct stat st;

	if (!vm->cfg.restore) {
		snprintf(err, errlen, "not a restored VM: every page it touched is its own");
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the working-set file must be a regular file");
		return -EINVAL;
	}
	return wset_record(fd, vm->pagemap_fd, &vm->mem, pages, err, errlen);
}

/*
 * The working set in (wset.h), on a thread of its own started before the
 * vCPUs: the guest runs meanwhile, and a page it writes before we get there
 * is faulted in by that write as without a working set (MADV_POPULATE_WRITE
 * leaves a page that is already private as it is, and a page we make
 * private under a mapping KVM holds is remapped through KVM's MMU
 * notifier). Only speed depends on it: a failure is said once, not fatal.
 * Done here rather than before the vCPUs start, the 50-110 ms it took in the
 * lab (5000-6000 pages) no longer delay the guest's first instruction.
 */
void vm_prefetch(struct vm *vm)
{
	struct timespec t0, t1;
	uint64_t pages = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = wset_prefetch(&vm->mem, vm->wset, vm->wset_nr, &pages);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__atomic_store_n(&vm->prefetched_pages, pages, __ATOMIC_RELAXED);
	if (ret)
		log_warn("working set: prefetch stopped after %llu pages: %s%s",
			 (unsigned long long)pages, strerror(-ret),
			 ret == -EINVAL ? " (MADV_POPULATE_WRITE needs Linux 5.14)" : "");
	else
		log_info("working set: %llu pages in %u ranges prefetched in %lld us",
			 (unsigned long long)pages, vm->wset_nr,
			 (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000);
	free(vm->wset);
	vm->wset = NULL;
}
