/*
 * libFuzzer target: the snapshot state file reader (src/vmm/snapshot/state.c)
 * on arbitrary bytes. A file the reader accepts must hand out only records
 * that lie inside the buffer (ASan checks every byte read).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/snapshot/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_reader r;
	char err[160];
	uint8_t *copy = malloc(size ? size : 1);
	volatile uint8_t sink = 0;

	if (!copy)
		return 0;
	/* An exact-size heap copy: ASan catches a read one byte past the end. */
	memcpy(copy, data, size);
	if (snap_reader_init(&r, copy, size, err, sizeof(err)) == 0) {
		for (uint32_t t = 1; t < SNAP_REC_TYPE_MAX; t++) {
			for (uint32_t id = 0; id < 4; id++) {
				size_t len;
				const uint8_t *p = snap_get(&r, t, id, &len);

				for (size_t i = 0; p && i < len; i++)
					sink ^= p[i];
			}
		}
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	(void)sink;
	free(copy);
	return 0;
}
