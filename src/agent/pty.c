/* pty.c: pseudo-terminals for EXEC with EXEC_F_TTY.
 * The child makes the slave its controlling tty (setsid + TIOCSCTTY in
 * exec.c), so the line discipline does the rest: Ctrl-C typed by the user
 * arrives as byte 0x03 in a STDIN frame and becomes SIGINT for the
 * foreground process group, and job control works as on a real terminal. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41) /* Linux 4.13; asm-generic/ioctls.h */
#endif

int pty_open(int *master, int *slave, uint16_t rows, uint16_t cols)
{
	int unlock = 0, m, s, rc;
	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		goto fail;
	/* TIOCGPTPEER opens the slave without a path lookup, so it works
         * even when /dev/pts is a different devpts instance than ptmx's. */
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		unsigned int n;
		char path[32];
		if (ioctl(m, TIOCGPTN, &n) < 0)
			goto fail;
		snprintf(path, sizeof(path), "/dev/pts/%u", n);
		if ((s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
			goto fail;
	}
	pty_resize(m, rows ? rows : 24, cols ? cols : 80);
	*master = m;
	*slave = s;
	return 0;
fail:
	rc = -errno;
	close(m);
	return rc;
}

int pty_resize(int master, uint16_t rows, uint16_t cols)
{
	/* The kernel sends SIGWINCH to the foreground group when the size
         * actually changes. */
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

pid_t pty_foreground(int master)
{
	pid_t pg;
	if (master < 0 || ioctl(master, TIOCGPGRP, &pg) < 0)
		return -1;
	return pg;
}

/* A pty cannot be half-closed, so STDIN_EOF becomes the terminal's EOF
 * character (normally ^D), which ends a read() in canonical mode. The master
 * stays open for output, so this only hands over the byte. */
int pty_send_eof(int master)
{
	struct termios t;
	char c = 4;
	if (tcgetattr(master, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
		c = (char)t.c_cc[VEOF];
	return write(master, &c, 1) == 1 ? 0 : -errno;
}
