/*
 * Control socket: a Unix stream socket, one text line per request and one
 * line per reply. Requests: status, pause, resume, stop, metrics, snapshot (docs/silo-vmm.md).
 */
#ifndef SILO_VMM_CONTROL_H
#define SILO_VMM_CONTROL_H

#include <stddef.h>
#include <stdio.h>

struct control;
struct vm;

int control_create(struct control **out, const char *path, struct vm *vm);
void control_destroy(struct control *c);
/* Run one request line (without newline) with the descriptors that came
 * with it; writes the reply (without newline) to reply. */
void control_handle(struct vm *vm, const char *req, const int *fds, unsigned int nfds, FILE *reply);

#endif
