/* The device event loop: one epoll thread serves every device backend. */
#ifndef SILO_VMM_EVLOOP_H
#define SILO_VMM_EVLOOP_H

#include <stdint.h>

struct evloop;

/* Called on the event thread with the epoll events that fired. */
typedef void (*ev_cb)(void *opaque, uint32_t events);

/* Create/destroy. ev_run() blocks until ev_stop() (from any thread). */
int ev_create(struct evloop **out);
void ev_destroy(struct evloop *ev);
int ev_run(struct evloop *ev);
void ev_stop(struct evloop *ev);

/*
 * ev_add/ev_mod/ev_del - watch fd for events (EPOLLIN, EPOLLOUT, ...).
 * One registration per fd. Safe to call from the event thread (also from a
 * callback) and from other threads. Return 0 or -errno.
 */
int ev_add(struct evloop *ev, int fd, uint32_t events, ev_cb cb, void *opaque);
int ev_mod(struct evloop *ev, int fd, uint32_t events);
int ev_del(struct evloop *ev, int fd);

#endif
