/* util.c: error line, size/name parsing, config and exit-record formats,
 * file helpers. Everything here is pure or touches only the path it is
 * given, so tests/unit/test_cli_parse.c covers it without a VM. */
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char errbuf[1024];

const char *sb_errmsg(void)
{
        return errbuf;
}

int sb_fail(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
        va_end(ap);
        /* one line, always: a reason copied from a log may carry a newline */
        for (char *p = errbuf; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        return -1;
}

int sb_path(char *buf, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, SB_PATH_MAX, fmt, ap);
        va_end(ap);
        if (n < 0 || n >= SB_PATH_MAX)
                return sb_fail("path too long");
        return 0;
}

int sb_parse_size(const char *s, uint64_t *out)
{
        if (!s || !isdigit((unsigned char)s[0]))
                return sb_fail("invalid size '%s': use a number with K, M, G or T (e.g. 512M, 8G)",
                               s ? s : "");
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned shift = 0;
        switch (toupper((unsigned char)*end)) {
        case 'K': shift = 10; end++; break;
        case 'M': shift = 20; end++; break;
        case 'G': shift = 30; end++; break;
        case 'T': shift = 40; end++; break;
        default: break;
        }
        /* accept "G", "GB" and "GiB": all binary, as the disk and RAM are */
        if (shift && (!strcmp(end, "iB") || !strcmp(end, "ib")))
                end += 2;
        else if (shift && (*end == 'B' || *end == 'b'))
                end++;
        if (errno || *end || v == 0 || (shift && v > (UINT64_MAX >> shift)))
                return sb_fail("invalid size '%s': use a number with K, M, G or T (e.g. 512M, 8G)", s);
        *out = (uint64_t)v << shift;
        return 0;
}

const char *sb_format_size(uint64_t b, char *buf, size_t n)
{
        static const char units[] = "TGMK";
        for (int i = 0; i < 4; i++) {
                unsigned shift = 40 - 10 * i;
                if (b && b % (1ull << shift) == 0) {
                        snprintf(buf, n, "%llu%c", (unsigned long long)(b >> shift), units[i]);
                        return buf;
                }
        }
        snprintf(buf, n, "%llu", (unsigned long long)b);
        return buf;
}

bool sb_name_valid(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > SB_NAME_MAX || !isalnum((unsigned char)name[0]))
                return false;
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char)name[i];
                if (!isalnum(c) && c != '_' && c != '.' && c != '-')
                        return false;
        }
        return true;
}

void sb_config_init(struct sb_config *c)
{
        memset(c, 0, sizeof(*c));
        c->cpus = 1;
        c->memory = 1ull << 30;
        c->disk = 8ull << 30;
}

void sb_config_free(struct sb_config *c)
{
        for (unsigned i = 0; i < c->nenv; i++)
                free(c->env[i]);
        c->nenv = 0;
        c->env[0] = NULL;
}

int sb_config_add_env(struct sb_config *c, const char *kv)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv || strchr(kv, '\n'))
                return sb_fail("invalid environment '%s': use -e KEY=VALUE", kv);
        if (c->nenv >= SB_ENV_MAX)
                return sb_fail("too many -e variables (at most %d)", SB_ENV_MAX);
        if (!(c->env[c->nenv] = strdup(kv)))
                return sb_fail("out of memory");
        c->env[++c->nenv] = NULL;
        return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end)
                return -1;
        *out = x;
        return 0;
}

int sb_config_parse(const char *text, struct sb_config *c)
{
        sb_config_init(c);
        const char *p = text;
        while (*p) {
                const char *nl = strchrnul(p, '\n');
                char line[SB_PATH_MAX + 64];
                size_t len = (size_t)(nl - p);
                if (len >= sizeof(line))
                        return sb_fail("config: line too long");
                memcpy(line, p, len);
                line[len] = 0;
                p = *nl ? nl + 1 : nl;
                if (!line[0] || line[0] == '#')
                        continue;
                char *v = strchr(line, '=');
                if (!v)
                        return sb_fail("config: bad line '%s'", line);
                *v++ = 0;
                uint64_t n = 0;
                int bad = 0;
                if (!strcmp(line, "name")) {
                        if (!sb_name_valid(v))
                                bad = 1;
                        else
                                snprintf(c->name, sizeof(c->name), "%s", v);
                } else if (!strcmp(line, "cpus")) {
                        bad = parse_u64(v, &n) || n < 1 || n > 32;
                        c->cpus = (unsigned)n;
                } else if (!strcmp(line, "memory")) {
                        bad = parse_u64(v, &c->memory) || c->memory < SB_MIN_MEMORY;
                } else if (!strcmp(line, "disk")) {
                        bad = parse_u64(v, &c->disk) || c->disk < SB_MIN_DISK;
                } else if (!strcmp(line, "created")) {
                        bad = parse_u64(v, &n);
                        c->created = (int64_t)n;
                } else if (!strcmp(line, "workspace")) {
                        snprintf(c->workspace, sizeof(c->workspace), "%s", v);
                } else if (!strcmp(line, "workspace_pending")) {
                        c->workspace_pending = !strcmp(v, "1");
                } else if (!strcmp(line, "docker")) {
                        bad = strcmp(v, "0") && strcmp(v, "1");
                        c->no_docker = !strcmp(v, "0");
                } else if (!strcmp(line, "wait_docker")) {
                        bad = strcmp(v, "0") && strcmp(v, "1");
                        c->wait_docker = !strcmp(v, "1");
                } else if (!strcmp(line, "env")) {
                        if (sb_config_add_env(c, v) < 0)
                                bad = 1;
                }
                if (bad) {
                        sb_config_free(c);
                        return sb_fail("config: bad value for %s: '%s'", line, v);
                }
        }
        if (!c->name[0]) {
                sb_config_free(c);
                return sb_fail("config: no name");
        }
        return 0;
}

int sb_config_format(const struct sb_config *c, FILE *f)
{
        fprintf(f, "name=%s\ncpus=%u\nmemory=%llu\ndisk=%llu\ncreated=%lld\n", c->name, c->cpus,
                (unsigned long long)c->memory, (unsigned long long)c->disk,
                (long long)c->created);
        if (c->workspace[0])
                fprintf(f, "workspace=%s\nworkspace_pending=%d\n", c->workspace,
                        c->workspace_pending);
        if (c->no_docker)   /* absent: Docker on, as configs before the flag */
                fprintf(f, "docker=0\n");
        if (c->wait_docker)
                fprintf(f, "wait_docker=1\n");
        for (unsigned i = 0; i < c->nenv; i++)
                fprintf(f, "env=%s\n", c->env[i]);
        return ferror(f) ? -1 : 0;
}

int sb_exit_parse(const char *text, struct sb_exit *x)
{
        x->code = -1;
        x->signal = 0;
        x->reason[0] = 0;
        const char *p = text;
        while (*p) {
                const char *nl = strchrnul(p, '\n');
                int len = (int)(nl - p);
                if (!strncmp(p, "code=", 5))
                        x->code = atoi(p + 5);
                else if (!strncmp(p, "signal=", 7))
                        x->signal = atoi(p + 7);
                else if (!strncmp(p, "reason=", 7))
                        snprintf(x->reason, sizeof(x->reason), "%.*s", len - 7, p + 7);
                p = *nl ? nl + 1 : nl;
        }
        if (x->code < 0 && !x->signal)
                return sb_fail("exit record: neither code nor signal");
        if (!x->reason[0]) {
                if (x->signal)
                        snprintf(x->reason, sizeof(x->reason), "killed by signal %d", x->signal);
                else
                        snprintf(x->reason, sizeof(x->reason), "exit code %d", x->code);
        }
        return 0;
}

int sb_read_file(const char *path, char **out, size_t *len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap);
        for (;;) {
                if (!buf)
                        break;
                if (n + 1 >= cap) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb, cap *= 2;
                }
                ssize_t r = read(fd, buf + n, cap - n - 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        free(buf);
                        buf = NULL;
                        break;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        int saved = errno;
        close(fd);
        if (!buf) {
                errno = saved ? saved : ENOMEM;
                return -1;
        }
        buf[n] = 0;
        *out = buf;
        if (len)
                *len = n;
        return 0;
}

/* Readers never see a half-written file: write a temporary, rename. */
int sb_write_file_atomic(const char *path, const char *data, size_t len)
{
        char tmp[SB_PATH_MAX + 16];
        snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        size_t off = 0;
        while (off < len) {
                ssize_t w = write(fd, data + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        int e = errno;
                        close(fd);
                        unlink(tmp);
                        errno = e;
                        return -1;
                }
                off += (size_t)w;
        }
        if (close(fd) < 0 || rename(tmp, path) < 0) {
                int e = errno;
                unlink(tmp);
                errno = e;
                return -1;
        }
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st, (void)ftw;
        int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
        return (r < 0 && errno != ENOENT) ? -1 : 0;
}

int sb_rmtree(const char *path)
{
        if (!sb_exists(path))
                return 0;
        return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

bool sb_exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}
