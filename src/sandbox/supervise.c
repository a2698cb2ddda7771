/* supervise.c: "silo _supervise", the detached parent of one silo-vmm
 * (the role conmon plays for podman). It exists so that somebody waits for
 * silo-vmm: its exit status, including death by a signal (kill -9, OOM),
 * becomes the sandbox's exit record, and the sockets it leaves are removed.
 *
 *   silo _supervise RUNDIR -- VMM [ARGS]...
 *
 * Started detached (setsid, stdin /dev/null, stdout/stderr appended to the
 * console log) by sb_start; silo-vmm inherits that stdout/stderr, so its
 * one-line exit reason lands in the console log, where we read it back.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t vmm_pid;

/* SIGTERM to us means "stop the VM": silo-vmm exits 9 on SIGTERM. */
static void forward(int sig)
{
        if (vmm_pid > 0)
                kill(vmm_pid, sig);
}

static void write_pid(const char *rundir, const char *file, int pid)
{
        char f[SB_PATH_MAX], buf[32];
        int n = snprintf(buf, sizeof(buf), "%d\n", pid);
        if (sb_path(f, "%s/%s", rundir, file) == 0)
                sb_write_file_atomic(f, buf, (size_t)n);
}

/* silo-vmm's last words: the last "silo-vmm: " line of the console log
 * (its stderr), e.g. "silo-vmm: guest reset (i8042) (exit 0)". */
static void last_vmm_line(char *out, size_t n)
{
        out[0] = 0;
        off_t end = lseek(STDERR_FILENO, 0, SEEK_END);
        if (end <= 0)
                return;
        off_t start = end > 16384 ? end - 16384 : 0;
        char buf[16385];
        ssize_t r = pread(STDERR_FILENO, buf, (size_t)(end - start), start);
        if (r <= 0)
                return;
        buf[r] = 0;
        char *best = NULL;
        for (char *p = buf; (p = strstr(p, "silo-vmm: ")); p++)
                if (p == buf || p[-1] == '\n')
                        best = p;
        if (best) {
                best += strlen("silo-vmm: ");
        } else {
                /* it never got to say (e.g. the loader failed): the last
                 * non-empty line is the best clue */
                char *e = buf + r;
                while (e > buf && (e[-1] == '\n' || e[-1] == '\r'))
                        *--e = 0;
                best = strrchr(buf, '\n');
                best = best ? best + 1 : buf;
        }
        snprintf(out, n, "%.*s", (int)strcspn(best, "\r\n"), best);
}

void sb_supervise_main(int argc, char **argv)
{
        if (argc < 3 || strcmp(argv[1], "--"))
                _exit(125);
        const char *rundir = argv[0];
        char **vmm_argv = argv + 2;

        struct sigaction sa = { .sa_handler = forward };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        write_pid(rundir, "supervisor.pid", getpid());

        int pid = fork();
        if (pid < 0)
                _exit(125);
        if (pid == 0) {
                signal(SIGHUP, SIG_DFL);
                signal(SIGPIPE, SIG_DFL);
                execv(vmm_argv[0], vmm_argv);
                dprintf(STDERR_FILENO, "silo-vmm: cannot execute %s: %s (exit 127)\n",
                        vmm_argv[0], strerror(errno));
                _exit(127);
        }
        vmm_pid = pid;
        write_pid(rundir, "vmm.pid", pid);

        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        vmm_pid = 0;

        char line[200], rec[512], f[SB_PATH_MAX];
        int code = -1, sig = 0;
        if (WIFSIGNALED(status)) {
                sig = WTERMSIG(status);
                snprintf(line, sizeof(line), "killed by signal %d", sig);
                dprintf(STDERR_FILENO, "silo: silo-vmm %s\n", line);
        } else {
                code = WEXITSTATUS(status);
                last_vmm_line(line, sizeof(line));
                if (!line[0])
                        snprintf(line, sizeof(line), "exit code %d", code);
        }
        /* Sockets first: a live exit record means nothing is listening. */
        if (sb_path(f, "%s/vsock.sock", rundir) == 0)
                unlink(f);
        glob_t g;
        char pat[SB_PATH_MAX + 8];
        snprintf(pat, sizeof(pat), "%s/vsock.sock_*", rundir);
        if (glob(pat, 0, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++)
                        unlink(g.gl_pathv[i]);
        globfree(&g);
        if (sb_path(f, "%s/control.sock", rundir) == 0)
                unlink(f);
        int n = snprintf(rec, sizeof(rec), "code=%d\nsignal=%d\nreason=%s\n", code, sig, line);
        if (sb_path(f, "%s/exit", rundir) == 0)
                sb_write_file_atomic(f, rec, (size_t)n);
        if (sb_path(f, "%s/vmm.pid", rundir) == 0)
                unlink(f);
        if (sb_path(f, "%s/supervisor.pid", rundir) == 0)
                unlink(f);
        _exit(0);
}
