/*
 * libFuzzer target: virtio-balloon (balloon.c) serving fuzzer-built inflate,
 * deflate and free page reporting chains (layout and input format:
 * fuzz_ring.h). Reported ranges and inflate PFNs are dropped with
 * madvise(MADV_DONTNEED), which ASan does not see: the canary pages on both
 * sides of guest RAM catch a drop outside it.
 */
#include "fuzz_ring.h"

static struct vdev *vd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!vd) {
		if (virtio_balloon_create(&vd) < 0)
			abort();
		fr_attach(vd);
	}
	fr_run(vd, data, size);
	return 0;
}
