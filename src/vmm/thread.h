/*
 * silo-vmm's threads (vCPUs, the event thread, the disks' I/O threads, the
 * prefetch thread) get a 1 MiB stack instead of glibc's 8 MiB default.
 *
 * Why: a host whose transparent huge pages are "always" (Debian's kernel
 * default) may back any anonymous mapping that holds an aligned 2 MiB range
 * with a 2 MiB page, at the first touch or later through khugepaged; an
 * 8 MiB stack of which a thread uses a few KiB then costs 2 MiB of host
 * memory, per thread, and only now and then (it depends on where the
 * mapping lands and on free memory). A mapping under 2 MiB never holds
 * such a range. 1 MiB is many times what these threads use (their largest
 * frame is the snapshot's 32 KiB pagemap buffer; docs/memory.md).
 */
#ifndef SILO_VMM_THREAD_H
#define SILO_VMM_THREAD_H

#include <pthread.h>

#define VMM_THREAD_STACK (1u << 20)

/* pthread_create with that stack: 0 or an errno value, as pthread_create. */
static inline int vmm_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	int r = pthread_attr_init(&at);

	if (r)
		return r;
	r = pthread_attr_setstacksize(&at, VMM_THREAD_STACK);
	if (!r)
		r = pthread_create(t, &at, fn, arg);
	pthread_attr_destroy(&at);
	return r;
}

#endif
