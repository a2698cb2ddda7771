/* i8042 keyboard controller: just enough for reboot=k (CPU reset). */
#ifndef SILO_VMM_I8042_H
#define SILO_VMM_I8042_H

#include <stdint.h>

struct bus_dev;

struct i8042 {
	void (*reset)(void *opaque); /* guest pulsed the CPU reset line */
	void *opaque;
};

/* Two windows: data port 0x60 and command/status port 0x64. */
void i8042_bus_devs(struct i8042 *k, struct bus_dev *data, struct bus_dev *cmd);

#endif
