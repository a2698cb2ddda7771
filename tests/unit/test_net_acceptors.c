/* Unit tests for src/net/acceptors.c on a real TCP listener: every
 * connection is served by a thread that waited in accept(2), idle threads
 * settle at idle_max, and when no thread can be started connections wait in
 * the backlog and are served once a thread is free. The threads only record;
 * every assertion is made on the test's own thread (cmocka is not
 * thread-safe). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/acceptors.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned served, in_serve, alive, spawned, ended, spawn_limit;
static bool hold; /* serve waits until this is cleared */

static void reset_counts(unsigned limit)
{
	pthread_mutex_lock(&mu);
	served = in_serve = alive = spawned = ended = 0;
	spawn_limit = limit;
	hold = false;
	pthread_mutex_unlock(&mu);
}

/* One connection: echo a byte, then (while hold) wait; closes fd. */
static void serve(int fd, void *arg)
{
	char b;

	(void)arg;
	pthread_mutex_lock(&mu);
	in_serve++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (read(fd, &b, 1) == 1 && write(fd, &b, 1) != 1)
		b = 0;
	pthread_mutex_lock(&mu);
	while (hold)
		pthread_cond_wait(&cv, &mu);
	in_serve--;
	served++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	close(fd);
}

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *trampoline(void *arg)
{
	struct start s = *(struct start *)arg;

	free(arg);
	return s.fn(s.arg);
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t at;
	struct start *s;
	int r;

	pthread_mutex_lock(&mu);
	if (alive >= spawn_limit) {
		pthread_mutex_unlock(&mu);
		return -EAGAIN;
	}
	alive++;
	spawned++;
	pthread_mutex_unlock(&mu);
	s = malloc(sizeof(*s));
	*s = (struct start){ fn, arg };
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &at, trampoline, s);
	pthread_attr_destroy(&at);
	if (r != 0) {
		free(s);
		pthread_mutex_lock(&mu);
		alive--;
		pthread_mutex_unlock(&mu);
		return -r;
	}
	return 0;
}

static void done(void)
{
	pthread_mutex_lock(&mu);
	alive--;
	ended++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Wait (up to 10 s) until *v == want; the value seen. */
static unsigned wait_eq(unsigned *v, unsigned want)
{
	struct timespec dl;
	unsigned got;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&mu);
	while (*v != want && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
		;
	got = *v;
	pthread_mutex_unlock(&mu);
	return got;
}

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int client(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	/* an answer that never comes fails the test instead of hanging it */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 10 },
				    sizeof(struct timeval)),
			 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void echo_once(int fd, char c)
{
	char b = 0;

	assert_int_equal(write(fd, &c, 1), 1);
	assert_int_equal(read(fd, &b, 1), 1);
	assert_int_equal(b, c);
}

static struct acceptors *make(int fd, unsigned idle_max)
{
	static struct acceptors a;

	a = (struct acceptors){ .fd = fd,
				.accept_flags = SOCK_CLOEXEC,
				.idle_max = idle_max,
				.serve = serve,
				.spawn = spawn,
				.done = done };
	return &a;
}

/* Connections one after another and then several at once: each is served,
 * and afterwards idle_max threads wait and the rest have returned. */
static void test_serves_and_settles(void **state)
{
	uint16_t port;
	int lfd = listener(&port), c[6];
	struct acceptors *a = make(lfd, 2);

	(void)state;
	reset_counts(64);
	assert_int_equal(acceptors_start(a), 0);
	for (int i = 0; i < 10; i++) {
		int fd = client(port);
		echo_once(fd, (char)('a' + i));
		close(fd);
	}
	assert_int_equal(wait_eq(&served, 10), 10);
	/* six held at once: each needs a thread of its own */
	pthread_mutex_lock(&mu);
	hold = true;
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 6; i++) {
		c[i] = client(port);
		echo_once(c[i], 'x');
	}
	assert_int_equal(wait_eq(&in_serve, 6), 6);
	/* and one more waits for the next connection meanwhile */
	for (int i = 0; i < 100 && acceptors_waiting(a) < 1; i++)
		usleep(10000);
	assert_true(acceptors_waiting(a) >= 1);
	pthread_mutex_lock(&mu);
	hold = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 6; i++)
		close(c[i]);
	assert_int_equal(wait_eq(&served, 16), 16);
	/* the threads beyond idle_max return theirs */
	pthread_mutex_lock(&mu);
	unsigned want_alive = 2;
	pthread_mutex_unlock(&mu);
	assert_int_equal(wait_eq(&alive, want_alive), want_alive);
	assert_int_equal(acceptors_waiting(a), 2);
	pthread_mutex_lock(&mu);
	assert_true(spawned >= 7); /* six served at once, one waited */
	assert_int_equal(ended, spawned - 2);
	pthread_mutex_unlock(&mu);
	/* the listener stays open: the two waiting threads outlive the test
	 * (a thread blocked in accept(2) cannot be woken by close(2)) */
}

/* No thread can be started beyond two: the third and fourth connections
 * wait in the backlog, unanswered, and are served once one is free. */
static void test_backlog_waits_when_no_thread_can_start(void **state)
{
	uint16_t port;
	int lfd = listener(&port), c[4];
	struct acceptors *a = make(lfd, 1);
	char b;

	(void)state;
	reset_counts(2);
	pthread_mutex_lock(&mu);
	hold = true;
	pthread_mutex_unlock(&mu);
	assert_int_equal(acceptors_start(a), 0);
	for (int i = 0; i < 4; i++) {
		c[i] = client(port); /* the kernel completes the handshake */
		assert_int_equal(write(c[i], "y", 1), 1);
	}
	assert_int_equal(wait_eq(&in_serve, 2), 2);
	usleep(100000);
	pthread_mutex_lock(&mu);
	assert_int_equal(in_serve, 2);
	assert_int_equal(spawned, 2);
	pthread_mutex_unlock(&mu);
	assert_int_equal(acceptors_waiting(a), 0);
	assert_int_equal(recv(c[3], &b, 1, MSG_DONTWAIT), -1); /* nobody answered */
	assert_int_equal(errno, EAGAIN);
	pthread_mutex_lock(&mu);
	hold = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(read(c[i], &b, 1), 1);
		assert_int_equal(b, 'y');
		close(c[i]);
	}
	assert_int_equal(wait_eq(&served, 4), 4);
}

static int no_spawn(void *(*fn)(void *), void *arg)
{
	(void)fn;
	(void)arg;
	return -EAGAIN;
}

static void test_start_errors(void **state)
{
	struct acceptors a = { .fd = -1, .idle_max = 1, .serve = serve, .spawn = spawn };
	uint16_t port;

	(void)state;
	assert_int_equal(acceptors_start(&a), -EINVAL);
	a.fd = listener(&port);
	a.idle_max = 0;
	assert_int_equal(acceptors_start(&a), -EINVAL);
	a.idle_max = 1;
	a.spawn = no_spawn;
	assert_int_equal(acceptors_start(&a), -EAGAIN);
	assert_int_equal(acceptors_waiting(&a), 0);
	close(a.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_and_settles),
		cmocka_unit_test(test_backlog_waits_when_no_thread_can_start),
		cmocka_unit_test(test_start_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
