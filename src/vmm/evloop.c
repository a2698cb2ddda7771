/*
 * The device event loop: one epoll instance, one thread. Registrations live in
 * heap entries whose address is the epoll cookie; ev_del only unlinks and marks
 * an entry dead, and the event thread frees dead entries between epoll batches,
 * so an event already returned by epoll_wait never points at freed memory.
 */
#include "vmm/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct ev_entry {
	int fd;
	ev_cb cb;
	void *opaque;
	bool dead;
	struct ev_entry *next;
};

struct evloop {
	int epfd;
	int stopfd; /* eventfd written by ev_stop */
	bool stop;
	pthread_mutex_t lock; /* protects the lists below and entry->dead */
	struct ev_entry *live, *dead;
};

int ev_create(struct evloop **out)
{
	struct evloop *ev = calloc(1, sizeof(*ev));
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	int ret;

	if (!ev)
		return -ENOMEM;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->epfd < 0 || ev->stopfd < 0) {
		ret = -errno;
		goto err;
	}
	/* data.ptr == NULL marks the stop eventfd. */
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->stopfd, &e) < 0) {
		ret = -errno;
		goto err;
	}
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
err:
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->stopfd >= 0)
		close(ev->stopfd);
	free(ev);
	return ret;
}

static void free_list(struct ev_entry *e)
{
	while (e) {
		struct ev_entry *n = e->next;
		free(e);
		e = n;
	}
}

void ev_destroy(struct evloop *ev)
{
	if (!ev)
		return;
	free_list(ev->live);
	free_list(ev->dead);
	close(ev->epfd);
	close(ev->stopfd);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

int ev_add(struct evloop *ev, int fd, uint32_t events, ev_cb cb, void *opaque)
{
	struct ev_entry *en = calloc(1, sizeof(*en));
	struct epoll_event e = { .events = events };
	int ret = 0;

	if (!en)
		return -ENOMEM;
	en->fd = fd;
	en->cb = cb;
	en->opaque = opaque;
	e.data.ptr = en;
	pthread_mutex_lock(&ev->lock);
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ret = -errno;
		free(en);
	} else {
		en->next = ev->live;
		ev->live = en;
	}
	pthread_mutex_unlock(&ev->lock);
	return ret;
}

static struct ev_entry **find(struct evloop *ev, int fd)
{
	for (struct ev_entry **p = &ev->live; *p; p = &(*p)->next)
		if ((*p)->fd == fd)
			return p;
	return NULL;
}

int ev_mod(struct evloop *ev, int fd, uint32_t events)
{
	struct ev_entry **p;
	int ret = 0;

	pthread_mutex_lock(&ev->lock);
	p = find(ev, fd);
	if (!p) {
		ret = -ENOENT;
	} else {
		struct epoll_event e = { .events = events, .data.ptr = *p };
		if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&ev->lock);
	return ret;
}

int ev_del(struct evloop *ev, int fd)
{
	struct ev_entry **p, *en;
	int ret = 0;

	pthread_mutex_lock(&ev->lock);
	p = find(ev, fd);
	if (!p) {
		pthread_mutex_unlock(&ev->lock);
		return -ENOENT;
	}
	en = *p;
	*p = en->next;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		ret = -errno;
	en->dead = true;
	en->next = ev->dead;
	ev->dead = en;
	pthread_mutex_unlock(&ev->lock);
	return ret;
}

void ev_stop(struct evloop *ev)
{
	uint64_t one = 1;

	__atomic_store_n(&ev->stop, true, __ATOMIC_SEQ_CST);
	if (write(ev->stopfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: counter saturated, the loop is already woken. */
	}
}

int ev_run(struct evloop *ev)
{
	struct epoll_event evs[32];

	while (!__atomic_load_n(&ev->stop, __ATOMIC_SEQ_CST)) {
		int n = epoll_wait(ev->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct ev_entry *en = evs[i].data.ptr;
			ev_cb cb;
			void *opaque;

			if (!en)
				continue; /* stop eventfd; the loop condition handles it */
			pthread_mutex_lock(&ev->lock);
			cb = en->dead ? NULL : en->cb;
			opaque = en->opaque;
			pthread_mutex_unlock(&ev->lock);
			if (cb)
				cb(opaque, evs[i].events);
		}
		/* No epoll event of the batch is referenced any more: reap. */
		pthread_mutex_lock(&ev->lock);
		free_list(ev->dead);
		ev->dead = NULL;
		pthread_mutex_unlock(&ev->lock);
	}
	return 0;
}
