/* The task that makes silo-vmm's namespaces and empty root while the VM is
 * built (maker.c); jail_start() in jail.h starts it. */
#ifndef SILO_VMM_JAIL_MAKER_H
#define SILO_VMM_JAIL_MAKER_H

#include <stddef.h>
#include <sys/types.h>

/* Step 4 of process.c: wait for the task's end, then join the namespaces
 * it made. *uid and *gid: the dedicated ids it read (started as root).
 * 0 or -errno, the context recorded with err_ret. */
int jail_join_namespaces(uid_t *uid, gid_t *gid);

/* The uid and gid of the "silo-vmm" user in LEN bytes of /etc/passwd
 * lines (passwd(5): name:password:uid:gid:...); 1 and *uid, *gid set when
 * a well-formed line names it, else 0 and both untouched. Pure: it calls
 * nothing, so the task above may use it (maker.c says why it must). */
int jail_passwd_ids(const char *text, size_t len, uid_t *uid, gid_t *gid);

/* The same over the file at PATH, read a chunk at a time with raw system
 * calls (a line longer than the chunk is skipped); 0 when it cannot be
 * read. */
int jail_passwd_file_ids(const char *path, uid_t *uid, gid_t *gid);

#endif
