/* agent.c: silo agent ls|pull (docs/agents.md).
 *
 *   silo agent ls          the agents silo knows, their pinned versions,
 *                          and whether the package is here
 *   silo agent pull NAME...  fetch their npm packages now (the host's npm)
 *
 * `silo template build --agent NAME` pulls what is missing itself; `silo
 * run --agent NAME` runs one from that template.
 */
#include "cli/cli.h"

#include <string.h>
#include <sys/stat.h>

static int agent_ls(struct cli *c, int argc)
{
	static const char *const names[] = { "claude", "codex" };

	if (argc > 1)
		return cli_failf("usage: silo agent ls");
	printf("%-8s %-28s %-10s %-8s %s\n", "NAME", "PACKAGE", "VERSION", "PULLED", "TEMPLATE");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct sb_agent *a = sb_agent_find(names[i]);
		char dir[SB_PATH_MAX], tmpl[SB_NAME_MAX + 1];
		struct sb_template t;
		struct stat st;
		bool pulled = sb_path(dir, "%s/agents/%s-%s/%s/%s", c->paths.data, a->name,
				      a->version, a->payload, a->program) == 0 &&
			      stat(dir, &st) == 0;
		snprintf(tmpl, sizeof(tmpl), SB_AGENT_TEMPLATE "%s", a->name);
		bool built = sb_template_load(&c->paths, tmpl, &t) == 0;
		printf("%-8s %-28s %-10s %-8s %s\n", a->name, a->package, a->version,
		       pulled ? "yes" : "no", built ? tmpl : "-");
	}
	return 0;
}

static int agent_pull(struct cli *c, int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
		return cli_failf("usage: silo agent pull NAME...   (%s)", sb_agent_names());
	for (int i = 1; i < argc; i++) {
		const struct sb_agent *a = sb_agent_find(argv[i]);
		char dir[SB_PATH_MAX];
		if (!a)
			rc = cli_failf("unknown agent '%s': silo knows %s", argv[i],
				       sb_agent_names());
		else if (sb_agent_fetch(&c->paths, a, dir) < 0)
			rc = cli_fail();
		else
			printf("%s %s\n", a->name, a->version);
	}
	return rc;
}

int cmd_agent(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (!strcmp(sub, "ls"))
		return agent_ls(c, argc - 1);
	if (!strcmp(sub, "pull"))
		return agent_pull(c, argc - 1, argv + 1);
	return cli_failf("usage: silo agent ls | pull NAME...");
}
