/* sandbox.h: the sandbox lifecycle library (state directories, spawning a
 * supervised silo-vmm, readiness, stop, removal). Used by the silo CLI and,
 * later, the HTTP API. Daemonless: a running sandbox is a detached
 * supervisor process ("silo _supervise", see supervise.c) that owns one
 * silo-vmm, plus its state directories:
 *
 *   <data>/sandboxes/<name>/  config, scratch.img, console.log (.1, .2:
 *                             its capped tail, src/vmm/console.c), lock,
 *                             workspace.tar (until the first start),
 *                             workspace.manifest
 *   <data>/templates/<T>/     template, mem, state, scratch.img
 *                             (template.c; docs/snapshots.md)
 *   <run>/<name>/             supervisor.pid, vmm.pid, vsock.sock,
 *                             control.sock, exit (once silo-vmm ended),
 *                             paused (while silo pause holds its vCPUs)
 *                             template (this run restored that template)
 *
 * <data>, <run> and every directory above that silo made are its user's
 * alone (sb_dir_private): whoever could write there could swap a socket or
 * a pid file and take the sandbox over.
 *
 * Functions returning int give 0 or -1 with a one-line message in
 * sb_errmsg() (what went wrong and what to do about it), the calling
 * thread's own.
 */
#ifndef SILO_SANDBOX_H
#define SILO_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#define SB_NAME_MAX	   63
#define SB_ENV_MAX	   64
#define SB_PUBLISH_MAX	   32
#define SB_PATH_MAX	   4096
#define SB_MIN_MEMORY	   (32ull << 20)
#define SB_MIN_DISK	   (64ull << 20)
/* Seconds without agent work before a sandbox's guest gives its page cache
 * back to the host (src/agent/trim.c): long enough that an agent thinking
 * between two commands keeps its warm cache. */
#define SB_IDLE_TRIM_S	   30
#define SB_CGROUP_PATH_MAX 1024

/* --- errors ------------------------------------------------------------ */
const char *sb_errmsg(void);
int sb_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "silo: warning: ..." on stderr: something works but may not for long. */
void sb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- pure parsing (unit tested) ---------------------------------------- */
/* "512M", "1G", "8g", "1073741824", "2GiB": binary units; no suffix = bytes. */
int sb_parse_size(const char *s, uint64_t *out);
/* ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$ */
bool sb_name_valid(const char *name);
/* 0, or -1 with the error that says what a name may be; what: "sandbox",
 * "template". */
int sb_name_check(const char *name, const char *what);
/* A cgroup below the cgroup root: "/a/b", no "." or ".." component, no
 * control byte, shorter than SB_CGROUP_PATH_MAX. */
bool sb_cgroup_path_valid(const char *path);
/* "1G" for exact multiples, else bytes; buf >= 32. */
const char *sb_format_size(uint64_t bytes, char *buf, size_t n);

struct sb_config {
	char name[SB_NAME_MAX + 1];
	unsigned cpus;
	uint64_t memory;	     /* bytes, multiple of 1 MiB */
	uint64_t disk;		     /* scratch image size, bytes */
	int64_t created;	     /* unix seconds */
	char workspace[SB_PATH_MAX]; /* host source of --workspace, or "" */
	bool workspace_pending;	     /* workspace.tar not yet copied in */
	bool no_docker;		     /* --no-docker: guest word silo.docker=0 */
	bool wait_docker;	     /* --wait-docker: start waits for dockerd */
	/* --template T: made from template T (config key template=); its
	 * first start restores T's snapshot instead of booting (restore=1
	 * until a start succeeded), later starts boot its own disk. */
	char template[SB_NAME_MAX + 1];
	bool restore_pending;
	/* The cgroup (v2, under /sys/fs/cgroup) its silo-vmm and silo-netd
	 * run in instead of silo's own: the OCI runtime's linux.cgroupsPath,
	 * so that the engine's accounting covers the VM (cgroup.c; config key
	 * cgroup=). "" for silo's own group. */
	char cgroup[SB_CGROUP_PATH_MAX];
	char *env[SB_ENV_MAX + 1]; /* "K=V", NULL-terminated, malloc'd */
	unsigned nenv;
	/* -p: canonical "HOST_IP:HOST_PORT:GUEST_PORT" (net/publish.h),
         * NULL-terminated, malloc'd; config key publish= */
	char *publish[SB_PUBLISH_MAX + 1];
	unsigned npublish;
	/* create only: the network policy text to store (network.c), or
         * NULL for --network none; malloc'd. Not a config key: the policy
         * lives in its own file. */
	char *policy;
};
void sb_config_init(struct sb_config *c);
void sb_config_free(struct sb_config *c);
/* A resource of a new sandbox from text (the CLI's flags, the API's
 * fields), checked against its limits; the error names it as what
 * ("--memory", "memory"). */
#define SB_MAX_CPUS 32
int sb_config_cpus(struct sb_config *c, const char *text, const char *what);
int sb_config_memory(struct sb_config *c, const char *text, const char *what);
int sb_config_disk(struct sb_config *c, const char *text, const char *what);
int sb_config_add_env(struct sb_config *c, const char *kv);
/* Validates SPEC (net_publish_parse; a port already published fails) and
 * stores its canonical form. */
int sb_config_add_publish(struct sb_config *c, const char *spec);
/* key=value lines; unknown keys are ignored (newer silo), bad values fail. */
int sb_config_parse(const char *text, struct sb_config *c);
int sb_config_format(const struct sb_config *c, FILE *f);

/* The exit record written by the supervisor. */
struct sb_exit {
	int code;   /* silo-vmm exit code, or -1 */
	int signal; /* signal that killed it, or 0 */
	char reason[256];
};
int sb_exit_parse(const char *text, struct sb_exit *x);

/* --- locations --------------------------------------------------------- */
/* What a caller tells the library that it never reads from the
 * environment itself: a server's requests must not depend on the
 * process's environment, nor a test call setenv (issue 21). The CLI fills
 * it from the variables named here (src/cli/main.c). NULL or 0: unset. */
struct sb_settings {
	/* <data> and <run>: the flag wins over the variable, which wins over
	 * the default made from home and xdg_*; errors name the one to change */
	const char *data_flag, *data_env;      /* --data-dir, SILO_DATA_DIR */
	const char *run_flag, *run_env;	       /* --run-dir, SILO_RUN_DIR */
	const char *home, *xdg_data, *xdg_run; /* HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR */
	/* silo's parts when not where sb_find_part looks */
	const char *vmm, *guest_dir, *netd; /* SILO_VMM, SILO_GUEST_DIR, SILO_NETD */
	int boot_timeout;		    /* SILO_BOOT_TIMEOUT, seconds; 0: the default */
	const char *cmdline_extra;	    /* SILO_GUEST_CMDLINE_EXTRA: appended to the guest's */
	/* SILO_EGRESS_CA: CA certificates silo-netd also trusts for the
	 * secrets' hosts (a company's TLS-inspecting proxy; a test's server) */
	const char *egress_ca;
};
/* The settings the variables above name, with the flags given (may be
 * NULL), for a command (settings.c). -1 with sb_errmsg() for a bad
 * SILO_BOOT_TIMEOUT. */
int sb_settings_env(struct sb_settings *s, const char *data_flag, const char *run_flag);
/* Seconds from variable name: 0 when unset or empty, -1 with sb_errmsg()
 * when not 1..86400. */
int sb_env_seconds(const char *name);
/* How long a start waits for the agent, and then for Docker. */
#define SB_BOOT_TIMEOUT_DEFAULT 120

struct sb_paths {
	char data[SB_PATH_MAX];	 /* <data> */
	char run[SB_PATH_MAX];	 /* <run> */
	char guest[SB_PATH_MAX]; /* kernel, initrd, base image */
	char vmm[SB_PATH_MAX];	 /* silo-vmm */
	char self[SB_PATH_MAX];	 /* this executable */
	char super[SB_PATH_MAX]; /* run as "EXE _supervise": self, or silo for silo-serve */
	char netd[SB_PATH_MAX];	 /* silo-netd (sb_netd_path checks it) */
	const char *data_hint;	 /* how to choose another <data>, for errors */
	const char *run_hint;
	int boot_timeout; /* seconds */
	char cmdline_extra[512];
	char egress_ca[SB_PATH_MAX]; /* "": none */
};
/* Settings s (NULL: all defaults) resolved into p. Creates <run> (0700)
 * if missing; fails when <run>, or <data> if it exists, is not private
 * (sb_dir_private), or a setting does not fit. */
int sb_paths_init(struct sb_paths *p, const struct sb_settings *s);
/* A part of silo (silo-vmm, the guest directory) for the executable self:
 * given (a setting) when set, else self's directory/build_name (build
 * tree), else PREFIX/install_rel where self is PREFIX/bin/silo (make
 * install). */
int sb_find_part(char *dst, const char *self, const char *given, const char *build_name,
		 const char *install_rel);
/* silo-vmm and the guest directory for self (SB_PATH_MAX each), s->vmm
 * and s->guest_dir first (s may be NULL). */
int sb_find_parts(const char *self, const struct sb_settings *s, char *vmm, char *guest);
/* What ssh-agent and tmux ask of their socket directories: a real
 * directory (not a symlink), owned by the effective uid, no group or other
 * access. what names it in the error ("run directory"), hint says how to
 * choose another (" or set SILO_RUN_DIR", may be ""). Missing: created
 * with its parents (0700) when create, else returns 1. */
int sb_dir_private(const char *path, const char *what, const char *hint, bool create);
/* Scratch images are sparse: warn when what the sandboxes in <data> could
 * still write (apparent minus allocated size, plus add for a new disk)
 * exceeds the free space there; fail only when add alone does not fit. */
int sb_disk_check(const struct sb_paths *p, uint64_t add);

/* How one caller runs the library's long calls (sb_start, sb_wait_docker,
 * sb_template_build): per sandbox handle, so that each request of a server
 * has its own, where a process-wide flag would stop them all (issue 21).
 * A NULL field: never cancelled, no status line. */
struct sb_progress;
struct sb_opts {
	/* non-zero (e.g. set by a signal handler): give up at the next wait;
	 * sb_start then kills what it spawned and fails with "interrupted" */
	const volatile sig_atomic_t *cancel;
	struct sb_progress *progress; /* the status line while it waits */
	/* seconds sb_start waits for the agent, and sb_template_build for
	 * Docker; 0: sb_paths' boot_timeout */
	int boot_timeout;
	/* called by sb_start once the sandbox's cgroup is made and before
	 * anything is started in it (silo-runtime moves a relay in there);
	 * whether or not the cgroup could be made */
	void (*cgroup_ready)(void *arg, const char *path);
	void *cgroup_arg;
};

struct sandbox {
	const struct sb_paths *paths;
	const struct sb_opts *opts; /* NULL: the defaults; sb_open leaves it NULL */
	char name[SB_NAME_MAX + 1];
	char dir[SB_PATH_MAX];	     /* <data>/sandboxes/<name> */
	char rundir[SB_PATH_MAX];    /* <run>/<name> */
	char addr[SB_PATH_MAX + 32]; /* "vsock:<rundir>/vsock.sock" */
	struct sb_config cfg;
	int lock_fd;
};

enum sb_state { SB_STOPPED, SB_RUNNING, SB_EXITED };
struct sb_status {
	enum sb_state state;
	/* SB_RUNNING with its vCPUs stopped (sb_pause): its silo-vmm still
	 * runs and holds its memory, so whatever ends or removes a running
	 * sandbox ends a paused one too; only the guest cannot answer. */
	bool paused;
	int vmm_pid, sup_pid; /* 0 when not running */
	struct sb_exit exit;  /* SB_EXITED */
};

/* Path helper: snprintf into buf of SB_PATH_MAX, fails on truncation. */
int sb_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open an existing sandbox (reads its config); lock takes its flock
 * (blocking) so start/stop/rm of one sandbox are serialised. */
int sb_open(struct sandbox *sb, const struct sb_paths *p, const char *name, bool lock);
/* Take the lock of a sandbox opened without it, waiting at most timeout_ms
 * (< 0: for ever). Fails with errno EWOULDBLOCK if another silo still
 * holds it, ENOENT if the sandbox was removed meanwhile. */
int sb_lock(struct sandbox *sb, int timeout_ms);
void sb_close(struct sandbox *sb);
int sb_status(const struct sandbox *sb, struct sb_status *st);
const char *sb_state_name(enum sb_state s);
/* sb_state_name, or "paused" for a paused running sandbox */
const char *sb_status_name(const struct sb_status *st);
/* "running", "paused", "stopped", "exited (reason)" */
void sb_status_text(const struct sb_status *st, char *buf, size_t n);

/* Names of all sandboxes (sorted); free with sb_names_free. */
int sb_list(const struct sb_paths *p, char ***names, size_t *n);
void sb_names_free(char **names, size_t n);
/* The valid names (sb_name_valid, not hidden) in directory d, sorted; none
 * when d does not exist. */
int sb_dir_names(const char *d, char ***names, size_t *n);

/* Checks that need no sandbox: guest image and silo-vmm present, /dev/kvm
 * usable. Fails with the message that says how to fix it. */
int sb_check_host(const struct sb_paths *p);

/* Create: name NULL generates one; workspace (host dir) is tarred into the
 * new sandbox and copied into /workspace at its first start. Leaves the
 * sandbox opened (not locked) in *sb. */
int sb_create(struct sandbox *sb, const struct sb_paths *p, const char *name,
	      const struct sb_config *want, const char *workspace);
/* Start (sb must be locked): spawn supervisor + silo-vmm, wait until the
 * agent answers, copy a pending workspace in. */
int sb_start(struct sandbox *sb);
/* A sandbox's console log as silo-vmm caps it (src/vmm/console.c), oldest
 * first: the boot, the tail segment before the current one, the current. */
#define SB_CONSOLE_PARTS                                        \
	{                                                       \
		"console.log", "console.log.1", "console.log.2" \
	}
/* The last line the guest wrote there, escaped (guest text), in buf (n
 * bytes); "" when it wrote none (state.c). */
const char *sb_console_last_line(const struct sandbox *sb, char *buf, size_t n);

/* What sb_start runs (vmm_cmd.c; pure, unit tested): "silo _supervise"
 * with the sandbox's run dir and network, then "--" and silo-vmm with its
 * devices and the guest command line. */
struct sb_vmm_in {
	const struct sb_paths *paths; /* self, vmm, guest */
	const char *name, *dir, *rundir;
	const struct sb_config *cfg; /* memory, cpus, disk, no_docker, publish */
	int boot_timeout;	     /* seconds: silo-vmm's --boot-timeout */
	const char *netd;	     /* silo-netd, or NULL: no network */
	const char *cmdline_extra;   /* appended to the guest's; may be NULL */
	const char *restore;	     /* a template's directory: --restore it */
	const char *cgroup;	     /* the sandbox's cgroup (cgroup.h), or NULL */
	bool secrets;		     /* silo-netd gets SB_SECRETS_FD (secret.c) */
};
#define SB_VMM_ARGC_MAX (48 + 2 * SB_PUBLISH_MAX)
struct sb_vmm_cmd {
	char *argv[SB_VMM_ARGC_MAX]; /* NULL-terminated; into here and *in */
	char vsock[SB_PATH_MAX];     /* <rundir>/vsock.sock */
	char control[SB_PATH_MAX];   /* <rundir>/control.sock */
	char console[SB_PATH_MAX];   /* <dir>/console.log */
	/* what the rest of argv points to */
	char kernel[SB_PATH_MAX], initrd[SB_PATH_MAX], base[SB_PATH_MAX], scratch[SB_PATH_MAX];
	char vsock_arg[SB_PATH_MAX + 16], console_arg[SB_PATH_MAX + 8], cmdline[2048];
	char mem[32], cpus[16], tmo[16], fsize[32], restore[SB_PATH_MAX];
};
int sb_vmm_cmd(const struct sb_vmm_in *in, struct sb_vmm_cmd *out);
/* The words sb_vmm_open_fds puts in silo-vmm's argv: room for every
 * resource option of the longest command line (vmm_cmd.c). */
#define SB_VMM_FD_WORDS	   24
#define SB_VMM_FD_WORD_MAX 64
struct sb_vmm_fd_words {
	char w[SB_VMM_FD_WORDS][SB_VMM_FD_WORD_MAX];
	unsigned n;
};
/* In the supervisor's child before it execs silo-vmm (vmm_fds.c): every
 * path option of argv (silo-vmm's, argv[0] the program) opened, inherited,
 * and replaced by fd:N, a word of *w (which must outlive argv's use). 0, or
 * -errno with "OPTION VALUE: reason" in why. */
int sb_vmm_open_fds(char **argv, struct sb_vmm_fd_words *w, char *why, size_t n);
/* Graceful shutdown through the agent for up to timeout_s (0: skip it),
 * then the control socket, SIGTERM, SIGKILL, each step with a deadline;
 * removes the run dir. */
int sb_stop(struct sandbox *sb, int timeout_s);
/* A sandbox just made that never came up (its start failed): stop and
 * remove it, keeping sb_errmsg() (the start's error). sb must be locked.
 * Returns -1, for `return sb_discard(sb);`. */
int sb_discard(struct sandbox *sb);
/* SIGKILL silo-vmm and its supervisor now, lock or not (rm -f when another
 * silo holds the lock: whatever it waits for in the guest ends with it). */
void sb_kill(struct sandbox *sb);
/* The caller's options of sb (NULL-safe): cancelled, the boot timeout
 * (its own, else sb_paths'), and the status line (NULL: none). */
bool sb_cancelled(const struct sandbox *sb);
int sb_boot_timeout(const struct sandbox *sb);
struct sb_progress *sb_status_line(const struct sandbox *sb);
/* Removes data and run dirs (sb must be locked and not running). */
int sb_remove(struct sandbox *sb);

/* --- pause and resume (pause.c) ---------------------------------------- */
/* <rundir>/SB_PAUSED_FILE records a pause, as the pid files record a run:
 * written before silo-vmm's `pause`, removed after its `resume`, and gone
 * with the run dir when the sandbox stops. Both need sb locked; pausing a
 * sandbox that is not running, or is paused already, fails. */
#define SB_PAUSED_FILE "paused"
int sb_pause(struct sandbox *sb);
int sb_resume(struct sandbox *sb);
/* One control-socket request (src/vmm/control.c) to the running silo-vmm,
 * at most deadline_ms: 0 when it answered "ok[ ...]", else -1; buf gets
 * the reply line without its newline ("" when none came). control.c. */
int sb_vmm_request(const struct sandbox *sb, const char *req, char *buf, size_t n, int deadline_ms);

/* --- after a snapshot restore (restored.c) ------------------------------ */
/* Give a guest that silo-vmm --restore just resumed what a boot would have
 * given it: fresh kernel entropy (and a CRNG reseed), the host's clock, the
 * hostname sb->name and a new random /etc/machine-id (agent protocol
 * RESTORED). sb_start sends it as the restored guest's first request,
 * before anything else runs in the guest; without it every clone of the
 * snapshot shares its RNG state. 0, or -1 with sb_errmsg() and the
 * client's error in *err (err->remote: the agent refused it; else it was
 * not reached, or did not answer in time). */
struct aclient_err;
int sb_restored_try(const struct sandbox *sb, struct aclient_err *err);

/* Supervisor entry (argv after "_supervise"); never returns. */
void sb_supervise_main(int argc, char **argv) __attribute__((noreturn));

/* --- guest helpers (workspace.c) --------------------------------------- */
/* Run a shell snippet as root in the guest, capturing stdout (malloc'd,
 * NUL-terminated). Returns the exit status, or -1 with sb_errmsg(). */
int sb_guest_sh(const struct sandbox *sb, const char *script, char **out, size_t *outlen);
int sb_workspace_copy_in(struct sandbox *sb);
/* One line per difference: "A /workspace/x", the path quoted when it
 * needs it (sb_quote); caller frees *out. */
int sb_workspace_diff(const struct sandbox *sb, char **out);
/* Compare two listings of len bytes each, NUL- (or, from an older silo,
 * newline-) terminated records (pure; unit tested). */
int sb_manifest_diff(const char *before, size_t blen, const char *after, size_t alen, char **out);

/* --- printing guest-derived text (quote.c) ----------------------------- */
/* Every string a guest chose (agent errors, paths, exit reasons) is printed
 * through these: C-style quoting like git's core.quotePath. Control bytes,
 * DEL, C1 controls, bidi overrides and invalid UTF-8 become \n, \t, \033...;
 * printable UTF-8 stays. */
bool sb_needs_quote(const char *s);
/* "..."-quoted when needed, else s as is; at most n bytes with the NUL
 * (a cut ends in "..." and never splits an escape). */
char *sb_quote(const char *s, char *buf, size_t n);
/* The escapes without the quotes, '"' and '\\' left as they are: guest
 * text inside one of silo's own lines (error messages, exit reasons). */
char *sb_escape(const char *s, char *buf, size_t n);
/* sb_quote to a stream, any length. */
void sb_fputq(FILE *f, const char *s);
/* A JSON string (with its quotes): controls escaped, invalid UTF-8 as
 * U+FFFD, so the output is valid JSON whatever the guest wrote. */
void sb_json_str(FILE *f, const char *s);

/* --- the guest's Docker daemon (docker.c) ------------------------------ */
enum sb_docker {
	SB_DOCKER_OFF,	   /* created with --no-docker */
	SB_DOCKER_STOPPED, /* the sandbox is not running */
	SB_DOCKER_STARTING,
	SB_DOCKER_READY,
	SB_DOCKER_FAILED,  /* why: the guest's reason + dockerd's last lines */
	SB_DOCKER_UNKNOWN, /* the agent did not answer */
};
const char *sb_docker_name(enum sb_docker d);
int sb_docker_state(const struct sandbox *sb, enum sb_docker *d, char *why, size_t n);
/* Until dockerd answers, or a one-line error (with dockerd's last log
 * lines when it failed) after timeout_s. */
int sb_wait_docker(const struct sandbox *sb, int timeout_s);

/* --- disk health from silo-vmm's metrics (health.c) ------------------ */
/* 1 when the running sandbox's silo-vmm reports host write failures on a
 * disk: why = "host disk full" (ENOSPC, EDQUOT) or "host disk I/O errors",
 * detail = why + count, disks and the first error. 0 when healthy, or
 * when silo-vmm does not answer within a short deadline. */
int sb_degraded(const struct sandbox *sb, char *why, size_t wn, char *detail, size_t dn);

/* --- the sandbox network (network.c, docs/network.md) ----------------- */
/* <dir>/policy holds the policy text (net_policy_format); no file: the
 * sandbox has no network (--network none, or created before networks). */
struct net_policy;
#define SB_POLICY_FILE "policy"	   /* in <dir> */
#define SB_NET_LOG     "net.log"   /* in <dir>: silo-netd's decisions */
#define SB_NET_STATS   "net.stats" /* in <rundir>: its counters */
#define SB_NETD_PID    "netd.pid"  /* in <rundir> */
/* The policy, heap-allocated (it is large): 1 and *out, 0 when the sandbox
 * has no network (*out NULL), -1 on error. Free with free(). */
int sb_net_load(const struct sandbox *sb, struct net_policy **out);
/* Store it (atomically, 0600) and, when the sandbox runs, make its
 * silo-netd read it again (SIGHUP). */
int sb_net_save(const struct sandbox *sb, const struct net_policy *p);
/* Counters from the running broker's stats file; -1 when not running. */
int sb_net_stats(const struct sandbox *sb, unsigned long long *allowed, unsigned long long *denied);
/* The running silo-netd's pid (checked against /proc), or 0. */
int sb_netd_pid(const struct sandbox *sb);
/* silo-netd (p->netd: the setting, else beside silo-vmm), checked. */
int sb_netd_path(const struct sb_paths *p, char *buf, size_t n);
/* The default policy of a new sandbox when --network is not given:
 * allowlist with these rules (docs/network.md "The default"). */
extern const char *const sb_net_preset[];
/* Add the preset's rules to p (a new sandbox's default). */
void sb_net_preset_add(struct net_policy *p);
/* p's text (net_policy_format) in *out, malloc'd: sb_config.policy. */
int sb_net_policy_text(const struct net_policy *p, char **out);

/* Write sb->cfg back to <dir>/config (atomically). */
int sb_save_config(struct sandbox *sb);

/* --- templates (template.c, template_build.c; docs/snapshots.md) ------- */
/* <data>/templates/<T>/: SB_TEMPLATE_FILE (struct sb_template as key=value
 * lines), mem and state (silo-vmm's snapshot), scratch.img (the scratch
 * disk as it was at the snapshot). */
#define SB_TEMPLATE_FILE    "template"
#define SB_TEMPLATE_DEFAULT "default"
/* The guest image a template's memory was saved on top of: its page
 * cache holds that file's blocks, so restoring over another would mix
 * two file systems. */
struct sb_base_id {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};
struct sb_template {
	char name[SB_NAME_MAX + 1];
	unsigned cpus;
	uint64_t memory, disk; /* bytes */
	int64_t created;       /* unix seconds */
	bool no_docker;	       /* built with --no-docker */
	bool net;	       /* built with a network (guest word silo.net=1) */
	struct sb_base_id base;
	char agent[64]; /* "claude 2.1.332" (--agent), or "" */
};
/* Pure (unit tested): every key required, bad values fail, unknown keys
 * are ignored (newer silo). */
int sb_template_parse(const char *text, struct sb_template *t);
int sb_template_format(const struct sb_template *t, FILE *f);
/* <data>/templates, and one template's directory (SB_PATH_MAX). */
int sb_templates_dir(const struct sb_paths *p, char *buf);
int sb_template_dir(const struct sb_paths *p, const char *name, char *buf);
/* Read T's metadata; a missing T is "no such template". */
int sb_template_load(const struct sb_paths *p, const char *name, struct sb_template *t);
/* Names of all templates (sorted); free with sb_names_free. */
int sb_template_list(const struct sb_paths *p, char ***names, size_t *n);
/* Bytes T takes on disk (allocated blocks of its files). */
uint64_t sb_template_du(const struct sb_paths *p, const char *name);
/* Refused (in use) while a sandbox made from T is yet to restore it or
 * runs restored from it. */
int sb_template_remove(const struct sb_paths *p, const char *name);
/* The create flags given on the command line, for sb_template_apply. */
enum { SB_GIVEN_CPUS = 1, SB_GIVEN_MEMORY = 2, SB_GIVEN_DISK = 4, SB_GIVEN_NET = 8 };
/* Make cfg a sandbox of template t (pure, unit tested): its cpus, memory,
 * disk, Docker and network; a flag given that differs is an error. */
int sb_template_apply(const struct sb_template *t, unsigned given, struct sb_config *cfg);
/* The identity of the guest image (<guest>/rootfs.ext4, symlinks followed). */
int sb_base_id(const struct sb_paths *p, struct sb_base_id *id);
/* Shared (create) or exclusive (rm) lock on <data>/templates: no template
 * goes while a sandbox is being made from it. Returns the fd to close. */
int sb_templates_lock(const struct sb_paths *p, bool exclusive);
/* Boot a sandbox from want, wait until it is ready (Docker unless
 * no_docker), snapshot it and keep it as template name. */
struct sb_agent;
int sb_template_build(const struct sb_paths *p, const char *name, const struct sb_config *want,
		      const char *const *cmd, const struct sb_agent *agent,
		      const struct sb_opts *opts);
/* One request on silo-vmm's control socket ctl, with nfds (<= 4)
 * descriptors passed along (SCM_RIGHTS), its reply line in reply. */
int sb_control(const char *ctl, const char *req, const int *fds, unsigned int nfds, char *reply,
	       size_t n, int timeout_s);

/* --- copying disks (clone.c) ------------------------------------------- */
/* A new file dst in dfd (O_EXCL, 0600) with src's contents: a reflink
 * (FICLONE) where the file system shares blocks, else a copy of src's
 * data extents only (SEEK_DATA/SEEK_HOLE), so holes stay holes. */
int sb_clone_file(const char *src, int dfd, const char *dst);

/* silo-vmm's pid file in <rundir>, and beside it (that name + the suffix)
 * its start time, which tells it from a later process with its pid. */
#define SB_VMM_PID	"vmm.pid"
#define SB_START_SUFFIX ".start"
/* Process pid's start time (clock ticks after boot, proc(5) stat field 22)
 * and state letter. -1 when there is no such process. */
int sb_proc_start(int pid, unsigned long long *start, char *state);

/* Small file helpers */
int sb_read_file(const char *path, char **out, size_t *len);
int sb_write_file_atomic(const char *path, const char *data, size_t len);
/* Never follows a symlink inside the tree, nor crosses a mount point. */
int sb_rmtree(const char *path);
int sb_rmtree_at(int dirfd, const char *name);
int sb_mkdir_p(const char *path, unsigned mode);
/* The last n - 1 bytes of what fd holds (a command's output, a memfd),
 * without the trailing newlines, in buf; returns buf. */
const char *sb_fd_tail(int fd, char *buf, size_t n);
bool sb_exists(const char *path);
/* Sleep ms milliseconds (a signal may end it early). */
void sb_nap_ms(int ms);
/* A watch on dir for entries made or renamed into it, for sb_dir_wait;
 * -1 when inotify cannot be had (its limits): sb_dir_wait then sleeps. */
int sb_dir_watch(const char *dir);
/* Wait at most ms for the next such entry (woken at once by one made
 * since the last call), so a waiter sees a file the moment it appears
 * instead of up to a poll interval later. */
void sb_dir_wait(int watch, int ms);

/* secret.c: secrets at egress (docs/secrets.md). A secret is kept on the
 * host, in <data>/secrets/NAME, and handed to each sandbox's silo-netd,
 * which adds it to the HTTPS requests for its hosts; the guest never has
 * it. */
#define SB_SECRET_HOSTS 8
#define SB_SECRETS_FD	3		/* silo-netd's --secrets-fd, as the supervisor passes it */
#define SB_EGRESS_CA	"egress-ca.pem" /* in <rundir>: this run's CA (silo-netd --ca-out) */
#define SB_SECRET_ENV	"secret.env"	/* in <rundir>: the guest's placeholders */
struct sb_secret {
	char name[SB_NAME_MAX + 1];
	char hosts[SB_SECRET_HOSTS][254]; /* port 443 */
	unsigned nhosts;
	char header[64];  /* the request header it sets */
	char format[256]; /* the header's value, {} standing for the secret */
	char env[64];	  /* the guest variable that gets a placeholder, or "" */
};
/* The built-in secret called name (anthropic, openai, gemini): 0, or -1. */
int sb_secret_preset(const char *name, struct sb_secret *s);
/* Store s with value (0600); replaces one of that name. */
int sb_secret_set(const struct sb_paths *p, const struct sb_secret *s, const char *value);
/* s, and its value when value is not NULL (malloc'd: wipe and free it). */
int sb_secret_load(const struct sb_paths *p, const char *name, struct sb_secret *s, char **value);
int sb_secret_list(const struct sb_paths *p, char ***names, size_t *n);
int sb_secret_remove(const struct sb_paths *p, const char *name);
/* For a start: every secret as silo-netd's --secrets-fd lines, in a sealed
 * memfd (*fd, -1 when there are none), and the guest's placeholder
 * variables as "K=V" lines (*env, malloc'd, NULL when none). */
int sb_secrets_netd(const struct sb_paths *p, int *fd, char **env);
/* Once the guest answers: trust this run's CA there (system store, Node). */
int sb_secrets_guest(const struct sandbox *sb);
/* What a command in sb runs with: the run's own variables (placeholders,
 * NODE_EXTRA_CA_CERTS), the sandbox's (create -e), then extra's (may be
 * NULL); later ones win in the guest. NULL-terminated, malloc'd: free with
 * sb_env_free. */
int sb_exec_env(const struct sandbox *sb, const char *const *extra, char ***out);
void sb_env_free(char **env);

/* agent.c: coding agents from the npm registry (docs/agents.md). */
#define SB_AGENT_TEMPLATE "agent-" /* + name: the template `--agent` builds and runs */
struct sb_agent {
	const char *name;    /* claude */
	const char *package; /* @anthropic-ai/claude-code */
	const char *version; /* pinned: the one silo was tested with */
	const char *payload; /* under the npm prefix: what goes into the guest */
	const char *program; /* under payload: the command */
	const char *path;    /* under payload: a directory for the command's PATH, or NULL */
	const char *env[4];  /* "K=V" it runs with */
};
const struct sb_agent *sb_agent_find(const char *name);
const char *sb_agent_names(void); /* "claude, codex": for errors */
/* The agent's npm package in <data>/agents/NAME-VERSION (dir, SB_PATH_MAX),
 * fetched with the host's npm unless it is there already. */
int sb_agent_fetch(const struct sb_paths *p, const struct sb_agent *a, char *dir);
/* Into a running sandbox: the payload to /opt/silo/agents/NAME, the
 * command on PATH, and a check that it runs. */
int sb_agent_install(const struct sandbox *sb, const struct sb_agent *a, const char *dir);

/* progress.c: the status line `silo run`/`start` draw on a terminal while
 * they wait. fd -1 (the default, and for -q or a stderr that is not a
 * terminal) draws nothing. clock NULL: CLOCK_MONOTONIC (tests pass their
 * own). begin, then step(what) from the wait's loop, then end, which
 * erases the line; each does nothing when p is NULL. */
#define SB_PROGRESS_DELAY_S 1.0
struct sb_progress {
	int fd;
	double (*clock)(void);
	double start;
	long last; /* the second last drawn */
	bool shown;
	char name[SB_NAME_MAX + 1];
	char what[64];
};
void sb_progress_init(struct sb_progress *p, int fd, double (*clock)(void));
/* init with fd when it is a terminal and not quiet (-q), else off; true
 * when on. */
bool sb_progress_open(struct sb_progress *p, int fd, bool quiet, double (*clock)(void));
void sb_progress_begin(struct sb_progress *p, const char *name);
void sb_progress_step(struct sb_progress *p, const char *what);
void sb_progress_end(struct sb_progress *p);

#endif
