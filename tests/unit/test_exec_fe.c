/* test_exec_fe.c: the exit status silo exec, silo run and silo-agent give
 * for an exec (client/exec_fe.c): Docker's convention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <cmocka.h>

#include "client/exec_fe.h"

static int status_at(int rc, uint32_t flags, int32_t code, bool remote, int err_code, uint32_t step)
{
	struct proto_exit x = { .flags = flags, .code = code };
	struct aclient_err err = { .code = err_code, .remote = remote, .exec_step = step };
	return aclient_exit_status(rc, &x, &err);
}

static int status(int rc, uint32_t flags, int32_t code, bool remote, int err_code)
{
	return status_at(rc, flags, code, remote, err_code, 0);
}

static void test_command_status(void **state)
{
	(void)state;
	assert_int_equal(status(0, 0, 0, false, 0), 0);
	assert_int_equal(status(0, 0, 3, false, 0), 3);
	/* only the low byte, as wait(2) gives it */
	assert_int_equal(status(0, 0, 256 + 7, false, 0), 7);
	/* a timed-out command was killed: its signal, the flag aside */
	assert_int_equal(status(0, EXIT_F_SIGNALED | EXIT_F_TIMEOUT, SIGKILL, false, 0),
			 128 + SIGKILL);
}

static void test_signaled(void **state)
{
	(void)state;
	assert_int_equal(status(0, EXIT_F_SIGNALED, SIGINT, false, 0), 130);
	assert_int_equal(status(0, EXIT_F_SIGNALED, SIGTERM, false, 0), 143);
	/* a core-dump bit from a guest never leaves the 128..255 range */
	assert_int_equal(status(0, EXIT_F_SIGNALED, 0x80 | SIGSEGV, false, 0), 128 + SIGSEGV);
}

static void test_did_not_run(void **state)
{
	(void)state;
	/* not found: the program, not the working directory or the user */
	assert_int_equal(status_at(-1, 0, 0, true, ENOENT, EXEC_STEP_EXEC), ACLIENT_EXIT_NOTFOUND);
	assert_int_equal(ACLIENT_EXIT_NOTFOUND, 127);
	assert_int_equal(status_at(-1, 0, 0, true, ENOENT, EXEC_STEP_CWD), ACLIENT_EXIT_CANNOT);
	assert_int_equal(status_at(-1, 0, 0, true, ENOENT, EXEC_STEP_USER), ACLIENT_EXIT_CANNOT);
	assert_int_equal(status_at(-1, 0, 0, true, EACCES, EXEC_STEP_EXEC), ACLIENT_EXIT_CANNOT);
	/* a plain ERROR (the agent could not set up the session) */
	assert_int_equal(status(-1, 0, 0, true, ENOENT), ACLIENT_EXIT_CANNOT);
	assert_int_equal(status(-1, 0, 0, true, EACCES), ACLIENT_EXIT_CANNOT);
	assert_int_equal(ACLIENT_EXIT_CANNOT, 126);
	/* ENOENT from the transport (no socket) is ours, not "not found" */
	assert_int_equal(status(-1, 0, 0, false, ENOENT), ACLIENT_EXIT_OWN);
	assert_int_equal(status(-1, 0, 0, false, ETIMEDOUT), ACLIENT_EXIT_OWN);
	assert_int_equal(ACLIENT_EXIT_OWN, 125);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_status),
		cmocka_unit_test(test_signaled),
		cmocka_unit_test(test_did_not_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
