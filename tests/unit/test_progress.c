/* test_progress.c: the status line silo run/start draw while they wait
 * (src/sandbox/progress.c): nothing for the first second, then one line
 * redrawn in place, erased at the end; nothing at all when off. The clock
 * is the test's and the "terminal" a pipe. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox/sandbox.h"

static double fake_now;

static double fake_clock(void)
{
	return fake_now;
}

struct fix {
	int rd, wr;
	struct sb_progress p;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	int fds[2];

	assert_non_null(f);
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	f->rd = fds[0];
	f->wr = fds[1];
	fake_now = 100.0;
	sb_progress_init(&f->p, f->wr, fake_clock);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	close(f->rd);
	close(f->wr);
	free(f);
	return 0;
}

/* What was drawn since the last call ("" for nothing). */
static const char *drawn(struct fix *f)
{
	static char buf[1024];
	ssize_t n = read(f->rd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void quiet_first_second(void **state)
{
	struct fix *f = *state;

	sb_progress_begin(&f->p, "box");
	sb_progress_step(&f->p, "starting silo-vmm");
	fake_now += 0.9;
	sb_progress_step(&f->p, "booting the guest, waiting for its agent");
	sb_progress_end(&f->p);
	assert_string_equal(drawn(f), ""); /* a fast start prints nothing, not even the erase */
}

static void line_redrawn_then_erased(void **state)
{
	struct fix *f = *state;

	sb_progress_begin(&f->p, "box");
	fake_now += 1.2;
	sb_progress_step(&f->p, "booting the guest, waiting for its agent");
	assert_string_equal(drawn(f),
			    "\r\033[Ksilo: box: booting the guest, waiting for its agent (1 s)");
	fake_now += 0.5; /* same second, same text: no redraw per poll */
	sb_progress_step(&f->p, "booting the guest, waiting for its agent");
	assert_string_equal(drawn(f), "");
	sb_progress_step(&f->p, "copying the workspace in"); /* new text: at once */
	assert_string_equal(drawn(f), "\r\033[Ksilo: box: copying the workspace in (1 s)");
	fake_now += 1.0;
	sb_progress_step(&f->p, "copying the workspace in");
	assert_string_equal(drawn(f), "\r\033[Ksilo: box: copying the workspace in (2 s)");
	sb_progress_end(&f->p);
	assert_string_equal(drawn(f), "\r\033[K");
	/* after the end: no step draws until the next begin */
	fake_now += 5;
	sb_progress_step(&f->p, "waiting for Docker");
	assert_string_equal(drawn(f), "");
	sb_progress_begin(&f->p, "box");
	fake_now += 3;
	sb_progress_step(&f->p, "waiting for Docker");
	assert_string_equal(drawn(f), "\r\033[Ksilo: box: waiting for Docker (3 s)");
	sb_progress_end(&f->p);
	assert_string_equal(drawn(f), "\r\033[K");
}

static void off_draws_nothing(void **state)
{
	struct fix *f = *state;

	/* -q, or a stderr that is no terminal: the CLI's line is off (fd -1) */
	struct sb_progress off;
	sb_progress_init(&off, -1, NULL);
	sb_progress_begin(&off, "box");
	fake_now += 10;
	sb_progress_step(&off, "booting the guest, waiting for its agent");
	sb_progress_end(&off);
	/* a library caller with no status line at all (sb->opts NULL) */
	sb_progress_begin(NULL, "box");
	sb_progress_step(NULL, "booting the guest, waiting for its agent");
	sb_progress_end(NULL);
	assert_string_equal(drawn(f), "");
}

/* The CLI's choice (cli_progress): on for a terminal, off for a pipe and
 * with -q. A pseudo-terminal stands in for the user's. */
static void on_only_for_a_terminal(void **state)
{
	struct fix *f = *state;
	struct sb_progress p;
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_true(sb_progress_open(&p, s, false, fake_clock));
	assert_int_equal(p.fd, s);
	assert_false(sb_progress_open(&p, s, true, fake_clock)); /* -q */
	assert_int_equal(p.fd, -1);
	close(s);
	close(m);
	assert_false(sb_progress_open(&p, f->wr, false, fake_clock)); /* a pipe: a log */
	sb_progress_begin(&p, "box");
	fake_now += 10;
	sb_progress_step(&p, "waiting for Docker");
	sb_progress_end(&p);
	assert_string_equal(drawn(f), "");
}

/* A line wider than the terminal is cut to its width less one column: a
 * wrapped line could not be erased. */
static void cut_to_the_width(void **state)
{
	struct sb_progress p;
	struct winsize ws = { .ws_row = 24, .ws_col = 30 };
	char buf[256];
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	(void)state;
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	struct termios t;
	assert_int_equal(tcgetattr(s, &t), 0);
	cfmakeraw(&t); /* bytes as written, no \n to \r\n */
	assert_int_equal(tcsetattr(s, TCSANOW, &t), 0);
	assert_int_equal(ioctl(s, TIOCSWINSZ, &ws), 0);
	assert_true(sb_progress_open(&p, s, false, fake_clock));
	sb_progress_begin(&p, "box");
	fake_now += 2;
	sb_progress_step(&p, "booting the guest, waiting for its agent");
	ssize_t n = read(m, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "\r\033[Ksilo: box: booting the guest,"); /* 29 columns */
	close(s);
	close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(quiet_first_second, setup, teardown),
		cmocka_unit_test_setup_teardown(line_redrawn_then_erased, setup, teardown),
		cmocka_unit_test_setup_teardown(off_draws_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(on_only_for_a_terminal, setup, teardown),
		cmocka_unit_test(cut_to_the_width),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
