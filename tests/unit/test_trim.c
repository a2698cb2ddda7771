/* test_trim.c: when silo-init's idle trim is due (src/agent/trim.c): never
 * when off, never while a session or the Docker watcher runs, S seconds after
 * the last session ends, at once when the watcher exits; a session stops a
 * running trim. trim_tick() (which forks and writes the kernel's
 * memory.reclaim) is not called here: a sleeping child stands in for a trim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"

/* trim.c logs through the agent; a test has nothing to log to. */
void agent_log(const char *fmt, ...)
{
	(void)fmt;
}

static void test_off_never_due(void **st)
{
	(void)st;
	trim_configure(0);
	assert_int_equal(trim_poll_ms(), -1);
	trim_session(100);
	trim_reaped(100);
	trim_after(200);
	trim_reaped(200);
	assert_int_equal(trim_poll_ms(), -1);
}

static void test_no_work_no_trim(void **st)
{
	(void)st;
	trim_configure(5);
	assert_int_equal(trim_poll_ms(), -1);
}

static void test_due_after_idle_period(void **st)
{
	(void)st;
	trim_configure(5);
	trim_session(100);
	trim_session(101);
	assert_int_equal(trim_poll_ms(), -1); /* sessions open */
	trim_reaped(100);
	assert_int_equal(trim_poll_ms(), -1); /* one still open */
	trim_reaped(999);		      /* an orphan: no change */
	assert_int_equal(trim_poll_ms(), -1);
	trim_reaped(101);
	int ms = trim_poll_ms();
	assert_true(ms > 4000 && ms <= 5000);
	trim_session(102); /* new work: wait again */
	assert_int_equal(trim_poll_ms(), -1);
}

static void test_watcher_holds_then_triggers(void **st)
{
	(void)st;
	trim_configure(30);
	trim_after(200);
	trim_session(100);
	trim_reaped(100);
	assert_int_equal(trim_poll_ms(), -1); /* Docker still starting */
	trim_reaped(200);
	assert_int_equal(trim_poll_ms(), 0); /* Docker up: trim now */
}

static void test_watcher_alone_triggers(void **st)
{
	(void)st;
	trim_configure(30);
	trim_after(-1); /* no Docker: nothing held */
	assert_int_equal(trim_poll_ms(), -1);
	trim_after(200);
	trim_reaped(200);
	assert_int_equal(trim_poll_ms(), 0);
}

static void test_many_sessions(void **st)
{
	(void)st;
	trim_configure(5);
	for (pid_t p = 1000; p < 1300; p++) /* more than it tracks */
		trim_session(p);
	assert_int_equal(trim_poll_ms(), -1);
	for (pid_t p = 1000; p < 1299; p++)
		trim_reaped(p);
	assert_int_equal(trim_poll_ms(), -1);
	trim_reaped(1299);
	assert_true(trim_poll_ms() > 0);
}

static pid_t sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		sleep(10); /* bounded: a missing kill fails, not hangs */
		_exit(0);
	}
	return pid;
}

static void test_session_stops_trim(void **st)
{
	(void)st;
	int status;
	trim_configure(5);
	pid_t trim = sleeper();
	trim_started(trim);
	assert_int_equal(trim_poll_ms(), -1); /* no second trim meanwhile */
	trim_session(100);
	assert_int_equal(waitpid(trim, &status, 0), trim);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	trim_reaped(trim);
	assert_int_equal(trim_poll_ms(), -1); /* the session still runs */
	trim_reaped(100);
	int ms = trim_poll_ms(); /* the rest: next idle period */
	assert_true(ms > 4000 && ms <= 5000);
}

static void test_finished_trim_is_not_repeated(void **st)
{
	(void)st;
	int status;
	trim_configure(5);
	trim_session(100);
	trim_reaped(100);
	pid_t trim = sleeper();
	trim_started(trim);
	kill(trim, SIGTERM); /* as if it ended by itself */
	assert_int_equal(waitpid(trim, &status, 0), trim);
	trim_reaped(trim);
	assert_int_equal(trim_poll_ms(), -1);
	trim_session(101); /* no kill of a reaped pid */
	trim_reaped(101);
	assert_true(trim_poll_ms() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_never_due),
		cmocka_unit_test(test_no_work_no_trim),
		cmocka_unit_test(test_due_after_idle_period),
		cmocka_unit_test(test_watcher_holds_then_triggers),
		cmocka_unit_test(test_watcher_alone_triggers),
		cmocka_unit_test(test_many_sessions),
		cmocka_unit_test(test_session_stops_trim),
		cmocka_unit_test(test_finished_trim_is_not_repeated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
