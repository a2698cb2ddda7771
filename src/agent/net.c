/* net.c: the guest side of the sandbox network, set-up part (PID 1).
 *
 * With silo.net=1 on the kernel command line and the overlay root mounted,
 * silo-init gives the guest an egress path that leads only to the host
 * broker (docs/network.md):
 *
 *   - a dummy interface silo0 with 192.0.2.2/24 (the guest) and 192.0.2.3/24
 *     (the DNS stub), and a default route through it: programs see a
 *     network, and whatever is not redirected below goes to the dummy and
 *     is dropped there;
 *   - /etc/resolv.conf: "nameserver 192.0.2.3", a non-loopback address, so
 *     dockerd copies it into default-bridge containers and its embedded DNS
 *     (127.0.0.11) forwards to it on user-defined networks;
 *   - iptables nat rules redirecting outbound TCP to the forwarder on port
 *     15001 (netfwd.c), which carries it over vsock to the broker.
 *
 * The tools come from the root (iproute2's ip, iptables-restore with the
 * nft backend): they are in every base image we build, and netlink code of
 * our own would only repeat them. All of this runs before dockerd starts,
 * so Docker adds its chains next to ours. Every failure is logged and the
 * boot goes on: a guest without network still serves the agent.
 *
 * The network daemon (netfwd.c) runs in a child of PID 1, under a small
 * supervisor process that restarts it when it dies, so neither a crash nor
 * hostile input from the guest or the host can take PID 1 down.
 */
#include "agent/agent.h"
#include "agent/netfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STR_(x)	      #x
#define STR(x)	      STR_(x)
/* SILO_NET_REDIRECT_PORT is "15001u" when stringified: spell it out. */
#define REDIRECT_PORT "15001"
_Static_assert(SILO_NET_REDIRECT_PORT == 15001u, "REDIRECT_PORT above");

/* `ip -batch -`: one exec for the whole interface set-up. */
static const char ip_batch[] =
	"link add " SILO_NET_IFACE " type dummy\n"
	"link set " SILO_NET_IFACE " up\n"
	"addr add " SILO_NET_GUEST_ADDR
	"/" STR(SILO_NET_PREFIX) " dev " SILO_NET_IFACE "\n"
				 "addr add " SILO_NET_DNS_ADDR
				 "/" STR(SILO_NET_PREFIX) " dev " SILO_NET_IFACE "\n"
							  "route add default dev " SILO_NET_IFACE
							  "\n";

/*
 * iptables-restore --noflush input (iptables-restore(8)): add our chain and
 * two jumps, leave every other rule alone.
 *
 * OUTPUT (the guest's own processes): TCP whose route leads out of silo0.
 * For a locally generated packet the route is chosen before the nat OUTPUT
 * hook, so "-o silo0" is exactly "would otherwise be dropped by the dummy":
 * loopback, our own addresses and Docker's bridges (container addresses,
 * published ports) route elsewhere and are not touched.
 *
 * PREROUTING (containers): no route is known yet, so the rule matches
 * destinations that are not local (Docker's own DNAT for published ports is
 * "-m addrtype --dst-type LOCAL", the complement). Docker turns on
 * br_netfilter (bridge-nf-call-iptables), which sends container-to-container
 * frames on one bridge through this hook too; the RFC 1918 ranges, from which
 * Docker draws its networks (default-address-pools), are therefore left
 * alone, and so is loopback. The broker refuses private destinations by
 * default anyway (the hard deny set).
 */
static const char ipt_rules[] =
	"*nat\n"
	":SILO_EGRESS - [0:0]\n"
	"-A SILO_EGRESS -d 127.0.0.0/8 -j RETURN\n"
	"-A SILO_EGRESS -d 10.0.0.0/8 -j RETURN\n"
	"-A SILO_EGRESS -d 172.16.0.0/12 -j RETURN\n"
	"-A SILO_EGRESS -d 192.168.0.0/16 -j RETURN\n"
	"-A SILO_EGRESS -p tcp -j REDIRECT --to-ports " REDIRECT_PORT "\n"
	"-A PREROUTING -p tcp -m addrtype ! --dst-type LOCAL -j SILO_EGRESS\n"
	"-A OUTPUT -o " SILO_NET_IFACE " -p tcp -j REDIRECT --to-ports " REDIRECT_PORT "\n"
	"COMMIT\n";

/* Run argv with `input` on its stdin (small: it fits a pipe's buffer, so
 * writing it all before the tool starts cannot block). Returns 0 when the
 * tool exited 0; otherwise logs and returns -1. Its output goes to the
 * console, where an error is worth seeing. */
static int run_with_input(char *const argv[], const char *input)
{
	int p[2];
	size_t len = strlen(input);

	if (pipe2(p, O_CLOEXEC) < 0) {
		agent_log("net: pipe: %s", strerror(errno));
		return -1;
	}
	ssize_t n = write(p[1], input, len);
	close(p[1]);
	if (n != (ssize_t)len) {
		agent_log("net: writing %s's input: %s", argv[0],
			  n < 0 ? strerror(errno) : "short");
		close(p[0]);
		return -1;
	}
	pid_t pid = agent_spawn(argv, p[0], 2, 2);
	close(p[0]);
	if (pid < 0) {
		agent_log("net: %s: %s", argv[0], strerror((int)-pid));
		return -1;
	}
	int st = agent_wait(pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		agent_log("net: %s failed (status %d)", argv[0], st);
		return -1;
	}
	return 0;
}

/* A real file, not the Debian default link or whatever the image carried:
 * dockerd reads the file and copies its nameservers into containers. */
static int write_resolv_conf(void)
{
	static const char text[] = "# silo: the guest's DNS stub (docs/network.md)\n"
				   "nameserver " SILO_NET_DNS_ADDR "\n";
	const char *tmp = "/etc/resolv.conf.silo-tmp";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1 ||
	    fchmod(fd, 0644) < 0) {
		agent_log("net: writing %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	/* rename replaces a symlink itself, not its target */
	if (rename(tmp, "/etc/resolv.conf") < 0) {
		agent_log("net: /etc/resolv.conf: %s", strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int net_setup(void)
{
	char *ip[] = { "ip", "-batch", "-", NULL };
	char *ipt[] = { "iptables-restore", "--noflush", NULL };
	int rc = 0;

	if (run_with_input(ip, ip_batch) < 0) {
		agent_log("net: interface " SILO_NET_IFACE " not set up: the guest has no network");
		return -1;
	}
	if (write_resolv_conf() < 0)
		rc = -1;
	if (run_with_input(ipt, ipt_rules) < 0) {
		agent_log("net: no redirect rules: outbound TCP will not reach the host broker");
		rc = -1;
	}
	return rc;
}

/*
 * The supervisor: runs the network daemon in a child and starts it again
 * when it dies, waiting longer after each quick death (1 s doubling to 30 s)
 * so a daemon that cannot start does not spin. It ends with the guest
 * (PID 1's SIGTERM at power-off reaches it and the daemon alike).
 */
static void __attribute__((noreturn)) supervise(void)
{
	unsigned backoff = 1;

	for (;;) {
		time_t t0 = time(NULL);
		pid_t pid = fork();

		if (pid == 0)
			_exit(netfwd_main());
		if (pid < 0) {
			agent_log("net: fork: %s", strerror(errno));
		} else {
			int st = agent_wait(pid);

			if (st >= 0 && WIFSIGNALED(st))
				agent_log("net: network daemon killed by signal %d: restarting",
					  WTERMSIG(st));
			else
				agent_log("net: network daemon exited (status %d): restarting",
					  st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
			if (time(NULL) - t0 > 60)
				backoff = 1; /* it ran a while: not a start-up loop */
		}
		sleep(backoff);
		backoff = backoff >= 16 ? 30 : backoff * 2;
	}
}

pid_t net_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		/* PID 1's descriptors (the agent's vsock listener) are no
                 * business of the daemon's: fork keeps them, close them. */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_IGN);
		supervise();
	}
	if (pid < 0)
		agent_log("net: fork: %s", strerror(errno));
	return pid;
}
