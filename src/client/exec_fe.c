/* exec_fe.c: the terminal side of an exec (exec_fe.h). */
#include "client/exec_fe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* The signal pipe's write end: process-wide, as signal dispositions are
 * (one exec at a time). */
static volatile sig_atomic_t sig_wr = -1;

static void on_signal(int sig)
{
	unsigned char ch = (unsigned char)sig;
	int saved = errno;
	if (write(sig_wr, &ch, 1) < 0) {
		/* a full pipe drops the signal, as the kernel coalesces
                 * them; after the exec (sig_wr -1) it goes nowhere */
	}
	errno = saved;
}

/* With a remote tty ^C and ^Z are bytes for the guest's line discipline;
 * these are signals sent to us from elsewhere, forwarded to the command. */
static int forward_signals(int p[2], struct aclient_err *err)
{
	static const int fwd[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		err->code = errno;
		err->remote = false;
		err->exec_step = 0;
		snprintf(err->msg, sizeof(err->msg), "pipe: %s", strerror(errno));
		return -1;
	}
	sig_wr = p[1];
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
	return 0;
}

/* The pty gets the size of whichever of stdin and stdout is a terminal;
 * a terminal stdin goes raw, so every key reaches the guest as typed.
 * Returns whether *saved holds modes to restore. */
static bool setup_tty(struct aclient_exec_opts *o, struct termios *saved)
{
	struct winsize ws;
	struct termios t;

	o->tty_fd = isatty(0) ? 0 : isatty(1) ? 1 : -1;
	if (o->tty_fd >= 0 && ioctl(o->tty_fd, TIOCGWINSZ, &ws) == 0)
		o->rows = ws.ws_row, o->cols = ws.ws_col;
	if (o->in_fd < 0 || !isatty(o->in_fd) || tcgetattr(o->in_fd, saved) < 0)
		return false;
	t = *saved;
	cfmakeraw(&t);
	return tcsetattr(o->in_fd, TCSADRAIN, &t) == 0;
}

int aclient_exec_fe(const char *addr, struct aclient_exec_opts *o, struct proto_exit *x,
		    struct aclient_err *err)
{
	struct termios saved;
	bool raw = false;
	int p[2];

	if (forward_signals(p, err) < 0)
		return -1;
	o->sig_fd = p[0];
	o->tty_fd = -1;
	if (o->tty)
		raw = setup_tty(o, &saved);
	int rc = aclient_exec(addr, o, x, err);
	if (raw)
		tcsetattr(o->in_fd, TCSADRAIN, &saved);
	/* -1 before the close: a late signal must not write into whatever
         * file reuses the number. */
	sig_wr = -1;
	close(p[0]);
	close(p[1]);
	return rc;
}

int aclient_exit_status(int rc, const struct proto_exit *x, const struct aclient_err *err)
{
	if (rc < 0) {
		if (err->remote && err->exec_step == EXEC_STEP_EXEC && err->code == ENOENT)
			return ACLIENT_EXIT_NOTFOUND;
		return err->remote ? ACLIENT_EXIT_CANNOT : ACLIENT_EXIT_OWN;
	}
	if (x->flags & EXIT_F_SIGNALED)
		return 128 + (x->code & 0x7f);
	return x->code & 0xff;
}
