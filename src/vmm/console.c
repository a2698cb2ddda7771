/*
 * Console backends for the guest's serial console, and the output watcher.
 *
 *   stdio      output to stdout, input from stdin; a tty is put in raw mode
 *              (restored at exit) so the guest's shell does line editing and
 *              Ctrl-C reaches the guest; Ctrl-A x stops the VM.
 *   file:PATH  output appended to PATH, capped (see "capped file" below);
 *              no input. file:fd:H,M,T1,T2: the four descriptors the
 *              launcher opened for it (cap_fds).
 *   unix:PATH  listen on PATH; one client at a time gets output and sends
 *              input. Output with no client attached is dropped (counted).
 *              unix:fd:N: a socket the launcher made listen.
 *
 * Output is written on the vCPU thread that flushed the UART; input is read
 * on the event thread, only while the UART FIFO has room (no busy polling).
 */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/console_files.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/evloop.h"
#include "vmm/fdarg.h"
#include "vmm/log.h"

#define PANIC_STR    "Kernel panic - not syncing"
#define POWEROFF_STR "reboot: Power down"
#define HALT_STR     "reboot: System halted"
#define CTRL_A	     0x01

/* ---- watcher ---- */

void console_watch_init(struct console_watch *w, const char *marker, console_event_cb cb,
			void *opaque)
{
	memset(w, 0, sizeof(*w));
	w->marker = marker && *marker ? marker : NULL;
	w->cb = cb;
	w->opaque = opaque;
}

static void watch_scan(struct console_watch *w)
{
	if (w->marker && !w->seen_marker && memmem(w->line, w->len, w->marker, strlen(w->marker))) {
		w->seen_marker = true;
		w->cb(w->opaque, CON_MARKER);
	}
	if (!w->seen_panic && memmem(w->line, w->len, PANIC_STR, strlen(PANIC_STR))) {
		w->seen_panic = true;
		w->cb(w->opaque, CON_PANIC);
	}
	if (!w->seen_poweroff && (memmem(w->line, w->len, POWEROFF_STR, strlen(POWEROFF_STR)) ||
				  memmem(w->line, w->len, HALT_STR, strlen(HALT_STR)))) {
		w->seen_poweroff = true;
		w->cb(w->opaque, CON_POWEROFF);
	}
}

void console_watch_feed(struct console_watch *w, const uint8_t *buf, size_t n)
{
	if (n && !w->seen_output) {
		w->seen_output = true;
		w->cb(w->opaque, CON_FIRST_OUTPUT);
	}
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			watch_scan(w);
			w->len = 0;
			continue;
		}
		if (w->len == sizeof(w->line)) {
			/* Keep the tail so a pattern split at the cut is still found. */
			size_t keep = 128;
			watch_scan(w);
			memmove(w->line, w->line + w->len - keep, keep);
			w->len = keep;
		}
		w->line[w->len++] = (char)buf[i];
	}
	/* Markers may be printed without a newline (a prompt). */
	if (w->len)
		watch_scan(w);
}

/* ---- backends ---- */

enum con_kind { CON_STDIO, CON_FILE, CON_UNIX };

struct console {
	enum con_kind kind;
	int in_fd, out_fd, listen_fd;
	bool tty, tty_saved, in_watched, in_paused;
	struct termios saved;
	char *path; /* unix socket path, unlinked at close */
	struct evloop *ev;
	struct serial *serial;
	pthread_mutex_t lock; /* in_fd/out_fd vs. the event thread */
	struct console_watch watch;
	int esc; /* saw Ctrl-A */
	uint64_t dropped, write_errs, file_errs;
	struct capfile *cap;  /* CON_FILE */
	struct log_sink sink; /* CON_FILE: silo-vmm's own lines go in order */
};

/* ---- capped file ----
 *
 * A guest can write to its UART as fast as it likes (`rep outsb`); the
 * console file must not fill the host disk. The budget (--console-max,
 * default 16 MiB) is split in three files:
 *
 *   PATH    the first max/4 bytes (the boot), kept for the VM's whole life;
 *   PATH.1  the tail segment before the current one (up to 3*max/8);
 *   PATH.2  the current tail segment (up to 3*max/8).
 *
 * When PATH.2 is full its bytes replace PATH.1's (one rotation) and PATH.2
 * starts empty; the bytes of the old PATH.1 are dropped and a "[N bytes
 * dropped]" line at the end of PATH, rewritten in place, says how many.
 * Read in the order PATH, PATH.1, PATH.2 (what `silo logs` does) the files
 * give the boot, the marker and at least the last 3*max/8 bytes. A later
 * run continues the same set.
 *
 * All three are opened at the start, and a rotation copies PATH.2 into
 * PATH.1 through those descriptors (copy_file_range) instead of renaming:
 * the jailed silo-vmm reaches no path (docs/security.md "The jail"), and a
 * copy of at most 3*max/8 bytes per 3*max/8 written is a cost only a flood
 * pays.
 */
struct capfile {
	/* in console_files.h's order */
	int head_fd; /* PATH, O_APPEND */
	int mark_fd; /* PATH again, without O_APPEND */
	int t1_fd;   /* PATH.1, written only by the rotation's copy */
	int t2_fd;   /* PATH.2, O_APPEND, read by the rotation's copy */
	uint64_t head_max, seg_max;
	uint64_t head_len, tail_len;
	uint64_t marker_off; /* where this run's marker goes in PATH */
	uint64_t dropped;    /* by rotation, this run */
	bool in_tail;	     /* PATH is full */
};

/* PATH's set opened here, or the launcher's fd:H,M,T1,T2, checked
 * (console_files.h says what each is). What is open when it fails,
 * cap_close closes. */
static int cap_fds(const char *arg, struct capfile *f)
{
	int *fds[CONSOLE_FILES] = { &f->head_fd, &f->mark_fd, &f->t1_fd, &f->t2_fd };
	int in[CONSOLE_FILES];

	if (!fdarg_is_fd(arg)) {
		int ret = console_files_open(arg, in, O_CLOEXEC);

		for (int i = 0; !ret && i < CONSOLE_FILES; i++)
			*fds[i] = in[i];
		return ret;
	}
	if (!fdarg_list(arg, in, CONSOLE_FILES))
		return -EINVAL;
	for (int i = 0; i < CONSOLE_FILES; i++) {
		int fl = fcntl(in[i], F_GETFL);

		if (fl < 0)
			return -EBADF;
		if (!(fl & O_APPEND) != !console_file_append[i])
			return -EINVAL;
		if ((*fds[i] = fdarg_take(in[i], i == 3 ? O_RDWR : O_WRONLY)) < 0)
			return *fds[i];
	}
	return 0;
}

static void cap_close(struct capfile *f)
{
	if (!f)
		return;
	if (f->head_fd >= 0)
		close(f->head_fd);
	if (f->mark_fd >= 0)
		close(f->mark_fd);
	if (f->t1_fd >= 0)
		close(f->t1_fd);
	if (f->t2_fd >= 0)
		close(f->t2_fd);
	free(f);
}

static int cap_open(struct capfile **out, const char *arg, uint64_t max)
{
	struct capfile *f = calloc(1, sizeof(*f));
	struct stat st;
	int ret;

	if (!f)
		return -ENOMEM;
	f->head_fd = f->mark_fd = f->t1_fd = f->t2_fd = -1;
	f->head_max = max / 4;
	f->seg_max = (max - f->head_max) / 2;
	if ((ret = cap_fds(arg, f)))
		goto err;
	if (fstat(f->head_fd, &st) < 0) {
		ret = -errno;
		goto err;
	}
	f->head_len = f->marker_off = (uint64_t)st.st_size;
	f->in_tail = f->head_len >= f->head_max;
	if (f->in_tail) {
		if (fstat(f->t2_fd, &st) < 0) {
			ret = -errno;
			goto err;
		}
		f->tail_len = (uint64_t)st.st_size;
	} else if (ftruncate(f->t1_fd, 0) < 0 || ftruncate(f->t2_fd, 0) < 0) {
		/* Tail bytes without a full head are from another set (the
		 * head was removed): they would print out of order. */
		ret = -errno;
		goto err;
	}
	*out = f;
	return 0;
err:
	cap_close(f);
	return ret;
}

/* PATH.2's len bytes over PATH.1's. */
static int cap_copy(struct capfile *f, uint64_t len)
{
	loff_t in = 0, out = 0;

	if (ftruncate(f->t1_fd, 0) < 0)
		return -errno;
	while ((uint64_t)in < len) {
		ssize_t n = copy_file_range(f->t2_fd, &in, f->t1_fd, &out,
					    (size_t)(len - (uint64_t)in), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* PATH.2 → PATH.1, PATH.2 empty, and the marker updated. */
static int cap_rotate(struct capfile *f)
{
	struct stat st;
	char mark[64];
	int n, ret;

	if (fstat(f->t1_fd, &st) == 0)
		f->dropped += (uint64_t)st.st_size;
	if ((ret = cap_copy(f, f->tail_len)) < 0) {
		/* Cannot rotate: drop the current segment instead. */
		f->dropped += f->tail_len;
	}
	if (ftruncate(f->t2_fd, 0) == 0)
		f->tail_len = 0;
	if (ret)
		return ret;
	if (!f->dropped)
		return 0;
	/* The count only grows, so the new line covers the old one. */
	n = snprintf(mark, sizeof(mark), "\n[%" PRIu64 " bytes dropped]\n", f->dropped);
	if (pwrite(f->mark_fd, mark, (size_t)n, (off_t)f->marker_off) != n)
		return -errno;
	return 0;
}

/* Writes buf within the budget; 0, or -errno of the first failure (the
 * bytes that could not be written are lost: the VM goes on). */
static int cap_write(struct capfile *f, const uint8_t *buf, size_t n)
{
	int ret = 0;

	while (n) {
		size_t k;
		ssize_t w;

		if (!f->in_tail) {
			k = (size_t)(f->head_max - f->head_len);
			k = k < n ? k : n;
			w = write(f->head_fd, buf, k);
			if (w > 0) {
				off_t at = lseek(f->head_fd, 0, SEEK_CUR); /* end of our write */

				f->head_len += (uint64_t)w;
				f->marker_off = at > 0 ? (uint64_t)at : f->head_len;
				if (f->head_len >= f->head_max)
					f->in_tail = true;
			}
		} else {
			if (f->tail_len >= f->seg_max && (ret = cap_rotate(f)) && f->tail_len)
				return ret;
			k = (size_t)(f->seg_max - f->tail_len);
			k = k < n ? k : n;
			w = write(f->t2_fd, buf, k);
			if (w > 0)
				f->tail_len += (uint64_t)w;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		buf += w;
		n -= (size_t)w;
	}
	return ret;
}

/* silo-vmm's own log lines join the guest's output in order (log.h). */
static void sink_write(void *opaque, const char *line, size_t len)
{
	struct console *c = opaque;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->cap ? cap_write(c->cap, (const uint8_t *)line, len) : -EBADF;
	pthread_mutex_unlock(&c->lock);
	if (ret && write(STDERR_FILENO, line, len) < 0)
		return;
}

bool console_spec_valid(const char *spec)
{
	return !strcmp(spec, "stdio") || (!strncmp(spec, "file:", 5) && spec[5]) ||
	       (!strncmp(spec, "unix:", 5) && spec[5] &&
		strlen(spec + 5) < sizeof(((struct sockaddr_un *)0)->sun_path));
}

int console_open(struct console **out, const char *spec, uint64_t file_max, const char *marker,
		 console_event_cb cb, void *opaque)
{
	struct console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->in_fd = c->out_fd = c->listen_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	console_watch_init(&c->watch, marker, cb, opaque);
	if (!strcmp(spec, "stdio")) {
		c->kind = CON_STDIO;
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		c->tty = isatty(STDIN_FILENO);
	} else if (!strncmp(spec, "file:", 5)) {
		c->kind = CON_FILE;
		ret = cap_open(&c->cap, spec + 5, file_max ? file_max : CONSOLE_FILE_MAX_DEFAULT);
		if (ret) {
			ret = err_ret(ret, "console file %s: %s", spec + 5, strerror(-ret));
			goto err;
		}
		/* Under silo, stderr is this same file (supervise.c): then our
		 * own lines go through the cap too, in order with the guest's.
		 * Run by hand, stderr stays stderr. */
		struct stat se, sf;
		if (fstat(STDERR_FILENO, &se) == 0 && fstat(c->cap->head_fd, &sf) == 0 &&
		    se.st_dev == sf.st_dev && se.st_ino == sf.st_ino) {
			c->sink = (struct log_sink){ .write = sink_write, .opaque = c };
			log_set_sink(&c->sink);
		}
	} else if (!strncmp(spec, "unix:", 5)) {
		c->kind = CON_UNIX;
		c->listen_fd = fdarg_listen(spec + 5, 4);
		if (c->listen_fd < 0) {
			ret = err_ret(c->listen_fd, "console socket %s: %s", spec + 5,
				      strerror(-c->listen_fd));
			goto err;
		}
		/* a socket the launcher bound is its to remove */
		c->path = fdarg_is_fd(spec + 5) ? NULL : strdup(spec + 5);
	} else {
		ret = -EINVAL;
		goto err;
	}
	*out = c;
	return 0;
err:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return ret;
}

static void set_raw(struct console *c)
{
	struct termios t;

	if (tcgetattr(c->in_fd, &c->saved) < 0)
		return;
	c->tty_saved = true;
	t = c->saved;
	/* Like cfmakeraw, but keep output post-processing off too: the guest
	 * sends its own CR LF. */
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(c->in_fd, TCSANOW, &t);
}

static void drop_client_locked(struct console *c)
{
	if (c->in_watched)
		ev_del(c->ev, c->in_fd);
	c->in_watched = false;
	if (c->kind == CON_UNIX && c->in_fd >= 0)
		close(c->in_fd);
	if (c->kind == CON_UNIX)
		c->out_fd = -1;
	c->in_fd = -1;
}

/*
 * Host input → UART, honouring the Ctrl-A escape on an interactive tty.
 * Lock order is serial → console (a vCPU flushing TX holds the UART lock
 * while it writes here), so the UART is never called with c->lock held.
 */
static void on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint8_t buf[64], out[64];
	size_t room = serial_rx_room(c->serial), n = 0;
	bool stop = false;
	ssize_t r;

	(void)events;
	pthread_mutex_lock(&c->lock);
	if (c->in_fd < 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (room == 0) {
		/* FIFO full: stop polling until the guest drains it. */
		ev_mod(c->ev, c->in_fd, 0);
		c->in_paused = true;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	r = read(c->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (r <= 0) {
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			drop_client_locked(c); /* EOF or error: no more input */
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (ssize_t i = 0; i < r && !stop; i++) {
		if (c->tty && c->esc) {
			c->esc = 0;
			if (buf[i] == 'x' || buf[i] == 'X') {
				stop = true;
				break;
			}
			if (buf[i] != CTRL_A && n < sizeof(out))
				out[n++] = CTRL_A;
		} else if (c->tty && buf[i] == CTRL_A) {
			c->esc = 1;
			continue;
		}
		if (n < sizeof(out))
			out[n++] = buf[i];
	}
	pthread_mutex_unlock(&c->lock);
	serial_rx(c->serial, out, n);
	if (stop)
		c->watch.cb(c->watch.opaque, CON_ESCAPE_STOP);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	int fd;

	(void)events;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->in_fd >= 0) {
		/* One client at a time; the newest wins. */
		drop_client_locked(c);
	}
	c->in_fd = c->out_fd = fd;
	if (ev_add(c->ev, fd, EPOLLIN, on_input, c) == 0)
		c->in_watched = true;
	pthread_mutex_unlock(&c->lock);
}

int console_attach(struct console *c, struct evloop *ev, struct serial *s)
{
	int ret;

	c->ev = ev;
	c->serial = s;
	if (c->kind == CON_UNIX)
		return ev_add(ev, c->listen_fd, EPOLLIN, on_accept, c);
	if (c->kind != CON_STDIO)
		return 0;
	ret = ev_add(ev, c->in_fd, EPOLLIN, on_input, c);
	if (ret == -EPERM) {
		/* stdin is a regular file or /dev/null: epoll cannot watch it. */
		c->in_fd = -1;
		return 0;
	}
	if (ret)
		return err_ret(ret, "watching stdin: %s", strerror(-ret));
	c->in_watched = true;
	if (c->tty)
		set_raw(c);
	return 0;
}

void console_write(struct console *c, const uint8_t *buf, size_t n)
{
	const uint8_t *seen = buf;
	size_t seen_n = n;
	int file_err = 0;
	bool failed = false;

	pthread_mutex_lock(&c->lock);
	if (c->cap) {
		file_err = cap_write(c->cap, buf, n);
		goto out;
	}
	if (c->out_fd < 0) {
		c->dropped += n;
		goto out;
	}
	while (n) {
		ssize_t w = c->kind == CON_UNIX
				    ? send(c->out_fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT)
				    : write(c->out_fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A slow or gone reader must not stall a vCPU: drop. */
			failed = true;
			c->dropped += n;
			break;
		}
		buf += w;
		n -= (size_t)w;
	}
out:
	pthread_mutex_unlock(&c->lock);
	/* Logged unlocked: with a console file, log lines come back through
	 * sink_write, which takes c->lock. */
	if (failed)
		warn_once(&c->write_errs, "console output dropped: %m");
	if (file_err)
		warn_once(&c->file_errs, "console file: %s (output dropped)", strerror(-file_err));
	/* Watch only after writing: a watched line (power off, panic) makes the
	 * VMM print its own exit message, which must follow the guest's line. */
	console_watch_feed(&c->watch, seen, seen_n);
}

void console_rx_ready(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->in_paused && c->in_fd >= 0) {
		c->in_paused = false;
		ev_mod(c->ev, c->in_fd, EPOLLIN);
	}
	pthread_mutex_unlock(&c->lock);
}

void console_close(struct console *c)
{
	if (!c)
		return;
	if (c->sink.write)
		log_set_sink(NULL);
	if (c->tty_saved)
		tcsetattr(c->in_fd >= 0 ? c->in_fd : STDIN_FILENO, TCSANOW, &c->saved);
	if (c->ev) {
		if (c->in_watched)
			ev_del(c->ev, c->in_fd);
		if (c->listen_fd >= 0)
			ev_del(c->ev, c->listen_fd);
	}
	if (c->kind == CON_UNIX && c->in_fd >= 0)
		close(c->in_fd);
	cap_close(c->cap);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		if (c->path)
			unlink(c->path);
	}
	free(c->path);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
