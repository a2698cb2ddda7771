/*
 * i8042 keyboard controller, reduced to the reset line. Linux with reboot=k
 * (arch/x86/kernel/reboot.c, BOOT_KBD) waits for the input buffer to drain
 * (status bit 1 clear) and writes command 0xfe, "pulse output line 0" = CPU
 * reset. Our guest kernel has no i8042 driver (CONFIG_SERIO=n), so status
 * reads 0 (no data, input buffer empty), data reads 0 and other commands are
 * ignored.
 */
#include "vmm/devices/legacy/i8042.h"

#include <string.h>

#include "vmm/arch/x86/layout.h"
#include "vmm/bus.h"

#define I8042_CMD_RESET_CPU 0xfe

static void rd(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

static void wr_data(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

static void wr_cmd(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;

	(void)off;
	(void)len;
	if (data[0] == I8042_CMD_RESET_CPU && k->reset)
		k->reset(k->opaque);
}

void i8042_bus_devs(struct i8042 *k, struct bus_dev *data, struct bus_dev *cmd)
{
	*data = (struct bus_dev){ .name = "i8042-data",
				  .base = PORT_I8042_DATA,
				  .len = 1,
				  .read = rd,
				  .write = wr_data,
				  .opaque = k };
	*cmd = (struct bus_dev){ .name = "i8042-cmd",
				 .base = PORT_I8042_CMD,
				 .len = 1,
				 .read = rd,
				 .write = wr_cmd,
				 .opaque = k };
}
