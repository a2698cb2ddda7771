/* exec_fe.h: the terminal side of an exec, the one front end of `silo exec`,
 * `silo run` and `silo-agent SOCK exec`.
 *
 * aclient_exec (client.h) moves bytes and never touches signal
 * dispositions or the terminal; a command-line tool running a command for
 * a user also wants what a local command gets: signals sent to the tool
 * reach the command, its pty has the user's window size (and follows it),
 * the user's terminal is raw while it runs, and the tool exits with the
 * command's status as Docker does.
 */
#ifndef SILO_EXEC_FE_H
#define SILO_EXEC_FE_H

#include "client/client.h"

/* Exit statuses of a command that did not run, Docker's convention: the
 * tool itself or the transport failed, it could not be started, it was not
 * found. A command that ran gives its own status (128+N if signal N). */
#define ACLIENT_EXIT_OWN      125
#define ACLIENT_EXIT_CANNOT   126
#define ACLIENT_EXIT_NOTFOUND 127

/* aclient_exec with this process's terminal and signals. Installs handlers
 * (SA_RESTART) that forward SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1,
 * SIGUSR2 and SIGWINCH to the command through o->sig_fd (they stay
 * installed afterwards and then do nothing). With o->tty: o->tty_fd is
 * whichever of stdin and stdout is a terminal, o->rows and o->cols its size,
 * and a terminal o->in_fd is in raw mode until the command ended. Fills
 * o->sig_fd, o->tty_fd, o->rows and o->cols; returns as aclient_exec (the
 * failure to set up the signal pipe included). */
int aclient_exec_fe(const char *addr, struct aclient_exec_opts *o, struct proto_exit *x,
		    struct aclient_err *err);

/* The status a tool exits with for aclient_exec_fe's rc, *x and *err:
 * the command's (128+N if killed by signal N), or ACLIENT_EXIT_* if it did
 * not run. */
int aclient_exit_status(int rc, const struct proto_exit *x, const struct aclient_err *err);

#endif
