/*
 * The table of optional devices: each one is a command-line option of
 * silo-vmm (--disk, --rng, ...) and a virtio-mmio device. A device file
 * defines one `const struct vmm_device` (its option, the check of its
 * argument and how to build it) and devices/table.c lists it; the
 * command line (args.c), the usage text and the VM's device wiring
 * (vm_devices.c) all walk that table, so nothing else changes when a
 * device is added.
 */
#ifndef SILO_VMM_DEVICES_DEVICE_H
#define SILO_VMM_DEVICES_DEVICE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct evloop;
struct vdev;

/* What a device may need from the VM when it is built. */
struct vmm_dev_env {
	struct evloop *ev;	       /* the shared event loop */
	unsigned int vsock_connect_ms; /* 0: default (SILO_VMM_VSOCK_CONNECT_MS) */
	int vsock_peer_fd;	       /* --vsock-peer, or -1 */
	const uint32_t *vsock_peer_ports;
	unsigned int nr_vsock_peer_ports;
};

struct vmm_device {
	const char *name;    /* the option, --NAME */
	const char *metavar; /* its argument in the usage text; NULL: a flag */
	const char *help;    /* usage text: lines after the first indented by 23 */
	unsigned int max;    /* how often the option may be given (>= 1) */
	/* Serve the device's queues on a thread of its own: its requests can
	 * block (a disk), and must not hold up the shared event loop. */
	bool own_thread;
	/*
	 * Check one argument (NULL for a flag), given the arguments of the
	 * earlier instances of the same option; 0, or -1 with a message in err.
	 * Pure: the command-line parser's unit test calls it. NULL: any.
	 */
	int (*check)(const char *arg, const char *const *prev, unsigned int nr_prev, char *err,
		     size_t errlen);
	/*
	 * Build instance idx (0-based, in command-line order) from its checked
	 * argument; what names it in error messages. 0 or -errno, with the
	 * context recorded by err_ret().
	 */
	int (*create)(struct vdev **out, const char *arg, unsigned int idx,
		      const struct vmm_dev_env *env, char *what, size_t whatlen);
};

/* NULL-terminated, in the order the devices are built: that order is the
 * order of their MMIO windows, GSIs and /dev names in the guest. */
extern const struct vmm_device *const vmm_devices[];

/* A decimal number in min..max, no sign, no junk (the option parsers). */
static inline bool vmm_parse_uint(const char *s, unsigned long long min, unsigned long long max,
				  unsigned long long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out >= min && *out <= max;
}

#endif
