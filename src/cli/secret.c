/* secret.c: silo secret set|ls|rm (docs/secrets.md).
 *
 *   silo secret set NAME [--host H]... [--header HDR] [--format F] [--env VAR]
 *   silo secret ls
 *   silo secret rm NAME...
 *
 * The value is read from stdin (one line; not echoed on a terminal), never
 * from the command line, where `ps` would show it. anthropic, openai and
 * gemini are built in: their host, header and variable are known.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SET_USAGE                                                                           \
	"usage: silo secret set NAME [--host H]... [--header HDR] [--format F] [--env VAR]" \
	"   (the value on stdin)"

/* One line from stdin into buf: without echo when stdin is a terminal. */
static int read_value(const char *name, char *buf, size_t n)
{
	struct termios old, quiet;
	bool tty = isatty(0) && tcgetattr(0, &old) == 0;
	if (tty) {
		fprintf(stderr, "value of secret %s: ", name);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	bool got = fgets(buf, (int)n, stdin) != NULL;
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return cli_failf("secret %s: no value on stdin (echo KEY | silo secret set %s)",
				 name, name);
	size_t len = strcspn(buf, "\r\n");
	if (buf[len] == 0 && len == n - 1)
		return cli_failf("secret %s: the value is longer than %zu bytes", name, n - 2);
	buf[len] = 0;
	return 0;
}

static int secret_set(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "header", required_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "env", required_argument, NULL, 'e' },
		{ 0 },
	};
	struct sb_secret s = { 0 };
	const char *header = NULL, *format = NULL, *env = NULL, *hosts[SB_SECRET_HOSTS];
	unsigned nhosts = 0;
	int o;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			if (nhosts == SB_SECRET_HOSTS)
				return cli_failf("at most %d --host", SB_SECRET_HOSTS);
			hosts[nhosts++] = optarg;
			break;
		case 'h':
			header = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'e':
			env = optarg;
			break;
		default:
			return cli_failf("%s", SET_USAGE);
		}
	}
	if (optind + 1 != argc)
		return cli_failf("%s", SET_USAGE);
	const char *name = argv[optind];
	/* a built-in's settings, which flags may change */
	if (sb_secret_preset(name, &s) < 0) {
		snprintf(s.name, sizeof(s.name), "%s", name);
		snprintf(s.header, sizeof(s.header), "authorization");
		snprintf(s.format, sizeof(s.format), "Bearer {}");
	}
	if (strlen(name) >= sizeof(s.name) || (header && strlen(header) >= sizeof(s.header)) ||
	    (format && strlen(format) >= sizeof(s.format)) || (env && strlen(env) >= sizeof(s.env)))
		return cli_failf("secret %.64s: a name, header, format or variable is too long",
				 name);
	if (nhosts) {
		s.nhosts = nhosts;
		for (unsigned i = 0; i < nhosts; i++)
			if (snprintf(s.hosts[i], sizeof(s.hosts[i]), "%s", hosts[i]) >=
			    (int)sizeof(s.hosts[i]))
				return cli_failf("invalid --host: longer than a host name can be");
	}
	if (header)
		snprintf(s.header, sizeof(s.header), "%s", header);
	if (format)
		snprintf(s.format, sizeof(s.format), "%s", format);
	if (env)
		snprintf(s.env, sizeof(s.env), "%s", env);
	char value[8194];
	int rc = read_value(name, value, sizeof(value));
	if (rc == 0 && sb_secret_set(&c->paths, &s, value) < 0)
		rc = cli_fail();
	explicit_bzero(value, sizeof(value));
	if (rc == 0)
		printf("%s\n", name);
	return rc;
}

static int secret_ls(struct cli *c, int argc)
{
	char **names;
	size_t n;
	int rc = 0;

	if (argc > 1)
		return cli_failf("usage: silo secret ls");
	if (sb_secret_list(&c->paths, &names, &n) < 0)
		return cli_fail();
	printf("%-20s %-16s %-18s %s\n", "NAME", "HEADER", "ENV", "HOSTS");
	for (size_t i = 0; i < n; i++) {
		struct sb_secret s;
		/* never the value: it is not even read */
		if (sb_secret_load(&c->paths, names[i], &s, NULL) < 0) {
			rc = cli_fail(); /* the others are still listed */
			continue;
		}
		printf("%-20s %-16s %-18s", s.name, s.header, s.env[0] ? s.env : "-");
		for (unsigned h = 0; h < s.nhosts; h++)
			printf("%s%s", h ? "," : " ", s.hosts[h]);
		printf("\n");
	}
	sb_names_free(names, n);
	return rc;
}

static int secret_rm(struct cli *c, int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
		return cli_failf("usage: silo secret rm NAME...");
	for (int i = 1; i < argc; i++) {
		if (sb_secret_remove(&c->paths, argv[i]) < 0)
			rc = cli_fail();
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

int cmd_secret(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (!strcmp(sub, "set"))
		return secret_set(c, argc - 1, argv + 1);
	if (!strcmp(sub, "ls"))
		return secret_ls(c, argc - 1);
	if (!strcmp(sub, "rm"))
		return secret_rm(c, argc - 1, argv + 1);
	return cli_failf("usage: silo secret set NAME [--host H]... [--header HDR] [--format F] "
			 "[--env VAR] | ls | rm NAME...");
}
