/* Port-I/O and MMIO dispatch from vCPU exits to device models. */
#ifndef SILO_VMM_BUS_H
#define SILO_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A device window on a bus. read/write run on the vCPU thread that exited,
 * with off relative to base and len in 1..8. Reads must fill all len bytes.
 * Devices with state shared with the event thread lock it themselves.
 */
struct bus_dev {
	const char *name;
	uint64_t base, len;
	void (*read)(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
	void *opaque;
};

#define BUS_MAX_DEVS 32

struct bus {
	struct bus_dev dev[BUS_MAX_DEVS];
	unsigned int nr;
};

/* Register a window; -EEXIST on overlap, -ENOSPC when full. Setup time only. */
int bus_register(struct bus *b, const struct bus_dev *d);

/*
 * Dispatch an access. Returns false when nothing is mapped there: reads of
 * unmapped space return all ones (like an open bus), writes are dropped.
 */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
