/* progress.c: one status line while `silo run`/`start` waits (boot, the
 * guest agent, Docker), so a user at a terminal knows what the seconds are
 * for. Drawn on stderr, which keeps stdout the command's own output (a
 * `silo run -- cat file > out` must not get our text); shown only after
 * SB_PROGRESS_DELAY_S, so a fast start prints nothing; redrawn in place
 * (carriage return, then erase to the end of the line: ECMA-48 EL, CSI K)
 * and erased when the wait ends, so nothing of it stays on screen and an
 * error message that follows starts on a clean line. */
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define EL "\r\033[K" /* back to column 0, erase the line */

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void sb_progress_init(struct sb_progress *p, int fd, double (*clock)(void))
{
	*p = (struct sb_progress){ .fd = fd, .clock = clock ? clock : mono_s };
}

bool sb_progress_open(struct sb_progress *p, int fd, bool quiet, double (*clock)(void))
{
	/* a pipe or file (CI logs, `2>log`) gets no status text, only errors */
	sb_progress_init(p, !quiet && isatty(fd) ? fd : -1, clock);
	return p->fd >= 0;
}

static void put(const struct sb_progress *p, const char *s, size_t n)
{
	/* best effort: a closed or full terminal only loses the status */
	if (write(p->fd, s, n) < 0)
		return;
}

/* The bytes of an EL-prefixed line of n that fit the terminal's width: a
 * line that wrapped would leave its first rows behind, since EL erases
 * only the row the cursor is on. Keeps n when the width is unknown. */
static size_t fit(int fd, size_t n)
{
	struct winsize ws;
	size_t lead = strlen(EL);

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 2 || n - lead < ws.ws_col)
		return n;
	return lead + ws.ws_col - 1; /* the last column: some terminals wrap there */
}

void sb_progress_begin(struct sb_progress *p, const char *name)
{
	if (!p || p->fd < 0)
		return;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->start = p->clock();
	p->last = -1;
}

void sb_progress_step(struct sb_progress *p, const char *what)
{
	char line[256];

	if (!p || p->fd < 0 || !p->name[0])
		return;
	double t = p->clock() - p->start;
	long secs = (long)t;
	/* redraw when the text or the whole second changes, not on every poll */
	if (t < SB_PROGRESS_DELAY_S || (secs == p->last && !strcmp(what, p->what)))
		return;
	snprintf(p->what, sizeof(p->what), "%s", what);
	p->last = secs;
	int n = snprintf(line, sizeof(line), EL "silo: %s: %s (%ld s)", p->name, what, secs);
	if (n > 0)
		put(p, line, fit(p->fd, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1));
	p->shown = true;
}

void sb_progress_end(struct sb_progress *p)
{
	if (!p)
		return;
	if (p->fd >= 0 && p->shown)
		put(p, EL, strlen(EL));
	p->shown = false;
	p->name[0] = '\0';
	p->what[0] = '\0';
}
