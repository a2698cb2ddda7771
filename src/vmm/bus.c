/*
 * Port-I/O and MMIO dispatch. A handful of windows per bus, registered before
 * any vCPU runs and never changed afterwards, so lookups need no lock.
 */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

int bus_register(struct bus *b, const struct bus_dev *d)
{
	if (d->len == 0 || d->base + d->len < d->base)
		return -EINVAL;
	for (unsigned int i = 0; i < b->nr; i++) {
		const struct bus_dev *o = &b->dev[i];
		if (d->base < o->base + o->len && o->base < d->base + d->len)
			return -EEXIST;
	}
	if (b->nr >= BUS_MAX_DEVS)
		return -ENOSPC;
	b->dev[b->nr++] = *d;
	return 0;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	for (unsigned int i = 0; i < b->nr; i++) {
		const struct bus_dev *d = &b->dev[i];
		/* An access must fall wholly inside one window; one that straddles
		 * a window edge is treated like unmapped space. */
		if (addr < d->base || addr - d->base >= d->len || len > d->len - (addr - d->base))
			continue;
		if (is_write) {
			if (d->write)
				d->write(d->opaque, addr - d->base, data, len);
		} else if (d->read) {
			d->read(d->opaque, addr - d->base, data, len);
		} else {
			memset(data, 0xff, len);
		}
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len); /* open bus */
	return false;
}
