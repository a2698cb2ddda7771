/* oci.h: silo as an OCI runtime (docs/containerd.md).
 *
 * `silo-runtime` (silo, called by that name) or `silo oci` takes runc's
 * command line, so containerd's own runc v2 shim (BinaryName), `ctr run
 * --runc-binary`, Docker (--add-runtime) and Podman (--runtime) drive silo
 * microVMs. A container whose config.json makes it its own VM (no CRI
 * annotation, or the pod's sandbox container) gets a silo sandbox of its
 * own; a container of a pod runs as a process in its pod's VM, through the
 * agent. Each container and exec has a host relay (relay.c): the process
 * whose pid the shim gets, which lives as long as the guest process and
 * exits with its status, as runc's init would.
 *
 *   <root>/<id>/state.json  what create recorded (state.c)
 *   <root>/<id>/exec.fifo   create's relay waits on it until start
 *
 * Pure parts (args.c, spec.c, state.c) are unit tested
 * (tests/unit/test_oci.c).
 */
#ifndef SILO_OCI_H
#define SILO_OCI_H

#include "sandbox/sandbox.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* runc's container ids: ^[\w+\-.]+$ (libcontainer/utils); containerd's
 * are shorter than this. */
#define OCI_ID_MAX   256
#define OCI_ENV_MAX  256 /* exec -e */
#define OCI_OPER_MAX 64	 /* operands after the subcommand's flags */

/* The pure parts' errors: fmt into err (n bytes); returns -1 (state.c). */
int oci_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- the command line (args.c) ----------------------------------------- */
struct oci_args {
	/* runc's global flags, before the subcommand */
	const char *root, *log, *log_format;
	bool systemd_cgroup, debug, version;
	const char *cmd;
	/* the subcommand's flags (those it does not take are refused) */
	const char *bundle, *pid_file, *console_socket, *process, *format, *resources;
	const char *cwd, *user;
	const char *env[OCI_ENV_MAX + 1];
	unsigned nenv;
	bool detach, all, force, tty;
	/* operands: the container id first */
	const char *oper[OCI_OPER_MAX];
	unsigned noper;
};
/* argv as runc takes it: global flags, the subcommand, its flags, its
 * operands; "--flag value", "--flag=value", Go's "-flag" forms and the
 * short flags runc has. 0, or -1 with the one-line error in err. */
int oci_parse_args(int argc, char **argv, struct oci_args *a, char *err, size_t n);
/* runc's id rule, and no "." or "..": the id names a directory. */
bool oci_id_valid(const char *id);
/* "9", "KILL", "SIGKILL" -> 9; -1 when it is none. */
int oci_signal_parse(const char *s);

/* --- config.json and process.json (spec.c) ----------------------------- */
/* What a container runs (config.json "process", exec's process.json). */
struct oci_proc {
	char **args; /* NULL-terminated, malloc'd */
	char **env;  /* NULL-terminated, malloc'd ("K=V") */
	char cwd[SB_PATH_MAX];
	char user[64]; /* "uid:gid" for the agent */
	bool terminal;
	unsigned rows, cols; /* consoleSize, 0: unset */
};
enum oci_kind {
	OCI_VM,		   /* its own VM, running its process (ctr, Docker, Podman) */
	OCI_POD_SANDBOX,   /* CRI's sandbox (pause) container: the pod's VM */
	OCI_POD_CONTAINER, /* a container of a pod: a process in the pod's VM */
};
struct oci_spec {
	struct oci_proc proc;
	enum oci_kind kind;
	char pod[OCI_ID_MAX + 1]; /* OCI_POD_CONTAINER: its sandbox container's id */
	/* the VM's size (OCI_VM, OCI_POD_SANDBOX): 0 keeps silo's default */
	unsigned cpus;
	uint64_t memory;
	/* silo's own annotations (docs/containerd.md) */
	char template[SB_NAME_MAX + 1]; /* dev.silo.template */
	const char *network;		/* dev.silo.network: open|allowlist|none, or NULL */
	bool no_docker;			/* dev.silo.docker=false */
	const char *cgroups_path;	/* linux.cgroupsPath as given, or NULL */
	json_t *annotations;		/* kept for `state` (a reference) */
	json_t *root;			/* the parsed document */
};
/* The smallest VM a container gets, whatever its memory limit says: the
 * guest kernel, its agent and dockerd need this much to come up. */
#define OCI_MIN_MEMORY (256ull << 20)
/* config.json's text into s. 0, or -1 with the error (naming the field)
 * in err. Free with oci_spec_free. */
int oci_spec_parse(const char *text, struct oci_spec *s, char *err, size_t n);
void oci_spec_free(struct oci_spec *s);
/* linux.cgroupsPath as a path under the cgroup v2 root ("/a/b"):
 * cgroupfs form as is ("a/b" from the root), systemd form
 * ("slice:prefix:name", --systemd-cgroup) as systemd lays it out
 * ("/a.slice/a-b.slice/prefix-name.scope"). 0, or -1 with err. */
int oci_cgroup_path(const char *given, bool systemd, char *out, size_t n, char *err, size_t en);
/* An OCI "process" object (exec --process's file: the same shape). */
int oci_proc_parse(json_t *process, struct oci_proc *p, char *err, size_t n);
int oci_proc_text(const char *text, struct oci_proc *p, char *err, size_t n);
void oci_proc_free(struct oci_proc *p);

/* --- ids and records (state.c) ----------------------------------------- */
/* The silo sandbox name of container id: "oci-" + id when that is a valid
 * name, else "oci-" + a prefix of it + "-" + a hash of all of it. */
void oci_silo_name(const char *id, char out[SB_NAME_MAX + 1]);

/* <root>/<id>/state.json: what the other subcommands need. */
struct oci_state {
	char id[OCI_ID_MAX + 1];
	char bundle[SB_PATH_MAX];
	char sandbox[SB_NAME_MAX + 1]; /* the silo sandbox it runs in */
	enum oci_kind kind;
	int pid;		  /* the relay */
	unsigned long long start; /* its start time (sb_proc_start) */
	int64_t created_ns;	  /* unix time, ns */
	json_t *annotations;	  /* config.json's, or NULL */
	/* the cgroup (full path) its relays join, or "": a pod's container's
	 * own is removed by its delete, a VM's with the VM */
	char cgroup[SB_PATH_MAX];
};
int oci_state_format(const struct oci_state *st, char **out);
int oci_state_parse(const char *text, struct oci_state *st, char *err, size_t n);
void oci_state_free(struct oci_state *st);
/* runc's `state` document; status "created", "running" or "stopped". */
json_t *oci_state_runc(const struct oci_state *st, const char *status);
/* One line of runc's JSON log: {"level":..,"msg":..,"time":..}\n. */
int oci_log_line(const char *level, const char *msg, int64_t now_ns, char **out);
/* RFC 3339 with nanoseconds, UTC, as Go's time.Time marshals. */
void oci_time_text(int64_t ns, char *buf, size_t n);

/* --- the relay (relay.c) ----------------------------------------------- */
/* A signal for the relay to pass on: sent with sigqueue(2), the signal
 * number its value, so that SIGKILL and SIGSTOP reach the guest process
 * too (they cannot be caught on the way). */
#define OCI_RELAY_SIG (SIGRTMIN + 1)
struct oci_relay {
	const struct sb_paths *paths;
	char sandbox[SB_NAME_MAX + 1];
	enum oci_kind kind;
	const struct oci_proc *proc;
	const char *fifo;	    /* create: wait on it for start; NULL: run now */
	const char *console_socket; /* proc->terminal: where the pty master goes */
	const char *cgroup;	    /* a cgroup (full path) to join, or NULL */
	/* a container with a VM of its own (a pod's sandbox container, or
	 * one outside a pod): the relay boots the VM (made, not started) and
	 * then writes booted, or its error to boot_error. Once the VM's
	 * cgroup is made, the relay is moved into cgroup and a byte goes to
	 * ready_fd (create waits for it; EOF: the boot failed before). */
	const char *booted, *boot_error;
	int ready_fd;
};
/* Fork the relay; its pid in *pid. The caller's stdin, stdout and stderr
 * become the guest process's (a pty when proc->terminal). 0, or -1 with
 * sb_errmsg(). */
int oci_relay_spawn(const struct oci_relay *r, int *pid);

/* --- the subcommands (main.c) ------------------------------------------ */
int oci_main(int argc, char **argv, const struct sb_settings *set, const char *version);

#endif
