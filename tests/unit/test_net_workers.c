/* Unit tests for src/net/workers.c: jobs run, the limit holds, threads are
 * reused and idle ones go. The jobs only record; every assertion is made on
 * the test's own thread (cmocka is not thread-safe). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/workers.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned done, started;
static bool release;
static pthread_t seen[64];
static unsigned nseen;

static void *count_job(void *arg)
{
	pthread_t self = pthread_self();

	(void)arg;
	pthread_mutex_lock(&mu);
	bool known = false;
	for (unsigned i = 0; i < nseen; i++)
		known |= pthread_equal(seen[i], self);
	if (!known && nseen < 64)
		seen[nseen++] = self;
	done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *blocking_job(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	started++;
	pthread_cond_broadcast(&cv);
	while (!release)
		pthread_cond_wait(&cv, &mu);
	done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void wait_for(unsigned *counter, unsigned n)
{
	pthread_mutex_lock(&mu);
	while (*counter < n)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void reset(void)
{
	done = started = nseen = 0;
	release = false;
}

static void wait_idle(struct workers *w, unsigned threads, unsigned idle)
{
	unsigned t, i;

	for (int k = 0; k < 2000; k++) {
		workers_count(w, &t, &i);
		if (t == threads && i == idle)
			return;
		usleep(5000);
	}
	workers_count(w, &t, &i);
	assert_int_equal(t, threads);
	assert_int_equal(i, idle);
}

/* One job after another: a single thread serves them all. */
static void test_sequential_jobs_reuse_one_thread(void **st)
{
	struct workers w;

	(void)st;
	reset();
	assert_int_equal(workers_init(&w, 8, 2, 0, 300), 0);
	for (unsigned k = 1; k <= 50; k++) {
		assert_int_equal(workers_run(&w, count_job, NULL), 0);
		wait_for(&done, k);
		wait_idle(&w, 1, 1); /* back to waiting before the next */
	}
	assert_int_equal(nseen, 1);
	wait_idle(&w, 0, 0); /* idle_ms later, no thread uses w */
	workers_free(&w);
}

/* max jobs at once, then -EAGAIN; room again once one ends. */
static void test_limit_and_idle_cap(void **st)
{
	struct workers w;

	(void)st;
	reset();
	assert_int_equal(workers_init(&w, 4, 2, 64 * 1024, 300), 0);
	for (int k = 0; k < 4; k++)
		assert_int_equal(workers_run(&w, blocking_job, NULL), 0);
	wait_for(&started, 4);
	assert_int_equal(workers_run(&w, blocking_job, NULL), -EAGAIN);
	pthread_mutex_lock(&mu);
	release = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	wait_for(&done, 4);
	/* four workers finished; only idle_max of them stay */
	wait_idle(&w, 2, 2);
	assert_int_equal(workers_run(&w, count_job, NULL), 0);
	wait_for(&done, 5);
	wait_idle(&w, 0, 0);
	workers_free(&w);
}

/* Idle workers end after idle_ms. */
static void test_idle_workers_end(void **st)
{
	struct workers w;

	(void)st;
	reset();
	assert_int_equal(workers_init(&w, 4, 4, 0, 50), 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(workers_run(&w, count_job, NULL), 0);
	wait_for(&done, 3);
	wait_idle(&w, 0, 0);
	workers_free(&w);
}

static void test_bad_arguments(void **st)
{
	struct workers w;

	(void)st;
	assert_int_equal(workers_init(&w, 0, 1, 0, 10), -EINVAL);
	assert_int_equal(workers_init(&w, 4, 0, 0, 10), -EINVAL);
	assert_int_equal(workers_init(&w, 4, 5, 0, 10), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential_jobs_reuse_one_thread),
		cmocka_unit_test(test_limit_and_idle_cap),
		cmocka_unit_test(test_idle_workers_end),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
