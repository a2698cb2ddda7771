/*
 * struct vm: one microVM. Owns the KVM fds, guest memory, buses, devices,
 * vCPUs and the event-loop thread. All VM state lives here (no globals) so a
 * process could host several VMs and a snapshot can find everything.
 */
#ifndef SILO_VMM_VM_H
#define SILO_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "vmm/arch/x86/boot.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/bus.h"
#include "vmm/devices/legacy/i8042.h"
#include "vmm/devices/virtio/host.h"
#include "vmm/mem.h"
#include "vmm/vcpu.h"

#define VM_MAX_VCPUS 32
/* Optional devices on one command line: at most one per virtio-mmio slot. */
#define VM_MAX_DEVS  VIRTIO_MMIO_MAX_DEVS

struct console;
struct control;
struct evloop;
struct serial;
struct virtio_mmio;
struct kvm_cpuid2;
struct vmm_device;
struct snap_reader;

/* One optional device from the command line: its table row and argument. */
struct vm_dev_arg {
	const struct vmm_device *dev;
	const char *arg; /* checked by dev->check; NULL for a flag */
};

/* --vsock-peer: at most this many ports go to the peer. */
#define VM_MAX_PEER_PORTS 8

struct vm_config {
	const char *kernel, *initrd, *cmdline;
	unsigned int cpus;
	uint64_t mem_mib;
	struct vm_dev_arg devs[VM_MAX_DEVS]; /* in command-line order */
	unsigned int nr_devs;
	bool huge_pages;	       /* guest RAM on the host's THP (SILO_VMM_HUGEPAGES=1) */
	unsigned int vsock_connect_ms; /* 0: default (SILO_VMM_VSOCK_CONNECT_MS) */
	const char *console;	       /* "stdio", "file:PATH", "unix:PATH" */
	uint64_t console_max;	       /* budget of a console file, 0: default */
	const char *control;	       /* control socket path or NULL */
	unsigned int boot_timeout;     /* seconds; 0 = none */
	const char *boot_marker;       /* NULL: first console output completes boot */
	bool no_map;		       /* copy the kernel instead of mapping it */
	const char *restore;	       /* --restore DIR: resume a snapshot, no boot */
	int vsock_peer_fd;	       /* --vsock-peer FD:PORTS, or -1 */
	uint32_t vsock_peer_ports[VM_MAX_PEER_PORTS]; /* the ports it takes */
	unsigned int nr_vsock_peer_ports;
	int64_t trace_t0_ns; /* CLOCK_MONOTONIC start for the trace, 0 = off */
};

struct vm_virtio {
	struct virtio_host host; /* must outlive the transport */
	struct virtio_mmio *mmio;
	uint64_t base;
	unsigned int gsi;
	int irqfd;
	/* A device whose requests can block (a disk) serves its queues on its
	 * own thread and loop, so a slow write or FLUSH never holds up the
	 * shared event thread (vsock, console, control). NULL: vm->ev. */
	struct evloop *io_ev;
	pthread_t io_thread;
	bool io_started;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd;
	int vcpu_mmap_size;
	struct kvm_cpuid2 *cpuid;
	bool tsc_deadline;
	struct guest_mem mem; /* guest RAM, mapped with guards (guest_mem_map) */
	uint64_t ram_size;
	struct boot_kernel kernel;
	uint64_t entry;

	struct bus pio, mmio;
	struct evloop *ev;
	pthread_t ev_thread;
	bool ev_started;
	/* A restore's working set (snapshot/wset.h), faulted in by a thread of
	 * its own beside the guest, which frees it. */
	struct wset_range *wset;
	uint32_t wset_nr;
	pthread_t prefetch_thread;
	bool prefetch_started;
	int sig_fd;	/* signalfd for SIGINT/SIGTERM/SIGHUP */
	int pagemap_fd; /* /proc/self/pagemap for `snapshot`, or -1 */
	struct serial *serial;
	struct console *con;
	struct i8042 i8042;
	struct control *ctl;
	struct vm_virtio virtio[VIRTIO_MMIO_MAX_DEVS];
	unsigned int nr_virtio;

	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned int nr_vcpus;

	/* Run state, under lock; cond signals any change. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int attention; /* atomic: a vCPU must look at pause/stop (fast path check) */
	bool stopping; /* an exit was requested */
	int exit_code; /* first requested exit wins; -1 while running */
	char exit_msg[512];
	bool pause_req;
	unsigned int nr_paused, nr_exited;
	bool booted, panic_seen;
	struct timespec t_start;

	/* SILO_VMM_TRACE_START: CLOCK_MONOTONIC ns at the end of each setup phase. */
	struct {
		const char *name;
		int64_t ns;
	} trace[8];
	unsigned int nr_trace;

	/* --restore: the checked state file (snapshot/restore.c). */
	struct snap_reader *snap;

	/* Counters of guest-triggered oddities (warn once, count always). */
	uint64_t unhandled_pio, unhandled_mmio, irq_errs;
	uint64_t prefetched_pages; /* of wset, so far (atomic) */
};

/* Build the whole VM (KVM, memory, kernel, devices, vCPUs); -errno. */
int vm_create(struct vm **out, const struct vm_config *cfg);
/* Start threads, wait for the VM to end; returns the process exit code. */
int vm_run(struct vm *vm);
/* "silo-vmm: stats: maxrss_kib=... guest_resident_kib=... overhead_kib=..." */
void vm_print_mem_stats(struct vm *vm, FILE *f);
/* Why the VM ended (one line), valid after vm_run. */
const char *vm_exit_message(struct vm *vm);
/* Join everything and free; safe on a partially built VM. */
void vm_destroy(struct vm *vm);

/* Request the VM to end with code (first request wins); printf-style reason. */
void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* Control `snapshot` (its two files passed as descriptors, control.c):
 * pause, quiesce, write guest RAM to mem_fd and the state to state_fd; the
 * VM stays paused. 0, or -errno with a one-line reason in err. */
int vm_snapshot(struct vm *vm, int mem_fd, int state_fd, char *err, size_t errlen);
/* "running|paused vcpus=N uptime_ms=M" */
void vm_status(struct vm *vm, char *buf, size_t len);
/* One JSON object (no newline): uptime, the VMM's counters of guest oddities,
 * and every virtio device's counters (control socket `metrics`). */
void vm_metrics_json(struct vm *vm, FILE *f);
/* Set an IRQ line level (KVM_IRQ_LINE). */
void vm_irq_line(struct vm *vm, unsigned int irq, int level);

#endif
