/*
 * The files of a capped console (console.c, "capped file"): PATH, PATH
 * again, PATH.1 and PATH.2, opened the one way both silo-vmm (by hand) and
 * its launcher (src/sandbox/vmm_fds.c, which passes file:fd:H,M,T1,T2)
 * open them.
 */
#ifndef SILO_VMM_CONSOLE_FILES_H
#define SILO_VMM_CONSOLE_FILES_H

#include <stdbool.h>

#define CONSOLE_FILES 4
/* In that order: PATH appended to (the head, shared with the other writers
 * of the file, e.g. silo-vmm's stderr under silo); PATH without O_APPEND,
 * for the "[N bytes dropped]" line rewritten in place (pwrite on an
 * O_APPEND fd appends on Linux, pwrite(2) BUGS); PATH.1, written only by
 * the rotation's copy_file_range (which refuses an O_APPEND target);
 * PATH.2, appended to and read by the rotation. */
extern const bool console_file_append[CONSOLE_FILES];

/* Open the four (created 0600, never through a symlink), with extra_flags
 * (O_CLOEXEC, or 0 for the launcher's inherited set). On failure -errno,
 * and the ones opened are closed again; fds[] are -1 then. */
int console_files_open(const char *path, int fds[CONSOLE_FILES], int extra_flags);

#endif
