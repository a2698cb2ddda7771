/* workers.c: detached threads that keep serving jobs (workers.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "net/workers.h"

int workers_init(struct workers *w, unsigned max, unsigned idle_max, size_t stack, int idle_ms)
{
	pthread_condattr_t ca;
	int r;

	if (max == 0 || idle_max == 0 || idle_max > max)
		return -EINVAL;
	*w = (struct workers){
		.max = max, .idle_max = idle_max, .stack = stack, .idle_ms = idle_ms
	};
	if (!(w->q = calloc(max, sizeof(*w->q))))
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	/* idle deadlines on CLOCK_MONOTONIC: a clock step must not keep or
         * end workers */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	return -r;
}

static struct timespec deadline(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static void *worker(void *arg)
{
	struct workers *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->nq == 0) {
			/* enough wait already: this one goes */
			if (w->idle >= w->idle_max)
				break;
			struct timespec dl = deadline(w->idle_ms);
			int r = 0;
			w->idle++;
			while (w->nq == 0 && r != ETIMEDOUT)
				r = pthread_cond_timedwait(&w->cond, &w->lock, &dl);
			w->idle--;
			if (w->nq == 0)
				break;
		}
		struct workers_job j = w->q[w->head];
		w->head = (w->head + 1) % w->max;
		w->nq--;
		pthread_mutex_unlock(&w->lock);
		j.fn(j.arg);
		pthread_mutex_lock(&w->lock);
		w->busy--;
	}
	w->threads--;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int workers_run(struct workers *w, void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	int r = 0;

	pthread_mutex_lock(&w->lock);
	if (w->busy >= w->max) {
		pthread_mutex_unlock(&w->lock);
		return -EAGAIN;
	}
	w->q[(w->head + w->nq) % w->max] = (struct workers_job){ fn, arg };
	w->nq++;
	w->busy++;
	if (w->idle >= w->nq) {
		/* an idle worker for every queued job, this one included */
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (w->stack)
		pthread_attr_setstacksize(&at, w->stack);
	r = pthread_create(&t, &at, worker, w);
	pthread_attr_destroy(&at);
	if (r != 0) {
		/* take our job back: it is the last one, nobody took it
                 * while we held the lock */
		w->nq--;
		w->busy--;
	} else {
		w->threads++;
	}
	pthread_mutex_unlock(&w->lock);
	return -r;
}

void workers_count(struct workers *w, unsigned *threads, unsigned *idle)
{
	pthread_mutex_lock(&w->lock);
	*threads = w->threads;
	*idle = w->idle;
	pthread_mutex_unlock(&w->lock);
}

void workers_free(struct workers *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->q);
	w->q = NULL;
}
