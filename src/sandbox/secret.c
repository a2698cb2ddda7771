/* secret.c: secrets at egress, the host's side (docs/secrets.md).
 *
 * A secret is a value (an API key) and where it goes: the hosts whose
 * HTTPS requests get it, the header it goes in and the header's format.
 * It is kept in <data>/secrets/NAME (0600, in a 0700 directory), a few
 * "KEY VALUE" lines, and never enters a sandbox: at each start the
 * secrets are handed to the sandbox's silo-netd on a sealed memfd
 * (sb_secrets_netd), which adds them to the requests as they leave. The
 * guest gets the CA that vouches for our side of those connections and,
 * in the variable the agent reads its key from, a placeholder.
 */
#include "sandbox/sandbox.h"

#include "net/http1.h"
#include "net/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Where the CA goes in the guest: Debian's place for local CAs, and in
 * the bundle OpenSSL, curl, Python and Go read, between markers so that
 * the next start's CA replaces this one's. Node reads no system store:
 * NODE_EXTRA_CA_CERTS (sb_exec_env) points it at the file. */
#define GUEST_CA "/usr/local/share/ca-certificates/silo-egress.crt"

/* The coding agents' APIs (issue 24): which host, which header. */
static const struct sb_secret presets[] = {
	{ .name = "anthropic",
	  .hosts = { "api.anthropic.com" },
	  .nhosts = 1,
	  .header = "x-api-key",
	  .format = "{}",
	  .env = "ANTHROPIC_API_KEY" },
	{ .name = "openai",
	  .hosts = { "api.openai.com" },
	  .nhosts = 1,
	  .header = "authorization",
	  .format = "Bearer {}",
	  .env = "OPENAI_API_KEY" },
	{ .name = "gemini",
	  .hosts = { "generativelanguage.googleapis.com" },
	  .nhosts = 1,
	  .header = "x-goog-api-key",
	  .format = "{}",
	  .env = "GEMINI_API_KEY" },
};

int sb_secret_preset(const char *name, struct sb_secret *s)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, name)) {
			*s = presets[i];
			return 0;
		}
	return -1;
}

static int secrets_dir(const struct sb_paths *p, char *d, bool create)
{
	if (sb_path(d, "%s/secrets", p->data) < 0)
		return -1;
	if (create && sb_mkdir_p(d, 0700) < 0)
		return sb_fail("cannot create %s: %s", d, strerror(errno));
	return sb_dir_private(d, "secrets directory", p->data_hint, false);
}

/* The value with the format's {} replaced by it, into out. */
static int apply_format(const char *format, const char *value, char *out, size_t n)
{
	const char *at = strstr(format, "{}");
	if (!at || strstr(at + 2, "{}"))
		return sb_fail("invalid --format '%s': it must hold {} once, where the value goes",
			       format);
	int k = snprintf(out, n, "%.*s%s%s", (int)(at - format), format, value, at + 2);
	if (k < 0 || (size_t)k >= n)
		return sb_fail("the secret is too long (at most %u bytes with its format)",
			       HTTP1_VALUE_MAX);
	return 0;
}

/* Everything about s but the value, as `silo secret set` must refuse it. */
static int check(const struct sb_secret *s)
{
	char norm[NET_NAME_MAX + 1], probe[HTTP1_VALUE_MAX + 1];
	struct http1_framer f;
	const char *why = NULL;

	if (!sb_name_valid(s->name))
		return sb_fail("invalid secret name '%s': use letters, digits, '_', '.', '-'",
			       s->name);
	if (!s->nhosts)
		return sb_fail("secret %s: which host is it for? (--host NAME; built in: "
			       "anthropic, openai, gemini)",
			       s->name);
	for (unsigned i = 0; i < s->nhosts; i++)
		if (net_name_normalize(s->hosts[i], strlen(s->hosts[i]), norm, &why) != NET_NAME_OK)
			return sb_fail("invalid --host '%s': %s", s->hosts[i],
				       why ? why : "not a host name");
	if (apply_format(s->format, "x", probe, sizeof(probe)) < 0)
		return -1;
	if (http1_init(&f, s->header, probe) < 0)
		return sb_fail("invalid --header '%s': a field name, not one that frames the "
			       "request (Host, Content-Length, ...); or a --format with control "
			       "bytes",
			       s->header);
	for (const char *c = s->env; *c; c++)
		if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (c > s->env && *c >= '0' && *c <= '9')))
			return sb_fail("invalid --env '%s': a variable name", s->env);
	return 0;
}

int sb_secret_set(const struct sb_paths *p, const struct sb_secret *s, const char *value)
{
	char d[SB_PATH_MAX], f[SB_PATH_MAX], full[HTTP1_VALUE_MAX + 1];
	struct sb_secret n = *s;
	const char *why;

	if (check(s) < 0)
		return -1;
	/* stored as silo-netd matches them: normalised, each once */
	n.nhosts = 0;
	for (unsigned i = 0; i < s->nhosts; i++) {
		char h[NET_NAME_MAX + 1];
		bool dup = false;
		net_name_normalize(s->hosts[i], strlen(s->hosts[i]), h, &why);
		for (unsigned k = 0; k < n.nhosts; k++)
			dup |= !strcmp(n.hosts[k], h);
		if (!dup)
			snprintf(n.hosts[n.nhosts++], sizeof(n.hosts[0]), "%s", h);
	}
	size_t len = strlen(value);
	/* printable, no spaces: an API key; a header value cannot hold a
	 * line break, and the file is one line per key */
	for (size_t i = 0; i < len; i++)
		if (value[i] <= ' ' || value[i] == 0x7f)
			return sb_fail("the secret's value holds a space or a control byte: give "
				       "the key alone (stdin, one line)");
	if (!len)
		return sb_fail("no value: give the secret on stdin (one line)");
	if (apply_format(n.format, value, full, sizeof(full)) < 0)
		return -1;
	explicit_bzero(full, sizeof(full));
	if (secrets_dir(p, d, true) < 0 || sb_path(f, "%s/%s", d, n.name) < 0)
		return -1;
	size_t cap = 1024 + len + 300 * n.nhosts, used = 0;
	char *text = malloc(cap);
	if (!text)
		return sb_fail("out of memory");
	used += (size_t)snprintf(text, cap, "# a silo secret (docs/secrets.md)\n");
	for (unsigned i = 0; i < n.nhosts; i++)
		used += (size_t)snprintf(text + used, cap - used, "host %s\n", n.hosts[i]);
	used += (size_t)snprintf(text + used, cap - used, "header %s\nformat %s\n", n.header,
				 n.format);
	if (n.env[0])
		used += (size_t)snprintf(text + used, cap - used, "env %s\n", n.env);
	used += (size_t)snprintf(text + used, cap - used, "value %s\n", value);
	int r = sb_write_file_atomic(f, text, used);
	explicit_bzero(text, cap);
	free(text);
	return r < 0 ? sb_fail("cannot write %s: %s", f, strerror(errno)) : 0;
}

int sb_secret_load(const struct sb_paths *p, const char *name, struct sb_secret *s, char **value)
{
	char d[SB_PATH_MAX], f[SB_PATH_MAX], line[HTTP1_VALUE_MAX + 64];
	if (value)
		*value = NULL;
	memset(s, 0, sizeof(*s));
	if (!sb_name_valid(name))
		return sb_fail("invalid secret name '%s'", name);
	if (secrets_dir(p, d, false) < 0 || sb_path(f, "%s/%s", d, name) < 0)
		return -1;
	FILE *fp = fopen(f, "re");
	if (!fp)
		return sb_fail(errno == ENOENT ? "no secret %s (silo secret ls)" : "secret %s: %s",
			       name, strerror(errno));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->format, sizeof(s->format), "{}");
	bool ok = true;
	while (ok && fgets(line, sizeof(line), fp)) {
		char *v = strchr(line, ' ');
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#' || !line[0])
			continue;
		if (!v) {
			ok = false;
			break;
		}
		*v++ = 0;
		if (!strcmp(line, "host") && s->nhosts < SB_SECRET_HOSTS)
			snprintf(s->hosts[s->nhosts++], sizeof(s->hosts[0]), "%s", v);
		else if (!strcmp(line, "header"))
			snprintf(s->header, sizeof(s->header), "%s", v);
		else if (!strcmp(line, "format"))
			snprintf(s->format, sizeof(s->format), "%s", v);
		else if (!strcmp(line, "env"))
			snprintf(s->env, sizeof(s->env), "%s", v);
		else if (!strcmp(line, "value") && value && !*value)
			ok = (*value = strdup(v)) != NULL;
		else if (strcmp(line, "value"))
			ok = false;
	}
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	if (!ok || check(s) < 0 || (value && !*value)) {
		if (value && *value) {
			explicit_bzero(*value, strlen(*value));
			free(*value);
			*value = NULL;
		}
		return sb_fail("secret %s: %s is damaged: set it again (silo secret set %s)", name,
			       f, name);
	}
	return 0;
}

int sb_secret_list(const struct sb_paths *p, char ***names, size_t *n)
{
	char d[SB_PATH_MAX];
	*names = NULL;
	*n = 0;
	if (secrets_dir(p, d, false) < 0)
		return -1;
	return sb_dir_names(d, names, n);
}

int sb_secret_remove(const struct sb_paths *p, const char *name)
{
	char d[SB_PATH_MAX], f[SB_PATH_MAX];
	if (!sb_name_valid(name))
		return sb_fail("invalid secret name '%s'", name);
	if (secrets_dir(p, d, false) < 0 || sb_path(f, "%s/%s", d, name) < 0)
		return -1;
	if (unlink(f) < 0)
		return sb_fail(errno == ENOENT ? "no secret %s (silo secret ls)" : "secret %s: %s",
			       name, strerror(errno));
	return 0;
}

/* One line per host, "NAME<TAB>HOST<TAB>HEADER<TAB>VALUE" (silo-netd
 * --secrets-fd), appended to the memfd; the guest's placeholder line to
 * env. */
static int netd_lines(int fd, const struct sb_secret *s, const char *value, FILE *env)
{
	char full[HTTP1_VALUE_MAX + 1];
	int r = 0;
	if (apply_format(s->format, value, full, sizeof(full)) < 0)
		return -1;
	for (unsigned i = 0; i < s->nhosts && r == 0; i++)
		if (dprintf(fd, "%s\t%s\t%s\t%s\n", s->name, s->hosts[i], s->header, full) < 0)
			r = sb_fail("secrets: %s", strerror(errno));
	explicit_bzero(full, sizeof(full));
	/* what the agent reads its key from: present, so it starts, and
	 * worthless, so that reading it gives nothing away */
	if (s->env[0])
		fprintf(env, "%s=silo-secret-%s\n", s->env, s->name);
	return r;
}

int sb_secrets_netd(const struct sb_paths *p, int *fd, char **env)
{
	char **names;
	size_t n, envlen = 0;
	*fd = -1;
	*env = NULL;
	if (sb_secret_list(p, &names, &n) < 0)
		return -1;
	if (!n)
		return 0;
	FILE *ef = open_memstream(env, &envlen);
	int m = memfd_create("silo-secrets", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int r = ef && m >= 0 ? 0 : sb_fail("secrets: %s", strerror(errno));
	if (ef)
		fprintf(ef, "NODE_EXTRA_CA_CERTS=%s\n", GUEST_CA);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct sb_secret s;
		char *value;
		if ((r = sb_secret_load(p, names[i], &s, &value)) < 0)
			break;
		r = netd_lines(m, &s, value, ef);
		explicit_bzero(value, strlen(value));
		free(value);
	}
	sb_names_free(names, n);
	if (ef)
		fclose(ef);
	/* read from the start, and nobody changes it after us */
	if (r == 0 &&
	    (lseek(m, 0, SEEK_SET) < 0 ||
	     fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0))
		r = sb_fail("secrets: %s", strerror(errno));
	if (r < 0) {
		if (m >= 0)
			close(m);
		free(*env);
		*env = NULL;
		return -1;
	}
	*fd = m;
	return 0;
}

int sb_secrets_guest(const struct sandbox *sb)
{
	char f[SB_PATH_MAX], pem[8192], *script = NULL, *out = NULL;
	if (sb_path(f, "%s/%s", sb->rundir, SB_EGRESS_CA) < 0)
		return -1;
	FILE *fp = fopen(f, "re");
	size_t n = fp ? fread(pem, 1, sizeof(pem) - 1, fp) : 0;
	if (fp)
		fclose(fp);
	pem[n] = 0;
	/* silo-netd wrote it before it said ready: base64 and dashes only */
	if (!n || n == sizeof(pem) - 1 ||
	    strspn(pem, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=- \n") !=
		    n)
		return sb_fail("sandbox %s: %s is missing or not a certificate", sb->name, f);
	if (asprintf(
		    &script,
		    "set -e; umask 022; mkdir -p %s; d=" GUEST_CA "\n"
		    "cat > \"$d\" <<'SILO_EGRESS_CA'\n%sSILO_EGRESS_CA\n"
		    "b=/etc/ssl/certs/ca-certificates.crt\n"
		    "if [ -f \"$b\" ]; then\n"
		    "  sed -i '/^# silo-egress begin$/,/^# silo-egress end$/d' \"$b\"\n"
		    "  { echo '# silo-egress begin'; cat \"$d\"; echo '# silo-egress end'; } >> \"$b\"\n"
		    "fi\n",
		    "/usr/local/share/ca-certificates", pem) < 0)
		return sb_fail("out of memory");
	int rc = sb_guest_sh(sb, script, &out, NULL);
	free(script);
	free(out);
	return rc == 0 ? 0 : -1;
}

/* s appended to *env (NULL-terminated, grown as needed): 0, or -1. */
static int env_add(char ***env, size_t *n, const char *s)
{
	char **v = realloc(*env, (*n + 2) * sizeof(char *));
	if (!v)
		return -1;
	*env = v;
	if (!(v[*n] = strdup(s)))
		return -1;
	v[++*n] = NULL;
	return 0;
}

int sb_exec_env(const struct sandbox *sb, const char *const *extra, char ***out)
{
	char f[SB_PATH_MAX], line[512];
	size_t n = 0;
	int r = 0;

	*out = NULL;
	FILE *fp = sb_path(f, "%s/%s", sb->rundir, SB_SECRET_ENV) == 0 ? fopen(f, "re") : NULL;
	while (fp && r == 0 && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = 0;
		if (strchr(line, '='))
			r = env_add(out, &n, line);
	}
	if (fp)
		fclose(fp);
	for (unsigned i = 0; r == 0 && i < sb->cfg.nenv; i++)
		r = env_add(out, &n, sb->cfg.env[i]);
	for (const char *const *e = extra; r == 0 && e && *e; e++)
		r = env_add(out, &n, *e);
	/* nothing at all: still an empty list, not NULL */
	if (r == 0 && !*out && !(*out = calloc(1, sizeof(char *))))
		r = -1;
	if (r < 0) {
		sb_env_free(*out);
		*out = NULL;
		return sb_fail("out of memory");
	}
	return 0;
}

void sb_env_free(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}
