/*
 * VM construction and lifetime. vm_create follows the order the KVM API
 * asks for (Documentation/virt/kvm/api.rst); each step says why it sits
 * where it is.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vmm/arch/x86/cpuid.h"
#include "vmm/arch/x86/mptable.h"
#include "vmm/arch/x86/regs.h"
#include "vmm/console.h"
#include "vmm/control.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/devices/virtio/vsock/vsock.h"
#include "vmm/evloop.h"
#include "proto/contract.h"
#include "vmm/log.h"

#define KVM_API_VERSION_EXPECTED 12
/* The VMM's own kernel arguments; the user's --cmdline goes after them and
 * after the virtio_mmio.device= declarations, so it can override them.
 * 8250.nr_uarts=1: only ttyS0 exists, do not probe three phantom UARTs. */
#define VMM_CMDLINE "console=ttyS0 reboot=k panic=-1 pci=off nomodule 8250.nr_uarts=1"

void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->exit_code < 0) {
		vm->exit_code = code;
		va_start(ap, fmt);
		vsnprintf(vm->exit_msg, sizeof(vm->exit_msg), fmt, ap);
		va_end(ap);
	}
	vm->stopping = true;
	__atomic_store_n(&vm->attention, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return -ESHUTDOWN;
	}
	vm->pause_req = true;
	__atomic_store_n(&vm->attention, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	/* Paused means every vCPU is out of KVM_RUN and parked. */
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping && vm->nr_paused + vm->nr_exited < vm->nr_vcpus)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stopping)
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->lock);
	if (!ret)
		log_info("paused");
	return ret;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	__atomic_store_n(&vm->attention, vm->stopping, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	log_info("resumed");
	return 0;
}

/* Since the vCPUs started, paused time included. */
static long long uptime_ms(const struct vm *vm)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - vm->t_start.tv_sec) * 1000LL + (now.tv_nsec - vm->t_start.tv_nsec) / 1000000;
}

void vm_status(struct vm *vm, char *buf, size_t len)
{
	long long ms = uptime_ms(vm);
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->pause_req;
	pthread_mutex_unlock(&vm->lock);
	snprintf(buf, len, "%s vcpus=%u uptime_ms=%lld", paused ? "paused" : "running",
		 vm->nr_vcpus, ms);
}

void vm_metrics_json(struct vm *vm, FILE *f)
{
	fprintf(f, "{\"uptime_ms\":%lld,\"unhandled_pio\":%llu,\"unhandled_mmio\":%llu,"
		"\"irq_errs\":%llu,\"devices\":[", uptime_ms(vm),
		(unsigned long long)__atomic_load_n(&vm->unhandled_pio, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&vm->unhandled_mmio, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&vm->irq_errs, __ATOMIC_RELAXED));
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (i)
			fputc(',', f);
		virtio_mmio_metrics_json(vm->virtio[i].mmio, f);
	}
	fputs("]}", f);
}

void vm_irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		warn_once(&vm->irq_errs, "KVM_IRQ_LINE %u: %m", irq);
}

/* ---- device glue ---- */

static void serial_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	console_write(vm->con, buf, len);
}

static void serial_irq(void *opaque, int level)
{
	vm_irq_line(opaque, IRQ_COM1, level);
}

static void serial_rx_ready(void *opaque)
{
	struct vm *vm = opaque;

	console_rx_ready(vm->con);
}

static void i8042_reset(void *opaque)
{
	struct vm *vm = opaque;

	/* panic=-1 reboots at once through the same reset line. */
	if (vm->panic_seen)
		vm_request_exit(vm, VMM_EXIT_PANIC, "guest kernel panic");
	else
		vm_request_exit(vm, VMM_EXIT_RESET, "guest reset (i8042)");
}

static void console_event(void *opaque, enum console_event ev)
{
	struct vm *vm = opaque;

	switch (ev) {
	case CON_FIRST_OUTPUT:
	case CON_MARKER:
		if (ev == CON_MARKER || !vm->cfg.boot_marker) {
			pthread_mutex_lock(&vm->lock);
			vm->booted = true;
			pthread_cond_broadcast(&vm->cond);
			pthread_mutex_unlock(&vm->lock);
		}
		break;
	case CON_PANIC:
		/* Let the guest finish printing; its reset ends the VM. */
		vm->panic_seen = true;
		break;
	case CON_POWEROFF:
		/* Linux without ACPI has no power-off method: kernel_power_off()
		 * prints this after shutting devices down, then halts. */
		vm_request_exit(vm, VMM_EXIT_POWEROFF, "guest powered off");
		break;
	case CON_ESCAPE_STOP:
		vm_request_exit(vm, VMM_EXIT_STOPPED, "stopped from the console (Ctrl-A x)");
		break;
	}
}

static void on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_exit(vm, VMM_EXIT_STOPPED, "stopped by signal %s", strsignal((int)si.ssi_signo));
}

static int vm_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
			bool assign)
{
	struct vm *vm = opaque;
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

/* One virtio-mmio device: window, GSI, irqfd, transport, bus entry; with
 * own_thread, also the loop its queues are served on (vm_virtio.io_ev). */
static int add_virtio(struct vm *vm, struct vdev *vd, const char *what, bool own_thread)
{
	struct vm_virtio *v;
	struct kvm_irqfd irqfd = { 0 };
	struct bus_dev bd;
	int ret;

	if (vm->nr_virtio >= VIRTIO_MMIO_MAX_DEVS ||
	    GSI_VIRTIO_FIRST + vm->nr_virtio > GSI_MAX) {
		vdev_destroy(vd);
		return err_ret(-ENOSPC, "too many virtio devices");
	}
	v = &vm->virtio[vm->nr_virtio];
	v->base = GPA_VIRTIO_MMIO_BASE + (uint64_t)vm->nr_virtio * VIRTIO_MMIO_SIZE;
	v->gsi = GSI_VIRTIO_FIRST + vm->nr_virtio;
	v->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->irqfd < 0) {
		ret = err_ret(-errno, "eventfd: %m");
		goto err;
	}
	/* Edge-triggered GSI: a write to the eventfd pulses the IOAPIC pin. */
	irqfd.fd = (uint32_t)v->irqfd;
	irqfd.gsi = v->gsi;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = err_ret(-errno, "KVM_IRQFD gsi %u: %m", v->gsi);
		goto err;
	}
	if (own_thread && (ret = ev_create(&v->io_ev))) {
		err_ret(ret, "event loop for %s: %s", what, strerror(-ret));
		goto err;
	}
	v->host = (struct virtio_host){ .mem = &vm->mem, .ev = v->io_ev ? v->io_ev : vm->ev,
					.ioeventfd = vm_ioeventfd, .opaque = vm, .irqfd = v->irqfd };
	v->mmio = virtio_mmio_create(&v->host, v->base, vd);
	if (!v->mmio) {
		ret = err_ret(-errno, "virtio-mmio transport for %s: %m", what);
		goto err;
	}
	vd = NULL; /* owned by the transport now */
	virtio_mmio_bus_dev(v->mmio, &bd);
	ret = bus_register(&vm->mmio, &bd);
	if (ret) {
		err_ret(ret, "registering %s at %#llx: %s", what, (unsigned long long)v->base,
			strerror(-ret));
		virtio_mmio_destroy(v->mmio);
		v->mmio = NULL;
		goto err;
	}
	vm->nr_virtio++;
	return 0;
err:
	if (vd)
		vdev_destroy(vd);
	if (v->irqfd >= 0)
		close(v->irqfd);
	v->irqfd = -1;
	ev_destroy(v->io_ev);
	v->io_ev = NULL;
	return ret;
}

static int setup_devices(struct vm *vm)
{
	struct bus_dev bd, bd2;
	struct serial_ops sops = { .tx = serial_tx, .irq = serial_irq,
				   .rx_ready = serial_rx_ready, .opaque = vm };
	int ret;

	ret = serial_create(&vm->serial, &sops);
	if (ret)
		return ret;
	serial_bus_dev(vm->serial, PORT_COM1, &bd);
	if ((ret = bus_register(&vm->pio, &bd)))
		return ret;
	ret = console_attach(vm->con, vm->ev, vm->serial);
	if (ret)
		return ret;
	vm->i8042 = (struct i8042){ .reset = i8042_reset, .opaque = vm };
	i8042_bus_devs(&vm->i8042, &bd, &bd2);
	if ((ret = bus_register(&vm->pio, &bd)) || (ret = bus_register(&vm->pio, &bd2)))
		return ret;

	/* Disks first, in command-line order, so they become vda, vdb, ... */
	for (unsigned int i = 0; i < vm->cfg.nr_disks; i++) {
		const struct vm_disk *d = &vm->cfg.disks[i];
		struct vdev *vd;
		char serial[20];

		snprintf(serial, sizeof(serial), "silo-vd%c", 'a' + i);
		ret = virtio_blk_create(&vd, d->path, d->readonly, serial);
		if (ret)
			return err_ret(ret, "disk %s: %s", d->path, strerror(-ret));
		if ((ret = add_virtio(vm, vd, d->path, true)))
			return ret;
	}
	if (vm->cfg.rng) {
		struct vdev *vd;

		ret = virtio_rng_create(&vd);
		if (ret)
			return err_ret(ret, "virtio-rng: %s", strerror(-ret));
		if ((ret = add_virtio(vm, vd, "rng", false)))
			return ret;
	}
	if (vm->cfg.balloon) {
		struct vdev *vd;

		ret = virtio_balloon_create(&vd);
		if (ret)
			return err_ret(ret, "virtio-balloon: %s", strerror(-ret));
		if ((ret = add_virtio(vm, vd, "balloon", false)))
			return ret;
	}
	if (vm->cfg.vsock_path) {
		struct vdev *vd;

		ret = virtio_vsock_create(&vd, vm->cfg.vsock_cid, vm->cfg.vsock_path, vm->ev);
		if (ret)
			return err_ret(ret, "vsock %s: %s", vm->cfg.vsock_path, strerror(-ret));
		if (vm->cfg.vsock_connect_ms)
			virtio_vsock_set_connect_timeout(vd, vm->cfg.vsock_connect_ms);
		if ((ret = add_virtio(vm, vd, "vsock", false)))
			return ret;
	}
	return 0;
}

/* ---- KVM and memory ---- */

static int open_kvm(struct vm *vm)
{
	static const struct { int cap; const char *name; } req[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },	    { KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" }, { KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" }, { KVM_CAP_IRQFD, "IRQFD" },
		{ KVM_CAP_IOEVENTFD, "IOEVENTFD" }, { KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
	};
	int ret;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return err_ret(-errno, "cannot open /dev/kvm: %m; this host offers no usable KVM: "
				       "boot the guest in the lab (tests/lab/run silo-vmm ...)");
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION_EXPECTED)
		return err_ret(-EINVAL, "KVM API version %d, need %d", ret,
			       KVM_API_VERSION_EXPECTED);
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, req[i].cap) <= 0)
			return err_ret(-ENOTSUP, "KVM lacks KVM_CAP_%s", req[i].name);
	vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return err_ret(-EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", vm->vcpu_mmap_size);
	return cpuid_get_supported(vm->kvm_fd, &vm->cpuid);
}

static int setup_vm_fd(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = GPA_IDENTITY_MAP;

	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0)
		return err_ret(-errno, "KVM_CREATE_VM: %m");
	/* TSS (3 pages) and identity map (1 page) for Intel real-mode emulation:
	 * in the MMIO hole, clear of RAM and devices; before any vCPU exists. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)GPA_TSS) < 0)
		return err_ret(-errno, "KVM_SET_TSS_ADDR: %m");
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return err_ret(-errno, "KVM_SET_IDENTITY_MAP_ADDR: %m");
	/* PIC + IOAPIC (+ per-vCPU LAPICs) must exist before KVM_CREATE_VCPU. */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_ret(-errno, "KVM_CREATE_IRQCHIP: %m");
	/* SPEAKER_DUMMY: KVM absorbs port 0x61, so it never exits to us. */
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_ret(-errno, "KVM_CREATE_PIT2: %m");
	return 0;
}

static int setup_memory(struct vm *vm)
{
	uint64_t low;
	int ret;

	vm->ram_size = vm->cfg.mem_mib << 20;
	low = boot_low_ram(vm->ram_size);
	/* Slot 0 below the 32-bit MMIO hole, slot 1 (if any) from 4 GiB. */
	vm->mem.r[0] = (struct guest_region){ .gpa = 0, .size = low };
	vm->mem.nr = 1;
	if (vm->ram_size > low) {
		vm->mem.r[1] = (struct guest_region){ .gpa = GPA_HIGH_RAM,
						      .size = vm->ram_size - low };
		vm->mem.nr = 2;
	}
	/*
	 * Each slot is its own mapping with PROT_NONE guards around it (mem.h):
	 * a device that indexes past guest RAM faults instead of writing into
	 * the VMM's heap. 4 KiB host pages whatever the host's THP default
	 * (SILO_VMM_HUGEPAGES=1 opts out, for the lab): a huge page would
	 * make the first guest touch cost 2 MiB of host memory, and idle
	 * sandboxes are sized by what they touch. The price is speed where the
	 * host shadows guest page tables (the lab's npt=0: exec round trip and
	 * file put about 2x slower there); with EPT/NPT it is TLB reach only.
	 */
	ret = guest_mem_map(&vm->mem, vm->cfg.huge_pages);
	if (ret)
		return err_ret(ret, "mmap %llu MiB guest RAM: %s",
			       (unsigned long long)vm->cfg.mem_mib, strerror(-ret));
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = vm->mem.r[i].gpa,
			.memory_size = vm->mem.r[i].size,
			.userspace_addr = (uintptr_t)vm->mem.r[i].hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return err_ret(-errno, "KVM_SET_USER_MEMORY_REGION slot %u: %m", i);
	}
	return 0;
}

static int load_guest(struct vm *vm)
{
	struct boot_placement p = { .mem_size = vm->ram_size, .cmdline_gpa = GPA_CMDLINE };
	struct virtio_decl decl[VIRTIO_MMIO_MAX_DEVS];
	char *cmdline;
	size_t cap;
	uint8_t *mp;
	int ret;

	ret = boot_load_kernel(&vm->mem, vm->cfg.kernel, !vm->cfg.no_map, &vm->kernel);
	if (ret)
		return ret;
	vm->entry = vm->kernel.entry;
	log_info("kernel entry %#llx, %zu bytes mapped, %zu copied",
		 (unsigned long long)vm->entry, vm->kernel.mapped, vm->kernel.copied);
	if (vm->cfg.initrd) {
		ret = boot_load_initrd(&vm->mem, vm->cfg.initrd, !vm->cfg.no_map, &vm->kernel,
				       vm->ram_size, &p.initrd_gpa, &p.initrd_size);
		if (ret)
			return ret;
	}
	if ((ret = regs_write_tables(&vm->mem)))
		return err_ret(ret, "writing GDT/page tables");
	mp = gpa_to_hva(&vm->mem, GPA_MPTABLE, mptable_size(vm->nr_vcpus));
	if (!mp)
		return -ENOMEM;
	ret = mptable_build(mp, GPA_HIMEM - GPA_MPTABLE, GPA_MPTABLE, vm->nr_vcpus);
	if (ret < 0)
		return err_ret(ret, "building the MP table: %s", strerror(-ret));

	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		decl[i] = (struct virtio_decl){ .base = vm->virtio[i].base,
						.size = VIRTIO_MMIO_SIZE,
						.gsi = vm->virtio[i].gsi };
	cap = (size_t)vm->kernel.cmdline_max + 1;
	if (cap > CMDLINE_MAX)
		cap = CMDLINE_MAX;
	cmdline = malloc(cap);
	if (!cmdline)
		return -ENOMEM;
	ret = boot_build_cmdline(cmdline, cap, VMM_CMDLINE, decl, vm->nr_virtio, vm->cfg.cmdline);
	if (ret < 0) {
		free(cmdline);
		return err_ret(ret, "kernel command line longer than %zu bytes", cap - 1);
	}
	log_info("cmdline: %s", cmdline);
	ret = boot_write_params(&vm->mem, &vm->kernel, &p, cmdline);
	free(cmdline);
	return ret;
}

static void trace_mark(struct vm *vm, const char *name)
{
	struct timespec ts;

	if (!vm->cfg.trace_t0_ns || vm->nr_trace == sizeof(vm->trace) / sizeof(vm->trace[0]))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	vm->trace[vm->nr_trace].name = name;
	vm->trace[vm->nr_trace++].ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	sigset_t sigs;
	int ret;

	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->sig_fd = -1;
	vm->exit_code = -1;
	vm->nr_vcpus = cfg->cpus;
	for (unsigned int i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpus[i] = (struct vcpu){ .vm = vm, .fd = -1 };
	pthread_mutex_init(&vm->lock, NULL);
	/* The boot deadline is on CLOCK_MONOTONIC; the default condvar clock is
	 * CLOCK_REALTIME, against which that deadline lies decades in the past. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	*out = vm;

	if ((ret = vcpu_kick_signal_init()))
		return err_ret(ret, "installing the kick signal: %s", strerror(-ret));
	if ((ret = open_kvm(vm)))
		return ret;
	trace_mark(vm, "kvm");
	if ((ret = setup_vm_fd(vm)) || (ret = setup_memory(vm)))
		return ret;
	trace_mark(vm, "vm+mem");
	if ((ret = ev_create(&vm->ev)))
		return err_ret(ret, "event loop: %s", strerror(-ret));
	/* Termination signals arrive on the event loop, not in a handler
	 * (blocked here, before any thread exists, so all threads inherit it). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	vm->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0 || ev_add(vm->ev, vm->sig_fd, EPOLLIN, on_signal, vm) < 0)
		return err_ret(-errno, "signalfd: %m");
	ret = console_open(&vm->con, cfg->console ? cfg->console : "stdio", cfg->console_max,
			   cfg->boot_marker, console_event, vm);
	if (ret)
		return ret;
	/* Devices before boot params: the command line declares them. */
	if ((ret = setup_devices(vm)))
		return ret;
	trace_mark(vm, "devices");
	if ((ret = load_guest(vm)))
		return ret;
	trace_mark(vm, "load");
	if (cfg->control && (ret = control_create(&vm->ctl, cfg->control, vm)))
		return ret;
	/* vCPUs last: the boot CPU's registers need the kernel entry. */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if ((ret = vcpu_init(&vm->vcpus[i], vm, i)))
			return ret;
	trace_mark(vm, "vcpus");
	return 0;
}

/* The body of the event thread and of each disk's I/O thread. */
static void run_loop(struct vm *vm, struct evloop *ev, const char *name)
{
	int ret;

	pthread_setname_np(pthread_self(), name);
	ret = ev_run(ev);
	if (ret)
		vm_request_exit(vm, VMM_EXIT_INTERNAL, "%s: event loop failed: %s", name,
				strerror(-ret));
}

static void *ev_thread(void *arg)
{
	struct vm *vm = arg;

	run_loop(vm, vm->ev, "silo-ev");
	return NULL;
}

static void *io_thread(void *arg)
{
	struct vm_virtio *v = arg;
	struct vm *vm = v->host.opaque;
	char name[16];

	snprintf(name, sizeof(name), "silo-io%u", (unsigned int)(v - vm->virtio));
	run_loop(vm, v->io_ev, name);
	return NULL;
}

int vm_run(struct vm *vm)
{
	struct timespec deadline;
	int ret, code;

	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	/* Device threads before the vCPUs, which kick their queues. */
	ret = pthread_create(&vm->ev_thread, NULL, ev_thread, vm);
	if (ret) {
		log_err("starting the event thread: %s", strerror(ret));
		return VMM_EXIT_SETUP;
	}
	vm->ev_started = true;
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *v = &vm->virtio[i];

		if (!v->io_ev)
			continue;
		ret = pthread_create(&v->io_thread, NULL, io_thread, v);
		if (ret) {
			log_err("starting the I/O thread of device %u: %s", i, strerror(ret));
			return VMM_EXIT_SETUP;
		}
		v->io_started = true;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vcpu_start(&vm->vcpus[i])) {
			vm_request_exit(vm, VMM_EXIT_SETUP, "could not start vcpu %u", i);
			break;
		}
	}

	/* Wait for the end. Boot timeout: the guest must complete boot (first
	 * console byte, or the --boot-marker) in time, or the VM is stopped --
	 * a guest that never speaks must not hang its caller. */
	deadline = vm->t_start;
	deadline.tv_sec += vm->cfg.boot_timeout;
	pthread_mutex_lock(&vm->lock);
	while (vm->exit_code < 0) {
		if (vm->cfg.boot_timeout && !vm->booted) {
			if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT &&
			    !vm->booted && vm->exit_code < 0) {
				pthread_mutex_unlock(&vm->lock);
				if (vm->cfg.boot_marker)
					vm_request_exit(vm, VMM_EXIT_BOOT_TIMEOUT,
							"boot timeout: guest did not print \"%s\" within %u s",
							vm->cfg.boot_marker, vm->cfg.boot_timeout);
				else
					vm_request_exit(vm, VMM_EXIT_BOOT_TIMEOUT,
							"boot timeout: no console output from the guest within %u s; "
							"if this host's /dev/kvm cannot run stock kernels (kvm-pvm), "
							"boot it in the lab: tests/lab/run silo-vmm ...",
							vm->cfg.boot_timeout);
				pthread_mutex_lock(&vm->lock);
			}
		} else {
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
	}
	code = vm->exit_code;
	pthread_mutex_unlock(&vm->lock);
	return code;
}

/*
 * Memory accounting for the benchmarks: guest pages resident in this process
 * (anonymous or mapped from the kernel/initrd files) counted with mincore(2),
 * against the process's peak RSS. The difference is the VMM's own overhead.
 */
void vm_print_mem_stats(struct vm *vm, FILE *f)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t resident = 0;
	struct rusage ru;

	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct guest_region *r = &vm->mem.r[i];
		size_t pages = (r->size + page - 1) / page;
		unsigned char *vec = malloc(pages);

		if (!vec || mincore(r->hva, r->size, vec)) {
			free(vec);
			return;
		}
		for (size_t j = 0; j < pages; j++)
			resident += vec[j] & 1;
		free(vec);
	}
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f, "silo-vmm: stats: maxrss_kib=%ld guest_resident_kib=%llu overhead_kib=%lld\n",
		ru.ru_maxrss, (unsigned long long)(resident * page / 1024),
		(long long)ru.ru_maxrss - (long long)(resident * page / 1024));
}

const char *vm_exit_message(struct vm *vm)
{
	return vm->exit_msg;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* Stop order: vCPUs (they call into devices), then the event loop and
	 * the disks' I/O loops (device backends), then devices, then memory
	 * and KVM fds. */
	pthread_mutex_lock(&vm->lock);
	vm->stopping = true;
	__atomic_store_n(&vm->attention, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	if (vm->ev_started) {
		ev_stop(vm->ev);
		pthread_join(vm->ev_thread, NULL);
	}
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i].io_started) {
			ev_stop(vm->virtio[i].io_ev);
			pthread_join(vm->virtio[i].io_thread, NULL);
		}
	}
	if (vm->serial)
		serial_flush(vm->serial);
	control_destroy(vm->ctl);
	console_close(vm->con);
	serial_destroy(vm->serial);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		virtio_mmio_destroy(vm->virtio[i].mmio);
		close(vm->virtio[i].irqfd);
		ev_destroy(vm->virtio[i].io_ev); /* after the transport left it */
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	ev_destroy(vm->ev);
	guest_mem_unmap(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
