/* rt.h: what the subcommands of silo-runtime share (main.c, create.c). */
#ifndef SILO_OCI_RT_H
#define SILO_OCI_RT_H

#include "oci/oci.h"

/* Where state lives without --root: runc's is /run/runc. */
#define OCI_ROOT_DEFAULT "/run/silo-runtime"
#define OCI_STATE_FILE	 "state.json"
#define OCI_FIFO	 "exec.fifo"
/* A pod's sandbox container's relay boots its VM: then one of these */
#define OCI_BOOTED	 "booted"
#define OCI_BOOT_ERROR	 "boot.error" /* its one-line error */

struct oci_rt {
	struct oci_args a;
	struct sb_paths paths;
	const char *root; /* --root, or the default */
};

/* The one-line error: a JSON line in --log (what the runc shim shows its
 * user) and a line on stderr. Returns 1, runc's failure status. */
int oci_fail(const struct oci_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* <root>/<id>[/file] into buf (SB_PATH_MAX); -1 when it does not fit. */
int oci_path(const struct oci_rt *rt, char *buf, const char *id, const char *file);
/* Read <root>/<id>/state.json. 0; 1 when there is no such container; -1
 * with the error in err. */
int oci_load(const struct oci_rt *rt, const char *id, struct oci_state *st, char *err, size_t n);
/* Load the container the first operand names; 0, or the status to exit
 * with (its error logged): usage when there is no operand. */
int oci_load_one(struct oci_rt *rt, const char *usage, struct oci_state *st);
/* The relay still runs (same pid, same start time, not a zombie). */
bool oci_alive(const struct oci_state *st);
/* "created" (waiting for start), "running" or "stopped". */
const char *oci_status(const struct oci_rt *rt, const struct oci_state *st);
/* What runc writes to --pid-file: the number, no newline (go-runc reads
 * it with strconv.Atoi), atomically. */
int oci_write_pid(const char *file, int pid);

int oci_create(struct oci_rt *rt);
int oci_start(struct oci_rt *rt);
int oci_delete(struct oci_rt *rt);
int oci_exec(struct oci_rt *rt);

#endif
