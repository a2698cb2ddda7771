/* acceptors.h: threads that wait in accept(2) on one listener and serve
 * what they accept themselves (leader/follower), for the guest's TCP
 * forwarder (agent/netfwd.c).
 *
 * An accept loop that hands each connection to a worker wakes two threads
 * per connection: the loop, then the worker. Here the thread that accept(2)
 * returns to serves the connection, so one wakes. The listener must be
 * blocking: accept(2) waits exclusively (the kernel wakes one waiter per
 * connection), where poll(2) on a shared listener would wake every thread.
 *
 * A thread that takes a connection and leaves nobody waiting starts one
 * more (through spawn) before it serves; one that is done waits again
 * unless idle_max wait already, and otherwise returns its thread (done).
 * When spawn fails (its limit reached), no thread waits while all serve:
 * new connections wait in the listen backlog until one of them is done.
 */
#ifndef SILO_NET_ACCEPTORS_H
#define SILO_NET_ACCEPTORS_H

#include <pthread.h>
#include <stdbool.h>

struct acceptors {
	/* set by the caller */
	int fd;				  /* a blocking listener */
	int accept_flags;		  /* accept4(2) flags for the accepted sockets */
	unsigned idle_max;		  /* threads kept waiting in accept, >= 1 */
	void (*serve)(int fd, void *arg); /* one connection; closes fd */
	void *arg;
	/* run fn(arg) on a thread of its own: 0, or < 0 when it cannot now */
	int (*spawn)(void *(*fn)(void *), void *arg);
	void (*done)(void); /* a thread spawn started returns (may be NULL) */
	/* the threads' bookkeeping (acceptors_start) */
	pthread_mutex_t lock;
	unsigned waiting; /* in accept(2), or on the way to it */
	bool starting;	  /* one more is being started */
};

/* Initialise the bookkeeping and start the first thread: 0, or -EINVAL,
 * or -EAGAIN when spawn failed (nothing runs). */
int acceptors_start(struct acceptors *a);

/* Threads waiting in accept(2) now, for tests. */
unsigned acceptors_waiting(struct acceptors *a);

#endif
