/* create.c: silo create (and the flags silo run shares with it). */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_NAME = 256,
	O_CPUS,
	O_MEMORY,
	O_DISK,
	O_WORKSPACE,
	O_RM,
	O_NO_DOCKER,
	O_WAIT_DOCKER,
	O_TEMPLATE,
	O_AGENT
};

/* --cpus, --memory (-m), --disk: 0, or -1 after the one-line error. */
static int parse_resource(int ch, const char *arg, struct sb_config *cfg)
{
	int r = ch == O_CPUS   ? sb_config_cpus(cfg, arg, "--cpus")
		: ch == O_DISK ? sb_config_disk(cfg, arg, "--disk")
			       : sb_config_memory(cfg, arg, "--memory");
	if (r < 0)
		cli_fail();
	return r;
}

/* What the options together must say; the network policy's text. */
static int check_create(struct create_opts *o, struct cli_net *net)
{
	if (o->cfg.no_docker && o->cfg.wait_docker) {
		cli_failf("--wait-docker and --no-docker contradict each other: pick one");
		return -1;
	}
	if (cli_net_policy_text(net, &o->cfg.policy) < 0)
		return -1;
	if (net->mode_set || net->nrules || net->flags)
		o->given |= SB_GIVEN_NET;
	if (!o->cfg.policy && o->cfg.npublish) {
		cli_failf("-p needs a network: --network none publishes nothing");
		return -1;
	}
	return 0;
}

/* create's and run's options (run adds --rm: allow_rm) */
static const struct option create_longs[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "disk", required_argument, NULL, O_DISK },
	{ "workspace", required_argument, NULL, O_WORKSPACE },
	{ "no-docker", no_argument, NULL, O_NO_DOCKER },
	{ "wait-docker", no_argument, NULL, O_WAIT_DOCKER },
	{ "template", required_argument, NULL, O_TEMPLATE },
	{ "agent", required_argument, NULL, O_AGENT },
	{ "env", required_argument, NULL, 'e' },
	{ "rm", no_argument, NULL, O_RM },
	{ "quiet", no_argument, NULL, 'q' },
	CLI_NET_OPTIONS,
	{ "publish", required_argument, NULL, 'p' },
	{ NULL, 0, NULL, 0 },
};

int cli_parse_create(int argc, char **argv, struct create_opts *o, bool allow_rm)
{
	struct cli_net net;
	cli_net_init(&net);
	memset(o, 0, sizeof(*o));
	sb_config_init(&o->cfg);
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "+e:m:p:q", create_longs, NULL)) != -1) {
		switch (ch) {
		case O_NAME:
		case O_TEMPLATE:
			if (!sb_name_valid(optarg) && ch == O_NAME)
				goto badname;
			if (!sb_name_valid(optarg)) {
				cli_failf("invalid template name '%s'", optarg);
				goto err;
			}
			*(ch == O_NAME ? &o->name : &o->template) = optarg;
			break;
		case O_CPUS:
		case 'm':
		case O_MEMORY:
		case O_DISK:
			if (parse_resource(ch, optarg, &o->cfg) < 0)
				goto err;
			o->given |= ch == O_CPUS   ? SB_GIVEN_CPUS
				    : ch == O_DISK ? SB_GIVEN_DISK
						   : SB_GIVEN_MEMORY;
			break;
		case O_WORKSPACE:
			o->workspace = optarg;
			break;
		case O_AGENT:
			if (!(o->agent = sb_agent_find(optarg))) {
				cli_failf("unknown agent '%s': silo knows %s", optarg,
					  sb_agent_names());
				goto err;
			}
			break;
		case O_NO_DOCKER:
			o->cfg.no_docker = true;
			break;
		case O_WAIT_DOCKER:
			o->cfg.wait_docker = true;
			break;
		case 'e':
			if (sb_config_add_env(&o->cfg, optarg) < 0)
				goto fail;
			break;
		case O_RM:
		case 'q':
			if (!allow_rm)
				goto unknown;
			*(ch == 'q' ? &o->quiet : &o->rm) = true;
			break;
		case 'p':
			if (sb_config_add_publish(&o->cfg, optarg) < 0)
				goto fail;
			break;
		default: {
			int r = cli_net_option(&net, ch, optarg, true);
			if (r < 0)
				goto err;
			if (r > 0)
				break;
		}
unknown:
			cli_failf("unknown or incomplete option '%s' (see 'silo --help')",
				  argv[optind - 1]);
			goto err;
		}
	}
	if (check_create(o, &net) < 0)
		goto err;
	cli_net_free(&net);
	return optind;
badname:
	sb_name_check(optarg, "sandbox");
fail:
	cli_fail();
err:
	cli_net_free(&net);
	sb_config_free(&o->cfg);
	return -1;
}

int cli_apply_agent(struct create_opts *o, bool run)
{
	static char tmpl[SB_NAME_MAX + 1];
	const struct sb_agent *a = o->agent;

	if (!a)
		return 0;
	/* (a template holds none: its sandboxes get them) */
	for (size_t i = 0; run && i < sizeof(a->env) / sizeof(a->env[0]) && a->env[i]; i++)
		if (sb_config_add_env(&o->cfg, a->env[i]) < 0) {
			cli_fail();
			return -1;
		}
	snprintf(tmpl, sizeof(tmpl), SB_AGENT_TEMPLATE "%s", a->name);
	if (run && !o->template)
		o->template = tmpl;
	else if (!run && !o->name)
		o->name = tmpl;
	return 0;
}

int cli_apply_template(struct cli *c, struct create_opts *o)
{
	struct sb_template t;
	char f[SB_PATH_MAX];

	if (!o->template)
		return 0;
	/* --agent's own template not built yet: say how */
	if (o->agent && !strncmp(o->template, SB_AGENT_TEMPLATE, strlen(SB_AGENT_TEMPLATE)) &&
	    sb_template_dir(&c->paths, o->template, f) == 0 && !sb_exists(f)) {
		cli_failf("no template %s yet: build it once with 'silo template build --agent %s'",
			  o->template, o->agent->name);
		return -1;
	}
	if (sb_template_load(&c->paths, o->template, &t) < 0 ||
	    sb_template_apply(&t, o->given, &o->cfg) < 0) {
		cli_fail();
		return -1;
	}
	return 0;
}

int cmd_create(struct cli *c, int argc, char **argv)
{
	struct create_opts o;
	int first = cli_parse_create(argc, argv, &o, false);
	if (first < 0)
		return EXIT_OWN;
	if (o.agent) {
		sb_config_free(&o.cfg);
		return cli_failf("create takes no --agent: 'silo run --agent %s'", o.agent->name);
	}
	if (cli_apply_template(c, &o) < 0) {
		sb_config_free(&o.cfg);
		return EXIT_OWN;
	}
	int rc = EXIT_OWN;
	if (first < argc) {
		cli_failf("create takes no command (did you mean 'silo run'?)");
		goto out;
	}
	/* Fail before creating anything if this host cannot start it. */
	if (sb_check_host(&c->paths) < 0) {
		cli_fail();
		goto out;
	}
	struct sandbox sb;
	if (sb_create(&sb, &c->paths, o.name, &o.cfg, o.workspace) < 0) {
		cli_fail();
		goto out;
	}
	printf("%s\n", sb.name);
	sb_close(&sb);
	rc = 0;
out:
	sb_config_free(&o.cfg);
	return rc;
}
