/*
 * Console backend (stdio, file or Unix socket) behind the 8250, and the
 * watcher that reads the guest's console output for lifecycle events.
 */
#ifndef SILO_VMM_CONSOLE_H
#define SILO_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/log.h"

struct evloop;
struct serial;

enum console_event {
	CON_FIRST_OUTPUT, /* first byte the guest ever wrote */
	CON_MARKER,	  /* the --boot-marker string */
	CON_PANIC,	  /* "Kernel panic - not syncing" */
	CON_POWEROFF,	  /* "reboot: Power down" / "reboot: System halted" */
	CON_ESCAPE_STOP,  /* user typed Ctrl-A x on an interactive stdio console */
};

typedef void (*console_event_cb)(void *opaque, enum console_event ev);

#define CONSOLE_LINE_MAX 512

/* Watches output for patterns; pure logic, unit-testable. */
struct console_watch {
	const char *marker; /* NULL or "" for none */
	bool seen_output, seen_marker, seen_panic, seen_poweroff;
	char line[CONSOLE_LINE_MAX];
	size_t len;
	console_event_cb cb;
	void *opaque;
};

void console_watch_init(struct console_watch *w, const char *marker, console_event_cb cb,
			void *opaque);
void console_watch_feed(struct console_watch *w, const uint8_t *buf, size_t n);

struct console;

/* The disk budget of a console file (--console-max): PATH keeps the first
 * quarter, PATH.1 and PATH.2 the tail (console.c, "capped file"). */
#define CONSOLE_FILE_MAX_DEFAULT (16ULL << 20)
#define CONSOLE_FILE_MAX_MIN	 4096ULL

/* Check a --console spec without opening anything. */
bool console_spec_valid(const char *spec);
/* Open the backend named by spec ("stdio", "file:PATH", "unix:PATH");
 * file_max: the budget of a console file, 0 for the default. With a file
 * that is also our stderr, silo-vmm's log lines go through the cap too, in
 * order (log_set_sink). -errno. */
int console_open(struct console **out, const char *spec, uint64_t file_max, const char *marker,
		 console_event_cb cb, void *opaque);
/* Attach the UART and start reading input on the event loop. -errno. */
int console_attach(struct console *c, struct evloop *ev, struct serial *s);
/* Guest output (serial TX). */
void console_write(struct console *c, const uint8_t *buf, size_t n);
/* The UART has room again: resume reading input. */
void console_rx_ready(struct console *c);
/* Stop input, restore the terminal, close fds. */
void console_close(struct console *c);

#endif
