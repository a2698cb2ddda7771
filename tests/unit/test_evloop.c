/* Event loop: callbacks, ev_mod/ev_del from other threads and from callbacks, stop.
 * The loop runs on a thread of its own; what it sees is recorded in ctx and
 * asserted on the test's thread (cmocka's asserts are not thread-safe). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/evloop.h"

struct ctx {
	struct evloop *ev;
	int fd[2];
	int hits[2];
	int bad_events, bad_reads; /* cb0 got something other than EPOLLIN, 8 bytes */
	int run_rc;		   /* ev_run's result */
};

static void cb0(void *o, uint32_t events)
{
	struct ctx *c = o;
	uint64_t v;

	if (!(events & EPOLLIN))
		c->bad_events++;
	if (read(c->fd[0], &v, 8) != 8)
		c->bad_reads++;
	__atomic_add_fetch(&c->hits[0], 1, __ATOMIC_SEQ_CST);
	/* Deleting another fd from inside a callback must be safe even if its
	 * event is in the same batch. */
	ev_del(c->ev, c->fd[1]);
}

static void cb1(void *o, uint32_t events)
{
	struct ctx *c = o;
	(void)events;
	c->hits[1]++;
}

static void *run(void *arg)
{
	struct ctx *c = arg;

	c->run_rc = ev_run(c->ev);
	return NULL;
}

static void test_loop(void **state)
{
	struct ctx c = { 0 };
	uint64_t one = 1;
	pthread_t th;
	(void)state;

	assert_int_equal(ev_create(&c.ev), 0);
	c.fd[0] = eventfd(0, EFD_NONBLOCK);
	c.fd[1] = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(ev_add(c.ev, c.fd[0], EPOLLIN, cb0, &c), 0);
	assert_int_equal(ev_add(c.ev, c.fd[1], EPOLLIN, cb1, &c), 0);
	assert_int_equal(ev_add(c.ev, c.fd[1], EPOLLIN, cb1, &c), -EEXIST);
	/* Both ready before the loop starts: one batch, fd[0] first (epoll
	 * reports ready fds in the order they became ready), so cb0 runs
	 * first and deletes fd[1], whose event in the batch must be dropped. */
	assert_int_equal(write(c.fd[0], &one, 8), 8);
	assert_int_equal(write(c.fd[1], &one, 8), 8);
	assert_int_equal(pthread_create(&th, NULL, run, &c), 0);
	while (__atomic_load_n(&c.hits[0], __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	assert_int_equal(ev_del(c.ev, c.fd[1]), -ENOENT);
	/* Stop polling fd[0] from this thread, then stop the loop. */
	assert_int_equal(ev_mod(c.ev, c.fd[0], 0), 0);
	assert_int_equal(write(c.fd[0], &one, 8), 8);
	usleep(20000);
	assert_int_equal(__atomic_load_n(&c.hits[0], __ATOMIC_SEQ_CST), 1);
	ev_stop(c.ev);
	pthread_join(th, NULL);
	assert_int_equal(c.run_rc, 0);
	assert_int_equal(c.bad_events, 0);
	assert_int_equal(c.bad_reads, 0);
	assert_int_equal(c.hits[1], 0);
	ev_destroy(c.ev);
	close(c.fd[0]);
	close(c.fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
