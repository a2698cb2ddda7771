/*
 * libFuzzer target: virtio-rng (rng.c) serving fuzzer-built descriptor
 * chains (layout and input format: fuzz_ring.h). Checks that every fill stays
 * inside the chain's writable buffers in guest RAM (ASan, canaries).
 */
#include "fuzz_ring.h"

static struct vdev *vd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!vd) {
		if (virtio_rng_create(&vd) < 0)
			abort();
		fr_attach(vd);
	}
	fr_run(vd, data, size);
	return 0;
}
