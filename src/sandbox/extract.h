/* extract.h: unpacking a tar stream that came from a guest, safely.
 *
 * The guest is not trusted (docs/security.md): it may name any member,
 * send any file type and never stop. sb_extract_tar writes only below one
 * directory the caller created, only regular files, directories and
 * symlinks, never through a symlink, and at most max_bytes. Errors return
 * -1 with sb_errmsg(); the caller removes the directory then.
 */
#ifndef SILO_SANDBOX_EXTRACT_H
#define SILO_SANDBOX_EXTRACT_H

#include <stdint.h>

/* What a copy leaves out, one warning line each (not one per file). */
enum sb_drop {
	SB_DROP_MODE_BITS, /* setuid, setgid, sticky: cleared */
	SB_DROP_DEVICE,	   /* character and block devices */
	SB_DROP_FIFO,
	SB_DROP_SOCKET,
	SB_DROP_HARDLINK,
	SB_DROP_N
};

struct sb_extract {
	uint64_t max_bytes;	     /* cap on stream bytes and on file bytes */
	uint64_t stream_bytes;	     /* out: read from the stream */
	uint64_t file_bytes;	     /* out: sizes of the files written */
	unsigned dropped[SB_DROP_N]; /* out: members left out, by kind */
};

/* Next chunk of the stream: its length with *buf set, 0 at the end, -1 on
 * error (with sb_errmsg() set). */
typedef long (*sb_read_fn)(void *arg, const void **buf);

/* Unpack into dirfd, an empty directory the caller made (its "." member
 * sets dirfd's mode). Member names are relative to it: "./a/b" and "a/b"
 * are the same; absolute names and ".." are refused. */
int sb_extract_tar(int dirfd, sb_read_fn rd, void *arg, struct sb_extract *x);

/* 0 and the cleaned relative name ("" for the top itself) in out, or -1
 * for an absolute name, a ".." component or one too long. Pure. */
int sb_member_path(const char *name, char *out, size_t n);

/* One warning line on stderr per kind x->dropped counts, naming who. */
void sb_drop_warn(const struct sb_extract *x, const char *who);

/* Move dirfd/from to todir/to: a rename, or a merge when both are real
 * directories (an existing file or symlink is replaced, never written
 * through; a symlinked directory in todir is not entered). */
int sb_tree_move(int fromdir, const char *from, int todir, const char *to);

/* Remove at/name and everything below it, never following symlinks,
 * even in directories whose mode forbids it (they are ours). */
int sb_tree_remove(int at, const char *name);

#endif
