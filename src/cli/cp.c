/* cp.c: silo cp SRC DST, with NAME:/path on exactly one side.
 *
 * Like docker cp: a directory is copied as a tree, a file as a file; if DST
 * is an existing directory the copy goes inside it under SRC's name, else
 * it becomes DST. Trees and files travel as tar streams made by the host's
 * and the guest's tar (modes, symlinks, empty dirs survive). Into the
 * sandbox, files are owned by the agent user (uid 1000), who works there;
 * out of it, by whoever runs silo cp.
 */
#include "cli/cli.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* "NAME:/path" -> name + path; a local path with a ':' after a '/' or
 * starting with '.' or '/' stays local. */
static bool split_remote(const char *arg, char *name, const char **path)
{
        const char *colon = strchr(arg, ':');
        if (!colon || colon == arg || (size_t)(colon - arg) > SB_NAME_MAX ||
            memchr(arg, '/', (size_t)(colon - arg)))
                return false;
        snprintf(name, SB_NAME_MAX + 1, "%.*s", (int)(colon - arg), arg);
        *path = colon[1] ? colon + 1 : "/workspace";
        return true;
}

/* dirname/basename into separate buffers (libgen's may return a pointer
 * into their argument, which must not be both source and destination). */
static void split_path(const char *path, char *dir, char *base)
{
        char a[SB_PATH_MAX], b[SB_PATH_MAX];
        snprintf(a, sizeof(a), "%s", path);
        snprintf(b, sizeof(b), "%s", path);
        if (dir)
                snprintf(dir, SB_PATH_MAX, "%s", dirname(a));
        if (base)
                snprintf(base, SB_PATH_MAX, "%s", basename(b));
}

/* tar with one end of a pipe as its stdin or stdout; returns its pid. */
static int spawn_tar(char *const argv[], int fd, int target)
{
        int pid = fork();
        if (pid == 0) {
                dup2(fd, target);
                execvp("tar", argv);
                _exit(127);
        }
        return pid;
}

static int wait_ok(int pid)
{
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* sed replacement text: '\', '&' and the '|' delimiter are special */
static void sed_escape(const char *s, char *out, size_t n)
{
        size_t j = 0;
        for (; *s && j + 3 < n; s++) {
                if (*s == '\\' || *s == '&' || *s == '|')
                        out[j++] = '\\';
                out[j++] = *s;
        }
        out[j] = 0;
}

static int copy_in(const struct sandbox *sb, const char *src, const char *dst)
{
        struct stat st;
        if (stat(src, &st) < 0)
                return cli_failf("%s: %s", src, strerror(errno));
        char srcdir[SB_PATH_MAX], srcbase[SB_PATH_MAX], dest[SB_PATH_MAX], destdir[SB_PATH_MAX];
        split_path(src, srcdir, srcbase);
        struct agent_stat as;
        struct agent_err e;
        bool into = agent_stat(sb->addr, dst, true, &as, &e) == 0 && S_ISDIR(as.st.mode);
        if (into ? sb_path(dest, "%s/%s", dst, srcbase) : sb_path(dest, "%s", dst))
                return cli_fail();
        char *argv[16];
        int n = 0;
        char xform[SB_PATH_MAX * 3], esc[SB_PATH_MAX * 2];
        argv[n++] = "tar";
        argv[n++] = "-c";
        argv[n++] = "-f";
        argv[n++] = "-";
        argv[n++] = "--owner=1000";
        argv[n++] = "--group=1000";
        argv[n++] = "--numeric-owner";
        argv[n++] = "-C";
        if (S_ISDIR(st.st_mode)) {
                /* the tree's contents, extracted into dest (created) */
                argv[n++] = (char *)src;
                argv[n++] = ".";
                snprintf(destdir, sizeof(destdir), "%s", dest);
        } else {
                /* one member, renamed to dest's base name */
                char destbase[SB_PATH_MAX];
                split_path(dest, destdir, destbase);
                sed_escape(destbase, esc, sizeof(esc));
                snprintf(xform, sizeof(xform), "--transform=s|^.*$|%s|", esc);
                argv[n++] = srcdir;
                argv[n++] = xform;
                argv[n++] = srcbase;
        }
        argv[n] = NULL;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cli_failf("pipe: %s", strerror(errno));
        int pid = spawn_tar(argv, p[1], 1);
        close(p[1]);
        int r = pid < 0 ? -1 : agent_put_tar(sb->addr, destdir, p[0], &e);
        close(p[0]);
        int t = pid < 0 ? -1 : wait_ok(pid);
        if (r < 0)
                return cli_failf("%s:%s: %s", sb->name, dst, e.msg);
        if (t < 0)
                return cli_failf("cannot read %s (tar failed)", src);
        return 0;
}

static int copy_out(const struct sandbox *sb, const char *src, const char *dst)
{
        struct agent_stat as;
        struct agent_err e;
        if (agent_stat(sb->addr, src, true, &as, &e) < 0)
                return cli_failf("%s:%s: %s", sb->name, src, e.msg);
        char base[SB_PATH_MAX], target[SB_PATH_MAX], parent[SB_PATH_MAX], tmp[SB_PATH_MAX + 32];
        split_path(src, NULL, base);
        struct stat st;
        bool into = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
        if (into ? sb_path(target, "%s/%s", dst, base) : sb_path(target, "%s", dst))
                return cli_fail();
        split_path(target, parent, NULL);
        if (!S_ISDIR(as.st.mode)) {
                /* a file: through a temporary, so a failure leaves no stub */
                snprintf(tmp, sizeof(tmp), "%s/.silo-cp-%d", parent, (int)getpid());
                int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0)
                        return cli_failf("%s: %s", parent, strerror(errno));
                uint32_t mode = 0644;
                int r = agent_get_file(sb->addr, src, fd, &mode, &e), er = 0;
                if (r == 0 && fchmod(fd, mode & 0777) < 0)
                        er = errno;
                if (close(fd) < 0 && r == 0 && !er)
                        er = errno;
                if (r == 0 && !er && rename(tmp, target) < 0)
                        er = errno;
                if (r < 0 || er) {
                        unlink(tmp);
                        if (r < 0)
                                return cli_failf("%s:%s: %s", sb->name, src, e.msg);
                        return cli_failf("%s: %s", target, strerror(er));
                }
                return 0;
        }
        /* a tree: extract into a temporary dir next to the target, then
         * rename into place (or straight into an existing directory) */
        const char *xdir = into ? dst : NULL;
        if (!into) {
                snprintf(tmp, sizeof(tmp), "%s/.silo-cp-XXXXXX", parent);
                if (!mkdtemp(tmp))
                        return cli_failf("%s: %s", parent, strerror(errno));
                xdir = tmp;
        }
        char *argv[] = { "tar", "-x", "--no-same-owner", "-f", "-", "-C", (char *)xdir, NULL };
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cli_failf("pipe: %s", strerror(errno));
        int pid = spawn_tar(argv, p[0], 0);
        close(p[0]);
        int r = pid < 0 ? -1 : agent_get_tar(sb->addr, src, p[1], &e);
        close(p[1]);
        int t = pid < 0 ? -1 : wait_ok(pid);
        int rc = 0;
        if (r < 0)
                rc = cli_failf("%s:%s: %s", sb->name, src, e.msg);
        else if (t < 0)
                rc = cli_failf("cannot write %s (tar failed)", xdir);
        if (!into) {
                char from[SB_PATH_MAX];
                if (rc == 0 && sb_path(from, "%s/%s", tmp, base) < 0)
                        rc = cli_fail();
                if (rc == 0 && rename(from, target) < 0)
                        rc = cli_failf("%s: %s", target, strerror(errno));
                sb_rmtree(tmp);
        }
        return rc;
}

int cmd_cp(struct cli *c, int argc, char **argv)
{
        if (argc != 3)
                return cli_failf("usage: silo cp SRC DST (NAME:/path on one side)");
        char sname[SB_NAME_MAX + 1], dname[SB_NAME_MAX + 1];
        const char *spath, *dpath;
        bool sr = split_remote(argv[1], sname, &spath), dr = split_remote(argv[2], dname, &dpath);
        if (sr == dr)
                return cli_failf("cp: exactly one of SRC and DST must be NAME:/path");
        struct sandbox sb;
        if (cli_open_running(c, &sb, sr ? sname : dname) < 0)
                return cli_fail();
        int rc = sr ? copy_out(&sb, spath, argv[2]) : copy_in(&sb, argv[1], dpath);
        sb_close(&sb);
        return rc;
}
