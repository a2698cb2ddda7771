/* vmm_fds.c: the launcher's half of silo-vmm's "descriptors instead of
 * paths" (src/vmm/fdarg.h, docs/security.md "Descriptors, not paths").
 *
 * In the supervisor's child, between clone and exec (supervise.c), every
 * path option of silo-vmm's command line is opened here, with the access
 * silo-vmm needs and no more, and replaced by fd:N: silo-vmm, the process
 * that faces the guest, never held the right to open a host path, only
 * the descriptors of its own VM. The one table below says how each option
 * is opened; silo-vmm accepts the same options with paths when run by hand
 * (or with SILO_VMM_JAIL=0, when the launcher passes paths through).
 *
 * Runs in a child that execs or exits next: what it opens is left open
 * for silo-vmm (not close-on-exec); the new words live in the caller's
 * struct sb_vmm_fd_words.
 */
#include "sandbox/sandbox.h"
#include "vmm/console_files.h"
#include "vmm/fdarg.h"
#include "vmm/snapshot/wset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Unix listeners' backlogs, as silo-vmm's own (control.c, console.c,
 * vsock/muxer.c) when it binds them itself. */
#define CONTROL_BACKLOG 8
#define CONSOLE_BACKLOG 4
#define VSOCK_BACKLOG	128

enum vmm_res_kind {
	RES_READ,    /* PATH, read-only (kernel, initramfs) */
	RES_DISK,    /* PATH[,ro]: read-write unless ,ro */
	RES_LISTEN,  /* PATH: a Unix socket bound and listening */
	RES_VSOCK,   /* CID,PATH: PATH as RES_LISTEN */
	RES_CONSOLE, /* stdio, file:PATH (four files), unix:PATH (RES_LISTEN) */
	RES_RESTORE, /* DIR: DIR/state and DIR/mem, read-only */
};

static const struct vmm_res {
	const char *opt;
	enum vmm_res_kind kind;
} vmm_res[] = {
	{ "--kernel", RES_READ },     { "--initrd", RES_READ }, { "--disk", RES_DISK },
	{ "--control", RES_LISTEN },  { "--vsock", RES_VSOCK }, { "--console", RES_CONSOLE },
	{ "--restore", RES_RESTORE },
};

/* The next free word of w, or NULL. */
static char *word(struct sb_vmm_fd_words *w)
{
	return w->n < SB_VMM_FD_WORDS ? w->w[w->n++] : NULL;
}

/* prefix "fd:A,B,..." for n descriptors, in a word of w. */
static char *fd_words(struct sb_vmm_fd_words *w, const char *prefix, const int *fds, int n)
{
	char *buf = word(w);
	int len;

	if (!buf)
		return NULL;
	len = snprintf(buf, SB_VMM_FD_WORD_MAX, "%s" FDARG_PREFIX, prefix);
	for (int i = 0; i < n && len < SB_VMM_FD_WORD_MAX; i++)
		len += snprintf(buf + len, SB_VMM_FD_WORD_MAX - (size_t)len, "%s%d", i ? "," : "",
				fds[i]);
	return len < SB_VMM_FD_WORD_MAX ? buf : NULL;
}

/* A listener for silo-vmm: bound as silo-vmm binds its own, then made
 * inheritable (unix_listen_path makes it close-on-exec). */
static int listen_on(const char *path, int backlog, int *fd)
{
	*fd = unix_listen_path(path, backlog);
	if (*fd >= 0 && fcntl(*fd, F_SETFD, 0) < 0)
		return -errno;
	return *fd < 0 ? *fd : 0;
}

static int open_ro(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY);
	return *fd < 0 ? -errno : 0;
}

/* PATH[,flags] of --disk: the path opened, the flags kept after fd:N. */
static char *open_disk(struct sb_vmm_fd_words *w, const char *arg, int *err)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	char path[SB_PATH_MAX];
	bool ro = comma && !strcmp(comma, ",ro");
	int fd;

	if (len >= sizeof(path)) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	memcpy(path, arg, len);
	path[len] = 0;
	fd = open(path, ro ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	char *buf = fd_words(w, "", &fd, 1);
	if (buf && comma && strlen(buf) + strlen(comma) < SB_VMM_FD_WORD_MAX)
		strcat(buf, comma);
	else if (comma)
		buf = NULL;
	return buf;
}

/* One option's value turned into descriptors; NULL and *err on failure,
 * the value itself when there is nothing to open (--console stdio). */
static char *open_res(struct sb_vmm_fd_words *w, enum vmm_res_kind kind, const char *val, int *err)
{
	const char *p;
	int fds[CONSOLE_FILES];
	char path[SB_PATH_MAX];

	*err = 0;
	switch (kind) {
	case RES_READ:
		return (*err = open_ro(val, fds)) ? NULL : fd_words(w, "", fds, 1);
	case RES_DISK:
		return open_disk(w, val, err);
	case RES_LISTEN:
		return (*err = listen_on(val, CONTROL_BACKLOG, fds)) ? NULL
								     : fd_words(w, "", fds, 1);
	case RES_VSOCK:
		if (!(p = strchr(val, ',')) || (size_t)(p - val) > 24) {
			*err = -EINVAL;
			return NULL;
		}
		if ((*err = listen_on(p + 1, VSOCK_BACKLOG, fds)))
			return NULL;
		snprintf(path, sizeof(path), "%.*s,", (int)(p - val), val);
		return fd_words(w, path, fds, 1);
	case RES_CONSOLE:
		if (!strncmp(val, "file:", 5))
			return (*err = console_files_open(val + 5, fds, 0))
				       ? NULL
				       : fd_words(w, "file:", fds, CONSOLE_FILES);
		if (!strncmp(val, "unix:", 5))
			return (*err = listen_on(val + 5, CONSOLE_BACKLOG, fds))
				       ? NULL
				       : fd_words(w, "unix:", fds, 1);
		return (char *)val;
	case RES_RESTORE: /* silo-vmm's fd:STATE,MEM[,WORKINGSET] (snapshot/restore.c) */
		for (int k = 0; k < 3; k++) {
			static const char *const f[] = { "state", "mem", WSET_FILE };

			if (sb_path(path, "%s/%s", val, f[k]) < 0)
				*err = -ENAMETOOLONG;
			else
				*err = open_ro(path, &fds[k]);
			/* a template recorded no working set (built before them) */
			if (k == 2 && *err == -ENOENT)
				return fd_words(w, "", fds, 2);
			if (*err)
				return NULL;
		}
		return fd_words(w, "", fds, 3);
	}
	*err = -EINVAL;
	return NULL;
}

/* Only the table's options are looked at, each with the value after it;
 * silo's own command lines (vmm_cmd.c) give every option and its value as
 * two words. */
int sb_vmm_open_fds(char **argv, struct sb_vmm_fd_words *w, char *why, size_t n)
{
	for (int i = 1; argv[i] && argv[i + 1]; i++) {
		const struct vmm_res *r = NULL;
		char *val;
		int err;

		for (size_t k = 0; k < sizeof(vmm_res) / sizeof(vmm_res[0]); k++)
			if (!strcmp(argv[i], vmm_res[k].opt))
				r = &vmm_res[k];
		if (!r)
			continue;
		val = open_res(w, r->kind, argv[i + 1], &err);
		if (!val) {
			snprintf(why, n, "%s %s: %s", argv[i] + 2, argv[i + 1],
				 strerror(err ? -err : ENOMEM));
			return err ? err : -ENOMEM;
		}
		argv[++i] = val;
	}
	return 0;
}
