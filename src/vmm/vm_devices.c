/*
 * Device wiring: the legacy devices every VM has (COM1 behind the console,
 * the i8042 reset line), the optional devices of the device table
 * (devices/device.h) each behind a virtio-mmio window with its GSI and
 * irqfd, and the KVM calls devices make (IRQ lines, ioeventfds).
 */
#include <errno.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "proto/contract.h"
#include "vmm/devices/device.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/vm_internal.h"

void vm_irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		warn_once(&vm->irq_errs, "KVM_IRQ_LINE %u: %m", irq);
}
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

	if (vm->nr_virtio >= VIRTIO_MMIO_MAX_DEVS || GSI_VIRTIO_FIRST + vm->nr_virtio > GSI_MAX) {
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
	v->host = (struct virtio_host){ .mem = &vm->mem,
					.ev = v->io_ev ? v->io_ev : vm->ev,
					.ioeventfd = vm_ioeventfd,
					.opaque = vm,
					.irqfd = v->irqfd };
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
/* COM1 (the console's UART) and the i8042 (the guest's reset line). */
static int setup_legacy(struct vm *vm)
{
	struct bus_dev bd, bd2;
	struct serial_ops sops = {
		.tx = serial_tx, .irq = serial_irq, .rx_ready = serial_rx_ready, .opaque = vm
	};
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
	return 0;
}

int vm_setup_devices(struct vm *vm)
{
	const struct vmm_dev_env env = { .ev = vm->ev,
					 .vsock_connect_ms = vm->cfg.vsock_connect_ms,
					 .vsock_peer_fd = vm->cfg.vsock_peer_fd,
					 .vsock_peer_ports = vm->cfg.vsock_peer_ports,
					 .nr_vsock_peer_ports = vm->cfg.nr_vsock_peer_ports };
	char what[PATH_MAX];
	int ret;

	if ((ret = setup_legacy(vm)))
		return ret;
	/* In table order, each row's instances in command-line order: disks
	 * first, so they become vda, vdb, ... (devices/table.c). */
	for (const struct vmm_device *const *d = vmm_devices; *d; d++) {
		unsigned int idx = 0;

		for (unsigned int i = 0; i < vm->cfg.nr_devs; i++) {
			const struct vm_dev_arg *a = &vm->cfg.devs[i];
			struct vdev *vd;

			if (a->dev != *d)
				continue;
			if ((ret = (*d)->create(&vd, a->arg, idx++, &env, what, sizeof(what))))
				return ret;
			if ((ret = add_virtio(vm, vd, what, (*d)->own_thread)))
				return ret;
		}
	}
	return 0;
}
