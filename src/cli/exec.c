/* exec.c: silo exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] NAME -- CMD...
 * and the exec machinery silo run shares: signal forwarding, raw terminal,
 * Docker-style exit status. */
#include "cli/cli.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
        unsigned char ch = (unsigned char)sig;
        int saved = errno;
        /* a full pipe drops the signal, as the kernel coalesces them */
        if (write(sig_pipe[1], &ch, 1) < 0)
                errno = saved;
        errno = saved;
}

int cli_exec(const struct sandbox *sb, const struct cli_exec_req *r)
{
        struct aclient_exec_opts o = { .argv = r->argv, .env = r->env, .cwd = r->cwd,
                                     .user = r->user, .tty = r->tty, .in_fd = r->stdin ? 0 : -1,
                                     .out_fd = 1, .err_fd = 2, .tty_fd = -1 };
        if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return cli_failf("pipe: %s", strerror(errno));
        o.sig_fd = sig_pipe[0];
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        /* With a remote tty ^C is a byte for the guest's line discipline;
         * these are signals sent to us, forwarded to the command. */
        static const int fwd[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
        for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
                sigaction(fwd[i], &sa, NULL);
        struct termios saved;
        bool raw = false;
        if (o.tty) {
                struct winsize ws;
                o.tty_fd = isatty(0) ? 0 : isatty(1) ? 1 : -1;
                if (o.tty_fd >= 0 && ioctl(o.tty_fd, TIOCGWINSZ, &ws) == 0)
                        o.rows = ws.ws_row, o.cols = ws.ws_col;
                if (r->stdin && isatty(0) && tcgetattr(0, &saved) == 0) {
                        struct termios t = saved;
                        cfmakeraw(&t);
                        raw = tcsetattr(0, TCSADRAIN, &t) == 0;
                }
        }
        struct aclient_err err = { 0 };
        struct proto_exit x;
        int rc = aclient_exec(sb->addr, &o, &x, &err);
        if (raw)
                tcsetattr(0, TCSADRAIN, &saved);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        if (rc < 0) {
                cli_failf("%s", err.msg);       /* the agent's text: escaped */
                if (err.remote && err.code == ENOENT)
                        return 127;
                return err.remote ? 126 : EXIT_OWN;
        }
        if (x.flags & EXIT_F_SIGNALED)
                return 128 + (x.code & 0x7f);
        return x.code & 0xff;
}

int cmd_exec(struct cli *c, int argc, char **argv)
{
        bool in = false, tty = false;
        const char *cwd = "/workspace", *user = "agent";
        const char *env[SB_ENV_MAX * 2 + 2];
        size_t nenv = 0;
        int ch;
        optind = 1;
        opterr = 0;
        while ((ch = getopt(argc, argv, "+ite:w:u:")) != -1) {
                switch (ch) {
                case 'i': in = true; break;
                case 't': tty = true; break;
                case 'w': cwd = optarg; break;
                case 'u': user = optarg; break;
                case 'e':
                        if (!strchr(optarg, '=') || optarg[0] == '=' || nenv >= SB_ENV_MAX)
                                return cli_failf("invalid -e '%s': use KEY=VALUE", optarg);
                        env[SB_ENV_MAX + nenv++] = optarg;
                        break;
                default:
                        return cli_failf("usage: silo exec [-i] [-t] [-e K=V]... [-w DIR] "
                                         "[-u USER] NAME -- CMD...");
                }
        }
        if (optind + 1 >= argc)
                return cli_failf("usage: silo exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] "
                                 "NAME -- CMD...");
        const char *name = argv[optind++];
        if (!strcmp(argv[optind], "--"))
                optind++;
        if (optind >= argc)
                return cli_failf("exec: no command given");
        struct sandbox sb;
        if (cli_open_running(c, &sb, name) < 0)
                return cli_fail();
        /* sandbox-wide -e first, then this exec's: later ones win */
        const char *all[SB_ENV_MAX * 2 + 1];
        size_t n = 0;
        for (unsigned i = 0; i < sb.cfg.nenv; i++)
                all[n++] = sb.cfg.env[i];
        for (size_t i = 0; i < nenv; i++)
                all[n++] = env[SB_ENV_MAX + i];
        all[n] = NULL;
        struct cli_exec_req r = { .argv = (const char *const *)argv + optind, .env = all,
                                  .cwd = cwd, .user = user, .tty = tty, .stdin = in };
        int rc = cli_exec(&sb, &r);
        sb_close(&sb);
        return rc;
}
