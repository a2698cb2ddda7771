/* workers.h: detached threads that run one job each at a time and wait a
 * while for the next, for the network daemons on both sides (silo-netd on
 * the host, the guest's forwarder in silo-init).
 *
 * Both serve a connection per thread. Making a thread per connection costs
 * a clone, a stack mapped and first touched, and its unmapping at the end;
 * in a guest without nested paging every new stack page is also a VM exit.
 * A worker that finished its job instead waits up to idle_ms for the next
 * one, so a stream of short connections reuses a few threads. At most
 * max jobs run or wait at once (then workers_run fails and the caller
 * refuses the connection), and at most idle_max workers wait idle.
 */
#ifndef SILO_NET_WORKERS_H
#define SILO_NET_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct workers_job {
	void *(*fn)(void *);
	void *arg;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* idle workers wait for a job here */
	unsigned max, idle_max;
	size_t stack;
	int idle_ms;
	unsigned busy;	       /* jobs queued or running */
	unsigned threads;      /* workers alive */
	unsigned idle;	       /* workers waiting for a job */
	unsigned head, nq;     /* the queue: jobs not yet taken */
	struct workers_job *q; /* max entries */
};

/* 0, or -errno (-EINVAL for max or idle_max 0, -ENOMEM). */
int workers_init(struct workers *w, unsigned max, unsigned idle_max, size_t stack, int idle_ms);

/* Run fn(arg) on an idle worker, else on a new one. 0; -EAGAIN when max jobs
 * run already; -errno when no thread could be made (nothing was queued). */
int workers_run(struct workers *w, void *(*fn)(void *), void *arg);

/* Workers alive and idle, for tests and stats. */
void workers_count(struct workers *w, unsigned *threads, unsigned *idle);

/* Free what workers_init allocated; only once no worker is alive (the
 * daemons never do: their workers end with the process). */
void workers_free(struct workers *w);

#endif
