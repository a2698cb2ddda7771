/*
 * libFuzzer target: the working-set file reader (src/vmm/snapshot/wset.c)
 * on arbitrary bytes, for a 1 GiB VM. What it accepts must be ranges a
 * restore can prefetch as they are: page aligned, sorted, apart, in RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/snapshot/wset.h"

#define RAM (1ULL << 30)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wset_range *r;
	uint32_t nr;
	char err[160];
	uint8_t *copy = malloc(size ? size : 1);
	uint64_t end = 0;

	if (!copy)
		return 0;
	/* An exact-size heap copy: ASan catches a read one byte past the end. */
	memcpy(copy, data, size);
	if (wset_parse(copy, size, RAM, &r, &nr, err, sizeof(err)) == 0) {
		for (uint32_t i = 0; i < nr; i++) {
			if ((r[i].off | r[i].len) % WSET_PAGE || !r[i].len ||
			    (i && r[i].off <= end) || r[i].off + r[i].len > RAM ||
			    r[i].off + r[i].len < r[i].off)
				abort();
			end = r[i].off + r[i].len;
		}
		free(r);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	free(copy);
	return 0;
}
