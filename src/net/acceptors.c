/* acceptors.c: leader/follower threads on one listener (acceptors.h). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/acceptors.h"

static void *acceptor(void *arg);

/* Make sure a thread waits in accept(2): 0, or -EAGAIN when none could
 * start. At most one is started at a time. */
static int ensure_one(struct acceptors *a)
{
	bool go;

	pthread_mutex_lock(&a->lock);
	go = a->waiting == 0 && !a->starting;
	a->starting |= go;
	pthread_mutex_unlock(&a->lock);
	if (go && a->spawn(acceptor, a) < 0) {
		pthread_mutex_lock(&a->lock);
		a->starting = false;
		pthread_mutex_unlock(&a->lock);
		return -EAGAIN;
	}
	return 0;
}

static void *acceptor(void *arg)
{
	struct acceptors *a = arg;
	bool stay = true;

	pthread_mutex_lock(&a->lock);
	a->starting = false;
	a->waiting++;
	pthread_mutex_unlock(&a->lock);
	while (stay) {
		int c = accept4(a->fd, NULL, NULL, a->accept_flags);
		int err = errno;

		pthread_mutex_lock(&a->lock);
		a->waiting--;
		pthread_mutex_unlock(&a->lock);
		if (c >= 0) {
			(void)ensure_one(a); /* none: the backlog waits for us */
			a->serve(c, a->arg);
		} else if (err != EINTR && err != ECONNABORTED) {
			/* out of descriptors or memory: let connections end
			 * rather than spin on a listener that stays ready */
			usleep(100 * 1000);
		}
		pthread_mutex_lock(&a->lock);
		stay = a->waiting < a->idle_max;
		a->waiting += stay;
		pthread_mutex_unlock(&a->lock);
	}
	if (a->done)
		a->done();
	return NULL;
}

int acceptors_start(struct acceptors *a)
{
	if (a->fd < 0 || a->idle_max == 0 || !a->serve || !a->spawn)
		return -EINVAL;
	pthread_mutex_init(&a->lock, NULL);
	a->waiting = 0;
	a->starting = false;
	return ensure_one(a);
}

unsigned acceptors_waiting(struct acceptors *a)
{
	unsigned n;

	pthread_mutex_lock(&a->lock);
	n = a->waiting;
	pthread_mutex_unlock(&a->lock);
	return n;
}
