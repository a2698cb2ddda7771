/* template.c: silo template build|ls|rm (docs/snapshots.md "Templates").
 *
 *   silo template build [--name T] [create flags] [-- CMD...]   default name: default
 *   silo template ls
 *   silo template rm T...
 *
 * silo run|create --template T make sandboxes from one (create.c).
 */
#include "cli/cli.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUILD_USAGE                                                                       \
	"usage: silo template build [--name T] [--cpus N] [--memory SIZE] [--disk SIZE] " \
	"[--no-docker] [--agent NAME] [NETWORK] [-- CMD...]"

static int template_build(struct cli *c, int argc, char **argv)
{
	struct create_opts o;
	int first = cli_parse_create(argc, argv, &o, false), rc = EXIT_OWN;
	const char *name;

	if (first < 0)
		return EXIT_OWN;
	/* --agent: named agent-NAME unless --name says otherwise */
	if (cli_apply_agent(&o, false) < 0)
		goto out;
	name = o.name ? o.name : SB_TEMPLATE_DEFAULT;
	/* What belongs to a sandbox, not to what every clone starts from
	 * (and must hold no secrets: docs/snapshots.md). */
	const char *const *cmd = NULL;
	/* getopt took the "--" before CMD: a command only after one */
	if (first < argc && !strcmp(argv[first - 1], "--")) {
		cmd = (const char *const *)argv + first;
		first = argc;
	}
	if (first < argc || o.template || o.workspace || o.cfg.nenv || o.cfg.npublish) {
		cli_failf("%s%s", BUILD_USAGE,
			  first < argc ? ""
				       : " (give --workspace, -e and -p to 'silo run --template')");
		goto out;
	}
	cli_catch_cancel();
	cli_progress(c, false);
	if (sb_check_host(&c->paths) < 0 ||
	    sb_template_build(&c->paths, name, &o.cfg, cmd, o.agent, &c->opts) < 0) {
		cli_fail();
		goto out;
	}
	printf("%s\n", name);
	rc = 0;
out:
	sb_config_free(&o.cfg);
	return rc;
}

/* "1.2G", "310M": what du -h would say. */
static const char *human(uint64_t b, char *buf, size_t n)
{
	if (b >= (1ull << 30))
		snprintf(buf, n, "%.1fG", (double)b / (1ull << 30));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)((b + (1 << 20) - 1) >> 20));
	return buf;
}

static int template_ls(struct cli *c, int argc)
{
	char **names;
	size_t n;

	if (argc > 1)
		return cli_failf("usage: silo template ls");
	if (sb_template_list(&c->paths, &names, &n) < 0)
		return cli_fail();
	printf("%-24s %7s %7s %4s %7s %-6s %-19s %s\n", "NAME", "SIZE", "MEMORY", "CPUS", "DISK",
	       "DOCKER", "CREATED", "AGENT");
	for (size_t i = 0; i < n; i++) {
		struct sb_template t;
		char size[32], mem[32], disk[32], when[32];
		struct tm tm;
		/* one being removed, or damaged: not listed */
		if (sb_template_load(&c->paths, names[i], &t) < 0)
			continue;
		time_t at = (time_t)t.created;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&at, &tm));
		printf("%-24s %7s %7s %4u %7s %-6s %-19s %s\n", t.name,
		       human(sb_template_du(&c->paths, t.name), size, sizeof(size)),
		       sb_format_size(t.memory, mem, sizeof(mem)), t.cpus,
		       sb_format_size(t.disk, disk, sizeof(disk)), t.no_docker ? "no" : "yes", when,
		       t.agent[0] ? t.agent : "-");
	}
	sb_names_free(names, n);
	return 0;
}

static int template_rm(struct cli *c, int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
		return cli_failf("usage: silo template rm T...");
	for (int i = 1; i < argc; i++) {
		if (sb_template_remove(&c->paths, argv[i]) < 0)
			rc = cli_fail();
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

int cmd_template(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (!strcmp(sub, "build"))
		return template_build(c, argc - 1, argv + 1);
	if (!strcmp(sub, "ls"))
		return template_ls(c, argc - 1);
	if (!strcmp(sub, "rm"))
		return template_rm(c, argc - 1, argv + 1);
	return cli_failf("usage: silo template build [--name T] [create flags] | ls | rm T...");
}
