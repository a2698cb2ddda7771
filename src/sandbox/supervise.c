/* supervise.c: "silo _supervise", the detached parent of one silo-vmm
 * (the role conmon plays for podman). It exists so that somebody waits for
 * silo-vmm: its exit status, including death by a signal (kill -9, OOM),
 * becomes the sandbox's exit record, and the sockets it leaves are removed.
 *
 *   silo _supervise RUNDIR [--fsize BYTES] -- VMM [ARGS]...
 *
 * Started detached (setsid, stdin /dev/null, stdout/stderr appended to the
 * console log) by sb_start. silo-vmm reports its exit reason on a pipe of
 * its own (--exit-fd), never through the console log: the guest writes
 * that file too, and could otherwise forge the reason `silo ls` shows.
 * --fsize caps every file silo-vmm writes (RLIMIT_FSIZE, SIGXFSZ ignored so
 * an overrun is a failed write, not a killed VM): a backstop behind
 * silo-vmm's own console cap.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* The fd silo-vmm gets for its exit reason (--exit-fd). */
#define EXIT_FD 3

/* silo-vmm's last words from its exit pipe, e.g. "guest reset (i8042)
 * (exit 0)": one line, at most n - 1 bytes; "" if it said nothing. */
static void read_reason(int fd, char *out, size_t n)
{
        size_t len = 0;
        out[0] = 0;
        while (len + 1 < n) {
                ssize_t r = read(fd, out + len, n - 1 - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                len += (size_t)r;
        }
        out[len] = 0;
        out[strcspn(out, "\r\n")] = 0;        /* the record is key=value lines */
}

static void exec_vmm(char **vmm_argv, int argc, int exit_w, unsigned long long fsize)
{
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        /* ignored survives exec: past the limit, write() fails with EFBIG */
        signal(SIGXFSZ, SIG_IGN);
        if (fsize) {
                struct rlimit rl = { fsize, fsize };
                if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
                        goto fail;
        }
        if (exit_w != EXIT_FD && dup2(exit_w, EXIT_FD) < 0)
                goto fail;
        if (exit_w == EXIT_FD && fcntl(EXIT_FD, F_SETFD, 0) < 0)
                goto fail;
        char **argv = calloc((size_t)argc + 3, sizeof(*argv));
        if (!argv)
                goto fail;
        argv[0] = vmm_argv[0];
        argv[1] = "--exit-fd";
        argv[2] = "3";
        _Static_assert(EXIT_FD == 3, "argv[2] spells EXIT_FD");
        for (int i = 1; i < argc; i++)
                argv[i + 2] = vmm_argv[i];
        execv(argv[0], argv);
fail:
        dprintf(EXIT_FD, "cannot execute %s: %s (exit 127)\n", vmm_argv[0], strerror(errno));
        dprintf(STDERR_FILENO, "silo-vmm: cannot execute %s: %s (exit 127)\n", vmm_argv[0],
                strerror(errno));
        _exit(127);
}

void sb_supervise_main(int argc, char **argv)
{
        const char *rundir = argc > 0 ? argv[0] : NULL;
        unsigned long long fsize = 0;
        int i = 1;
        if (i + 1 < argc && !strcmp(argv[i], "--fsize")) {
                char *end;
                errno = 0;
                fsize = strtoull(argv[i + 1], &end, 10);
                if (errno || *end || !fsize)
                        _exit(125);
                i += 2;
        }
        if (i + 1 >= argc || strcmp(argv[i], "--"))
                _exit(125);
        char **vmm_argv = argv + i + 1;
        int vmm_argc = argc - i - 1;

        struct sigaction sa = { .sa_handler = forward };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        write_pid(rundir, "supervisor.pid", getpid());

        /* Non-blocking read end: a process silo-vmm left behind holding
         * the write end must not keep us from writing the record. */
        int exit_pipe[2];
        if (pipe2(exit_pipe, O_CLOEXEC) < 0 || fcntl(exit_pipe[0], F_SETFL, O_NONBLOCK) < 0)
                _exit(125);
        int pid = fork();
        if (pid < 0)
                _exit(125);
        if (pid == 0)
                exec_vmm(vmm_argv, vmm_argc, exit_pipe[1], fsize);
        close(exit_pipe[1]);
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
                read_reason(exit_pipe[0], line, sizeof(line));
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
