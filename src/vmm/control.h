/*
 * Control socket: a Unix stream socket, one text line per request and one
 * line per reply. Requests: status, pause, resume, stop (docs/silo-vmm.md).
 */
#ifndef SILO_VMM_CONTROL_H
#define SILO_VMM_CONTROL_H

#include <stddef.h>

struct control;
struct vm;

int control_create(struct control **out, const char *path, struct vm *vm);
void control_destroy(struct control *c);
/* Run one request line (without newline); writes the reply (without newline). */
void control_handle(struct vm *vm, const char *req, char *reply, size_t len);

#endif
