/* network.c: the network subcommands (docs/network.md, docs/cli.md):
 *
 *   silo policy NAME [--network open|allowlist] [--allow R]... [--deny R]...
 *                    [--remove R]... [--allow-host-access] [--allow-link-local]
 *   silo net log NAME [-f]
 *   silo port NAME
 *
 * policy without changes prints the rules; with changes it validates them
 * all, stores the new policy and tells a running sandbox's broker to read it
 * again (sandbox/network.c): the change holds for the next connection and
 * DNS query, without a restart, and is kept across stop/start.
 */
#include "cli/cli.h"
#include "net/policy.h"
#include "net/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_policy(struct cli *c, int argc, char **argv)
{
	static const struct option longs[] = {
		CLI_NET_OPTIONS,
		{ "remove", required_argument, NULL, CLI_O_REMOVE },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_net net;
	cli_net_init(&net);
	optind = 1;
	opterr = 0;
	int ch, rc = EXIT_OWN;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int r = cli_net_option(&net, ch, optarg, false);
		if (r == 0)
			cli_failf("unknown or incomplete option '%s' (see 'silo --help')",
				  argv[optind - 1]);
		if (r <= 0)
			goto out;
	}
	if (optind + 1 != argc) {
		cli_failf("usage: silo policy NAME [--network open|allowlist] [--allow RULE]... "
			  "[--deny RULE]... [--remove RULE]...");
		goto out;
	}
	bool change = net.mode_set || net.flags || net.nrules;
	struct sandbox sb;
	/* the lock: two policy changes at once must not lose one */
	if (sb_open(&sb, &c->paths, argv[optind], change) < 0) {
		rc = cli_fail();
		goto out;
	}
	struct net_policy *p = NULL;
	int has = sb_net_load(&sb, &p);
	if (has < 0) {
		rc = cli_fail();
	} else if (!has || p->mode == NET_MODE_NONE) {
		if (change)
			cli_failf("sandbox %s has no network (--network none): a network needs "
				  "a new sandbox ('silo create --network ...')",
				  sb.name);
		else
			printf("mode none\n");
		rc = change ? EXIT_OWN : 0;
	} else if (change && cli_net_apply(&net, p) < 0) {
		rc = EXIT_OWN; /* printed */
	} else if (change && sb_net_save(&sb, p) < 0) {
		rc = cli_fail();
	} else {
		size_t need = net_policy_format(p, NULL, 0);
		char *text = malloc(need + 1);
		if (text) {
			net_policy_format(p, text, need + 1);
			fputs(text, stdout);
			free(text);
			rc = 0;
		} else {
			cli_failf("out of memory");
		}
	}
	free(p);
	sb_close(&sb);
out:
	cli_net_free(&net);
	return rc;
}

/* Copy fd to stdout from its current offset to its end. */
static void drain(int fd)
{
	char buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)r) != r)
			return;
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* silo net log NAME [-f]: silo-netd's decisions (net.log.1, the rotated
 * older part, then net.log). -f follows, through rotation, until Ctrl-C or
 * the sandbox is removed. */
int cmd_net(struct cli *c, int argc, char **argv)
{
	bool follow = argc == 4 && !strcmp(argv[2], "-f");
	const char *name = follow ? argv[3] : argc == 3 ? argv[2] : NULL;
	if (argc < 2 || strcmp(argv[1], "log") || !name || (argc == 4 && !follow))
		return cli_failf("usage: silo net log NAME [-f]");
	struct sandbox sb;
	if (sb_open(&sb, &c->paths, name, false) < 0)
		return cli_fail();
	char f[SB_PATH_MAX], old[SB_PATH_MAX];
	if (sb_path(f, "%s/%s", sb.dir, SB_NET_LOG) < 0 ||
	    sb_path(old, "%s/%s.1", sb.dir, SB_NET_LOG) < 0) {
		sb_close(&sb);
		return cli_fail();
	}
	/* Before the first line goes out: whoever reads it may press Ctrl-C
	 * at once (and a shell's background job starts with SIGINT ignored). */
	if (follow) {
		signal(SIGINT, on_int);
		signal(SIGTERM, on_int);
	}
	int fd = open(old, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		drain(fd);
		close(fd);
	}
	fd = open(f, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0)
		drain(fd);
	if (!follow) {
		if (fd >= 0)
			close(fd);
		sb_close(&sb);
		return 0;
	}
	while (!interrupted && sb_exists(sb.dir)) {
		usleep(200 * 1000);
		struct stat now, cur;
		if (stat(f, &now) < 0)
			continue;
		/* rotated (a new file at the path) or truncated: start over */
		if (fd < 0 || fstat(fd, &cur) < 0 || cur.st_ino != now.st_ino ||
		    now.st_size < lseek(fd, 0, SEEK_CUR)) {
			if (fd >= 0) {
				drain(fd); /* the end of the old file first */
				close(fd);
			}
			fd = open(f, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0)
				continue;
		}
		drain(fd);
	}
	if (fd >= 0)
		close(fd);
	sb_close(&sb);
	return 0;
}

/* silo port NAME: the published ports, as `docker port` prints them. */
int cmd_port(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_failf("usage: silo port NAME");
	struct sandbox sb;
	if (sb_open(&sb, &c->paths, argv[1], false) < 0)
		return cli_fail();
	for (unsigned i = 0; i < sb.cfg.npublish; i++) {
		struct net_publish p;
		const char *why;
		char host[INET6_ADDRSTRLEN];
		if (net_publish_parse(sb.cfg.publish[i], &p, &why) < 0)
			continue;
		net_addr_format(&p.host, host, sizeof(host));
		printf(p.host.family == AF_INET6 ? "%u/tcp -> [%s]:%u\n" : "%u/tcp -> %s:%u\n",
		       p.guest_port, host, p.host_port);
	}
	sb_close(&sb);
	return 0;
}
