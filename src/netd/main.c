/* src/netd/main.c: silo-netd's command line, setup and accept loop.
 *
 *   silo-netd --vsock PATH --policy FILE --log FILE --stats FILE
 *             [--publish [HOST_IP:]HOST_PORT:GUEST_PORT]... [--ready-fd N]
 *
 * Setup failures (the host's doing) end in one "error: ..." line on stderr
 * and on the ready fd, exit 1, and no socket file left behind. After
 * "ready", nothing the guest sends ends the process: only SIGTERM/SIGINT.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/wire.h"
#include "netd/jail.h"
#include "netd/netd.h"
#include "proto/scm.h"

enum { L_CONNECT, L_DNS, L_NFIXED };

struct listener {
	int fd;
	int kind; /* L_CONNECT, L_DNS, or L_NFIXED + publish index */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* Unix only */
};

static struct listener lis[L_NFIXED + NETD_MAX_PUBLISH];
static size_t nlis;
static int ready_fd = -1;
static int peer_fd = -1; /* --peer-fd */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: silo-netd --vsock PATH --policy FILE --log FILE --stats FILE\n"
		"                 [--publish [HOST_IP:]HOST_PORT:GUEST_PORT]... [--peer-fd N]\n"
		"                 [--secrets-fd N --ca-out FILE [--upstream-ca FILE]]\n"
		"                 [--ready-fd N]\n"
		"\n"
		"The host-side network broker of one silo sandbox. It listens on PATH_1080\n"
		"(the guest's outbound TCP) and PATH_1053 (its DNS queries), decides each\n"
		"against the policy in FILE, dials what is allowed and logs every decision.\n"
		"\n"
		"  --vsock PATH      silo-vmm's vsock socket (RUNDIR/vsock.sock)\n"
		"  --policy FILE     the policy text (net_policy_format); SIGHUP re-reads it\n"
		"  --log FILE        decision log, appended; past %u MiB it moves to FILE.1\n"
		"  --stats FILE      counters (allowed=N, denied=N, ...), rewritten atomically\n"
		"  --publish SPEC    listen on HOST_IP (default 127.0.0.1):HOST_PORT and forward\n"
		"                    to GUEST_PORT on the guest's loopback; repeatable\n"
		"  --peer-fd N       also take the guest's streams from silo-vmm --vsock-peer:\n"
		"                    each comes on this SOCK_SEQPACKET socket as a descriptor\n"
		"                    with its port (4 bytes, little endian)\n"
		"  --secrets-fd N    secrets to add to HTTPS requests for their hosts, a line\n"
		"                    NAME<TAB>HOST<TAB>HEADER<TAB>VALUE each (docs/secrets.md)\n"
		"  --ca-out FILE     where the certificate of this run's CA goes (PEM)\n"
		"  --upstream-ca FILE  also trust these CAs for the secrets' hosts\n"
		"  --ready-fd N      write \"ready\\n\" (or \"error: ...\\n\") to fd N, then close it\n"
		"  --log-max BYTES   log size before rotation (default %u)\n"
		"  -h, --help        this text\n"
		"\n"
		"Signals: SIGHUP reloads the policy (a bad file keeps the old one); SIGTERM\n"
		"and SIGINT remove the sockets and exit 0. See docs/network.md.\n",
		NETD_LOG_MAX >> 20, NETD_LOG_MAX);
}

/* The one setup error line: stderr, and the ready fd for the supervisor,
 * which shows it to the user. Then clean up and exit 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "silo-netd: error: %s\n", msg);
	if (ready_fd >= 0)
		dprintf(ready_fd, "error: %s\n", msg);
	for (size_t i = 0; i < nlis; i++)
		if (lis[i].path[0])
			unlink(lis[i].path);
	exit(1);
}

/* Read and parse the policy file into a fresh copy of base (host
 * addresses kept). NULL with *err set, the old policy untouched. */
static struct net_policy *load_policy(const char *path, const struct net_policy *base, char *err,
				      size_t errlen)
{
	struct net_policy *p = malloc(sizeof(*p));
	char *text = malloc(NETD_POLICY_MAX + 1);
	unsigned line = 0;
	const char *why = NULL;
	ssize_t len = -1;
	int fd = -1;

	if (!p || !text) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (base)
		memcpy(p, base, sizeof(*p));
	else
		net_policy_init(p, NET_MODE_ALLOWLIST);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		len = netd_read_full(fd, text, NETD_POLICY_MAX + 1, 5000);
	if (fd < 0 || len < 0) {
		snprintf(err, errlen, "cannot read policy %s: %s", path,
			 strerror(fd < 0 ? errno : (int)-len));
		goto fail;
	}
	if (len > (ssize_t)NETD_POLICY_MAX) {
		snprintf(err, errlen, "policy %s is larger than %u bytes", path, NETD_POLICY_MAX);
		goto fail;
	}
	if (net_policy_parse(p, text, (size_t)len, &line, &why) < 0) {
		snprintf(err, errlen, "policy %s line %u: %s", path, line, why);
		goto fail;
	}
	close(fd);
	free(text);
	return p;
fail:
	if (fd >= 0)
		close(fd);
	free(text);
	free(p);
	return NULL;
}

int netd_host_addrs(struct net_policy *p)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		struct net_addr a;
		if (!i->ifa_addr || net_addr_from_sockaddr(i->ifa_addr,
							   i->ifa_addr->sa_family == AF_INET6
								   ? sizeof(struct sockaddr_in6)
								   : sizeof(struct sockaddr_in),
							   &a, NULL) < 0)
			continue;
		/* over NET_POLICY_MAX_HOST_ADDRS: the rest stay dialable, but
                 * loopback and private ranges are hard-denied anyway */
		(void)net_policy_add_host_addr(p, &a);
	}
	freeifaddrs(ifa);
	return 0;
}

/* PATH_PORT as a Unix listener, mode 0600. A live socket there means
 * another broker serves this sandbox: refuse. A dead one (a crash left
 * it) is replaced. */
static void listen_unix(struct netd *n, unsigned port, int kind)
{
	struct listener *l = &lis[nlis];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if ((size_t)snprintf(l->path, sizeof(l->path), "%s_%u", n->vsock, port) >= sizeof(l->path))
		die("socket path %s_%u is longer than %zu bytes", n->vsock, port,
		    sizeof(l->path) - 1);
	memcpy(sa.sun_path, l->path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (lstat(l->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die("%s exists and is not a socket: remove it", l->path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			die("%s is in use by a running broker: stop it first", l->path);
		unlink(l->path);
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
	}
	/* the umask makes bind() create it 0600: no window where another
         * user could connect */
	old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		die("cannot bind %s: %s", l->path, strerror(errno));
	l->fd = fd;
	l->kind = kind;
	nlis++;
	if (listen(fd, 128) < 0)
		die("listen %s: %s", l->path, strerror(errno));
}

static void listen_tcp(struct netd *n, size_t idx)
{
	const struct net_publish *p = &n->pub[idx];
	struct listener *l = &lis[nlis];
	struct sockaddr_storage ss = { 0 };
	char host[NET_CIDR_STRLEN];
	socklen_t sl;
	int fd, one = 1;

	net_addr_format(&p->host, host, sizeof(host));
	if (p->host.family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(p->host_port);
		memcpy(&s->sin_addr, p->host.bytes, 4);
		sl = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(p->host_port);
		memcpy(&s->sin6_addr, p->host.bytes, 16);
		sl = sizeof(*s);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	l->fd = fd;
	l->kind = L_NFIXED + (int)idx;
	l->path[0] = '\0';
	nlis++;
	/* SO_REUSEADDR: a port in TIME_WAIT from the last run is free;
         * a port someone listens on still fails with EADDRINUSE */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		if (errno == EADDRINUSE)
			die("host port %u on %s is in use: choose another with -p", p->host_port,
			    host);
		if (errno == EADDRNOTAVAIL)
			die("host address %s is not one of this host's: choose another with -p",
			    host);
		if (errno == EACCES)
			die("host port %u on %s needs privileges: choose a port above 1023 with -p",
			    p->host_port, host);
		die("cannot listen on %s port %u: %s", host, p->host_port, strerror(errno));
	}
}

struct job {
	struct netd *n;
	int fd;
	int kind;
	bool give_socket; /* the stream's sender takes the destination back */
};

static void *conn_thread(void *arg)
{
	struct job j = *(struct job *)arg;

	free(arg);
	if (j.kind == L_CONNECT)
		netd_egress(j.n, j.fd, j.give_socket);
	else if (j.kind == L_DNS)
		netd_dns(j.n, j.fd);
	else
		netd_publish(j.n, &j.n->pub[j.kind - L_NFIXED], j.fd);
	atomic_fetch_sub(&j.n->active, 1);
	netd_stats_changed(j.n); /* "active" stays true */
	return NULL;
}

/* Refuse one connection we have no room for: a CONNECT gets the "broker
 * error" reply (the guest's client gets a reset), the others a reset. */
static void refuse_busy(struct netd *n, int fd, int kind)
{
	netd_count(n, &n->stats.busy); /* first: the reply ends the guest's wait */
	if (kind == L_CONNECT) {
		uint8_t h[WIRE_REPLY_SIZE];
		wire_reply_encode(WIRE_INTERNAL, h);
		(void)send(fd, h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
	} else {
		netd_close_reset(fd);
	}
}

static void spawn(struct netd *n, int fd, int kind, bool give_socket)
{
	struct job *j;

	if (atomic_fetch_add(&n->active, 1) >= NETD_MAX_CONNS)
		goto busy;
	j = malloc(sizeof(*j));
	if (!j)
		goto busy;
	*j = (struct job){ .n = n, .fd = fd, .kind = kind, .give_socket = give_socket };
	if (workers_run(&n->workers, conn_thread, j) < 0) {
		free(j);
		goto busy;
	}
	netd_stats_changed(n); /* "active" went up */
	return;
busy:
	atomic_fetch_sub(&n->active, 1);
	refuse_busy(n, fd, kind);
}

static void reload(struct netd *n)
{
	char err[1024];
	struct net_policy *p, *old;

	pthread_rwlock_rdlock(&n->policy_lock);
	p = load_policy(n->policy_path, n->policy, err, sizeof(err));
	pthread_rwlock_unlock(&n->policy_lock);
	if (!p) {
		netd_log_event(n, "error policy - - not reloaded, keeping the old policy: %s", err);
		netd_count(n, &n->stats.reload_errors);
		return;
	}
	/* the host's addresses may have changed since the start */
	p->nhost = 0;
	if (netd_host_addrs(p) < 0)
		memcpy(p->host, n->policy->host, sizeof(p->host)), p->nhost = n->policy->nhost;
	pthread_rwlock_wrlock(&n->policy_lock);
	old = n->policy;
	n->policy = p;
	pthread_rwlock_unlock(&n->policy_lock);
	free(old);
	netd_log_event(n, "reload policy - - mode %s, %zu rules", net_mode_name(p->mode),
		       p->nrules);
	netd_count(n, &n->stats.reloads);
}

/* Keep the first argument error: --ready-fd may come after it, and the
 * supervisor reads the error there. */
static void fail(char perr[512], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(char perr[512], const char *fmt, ...)
{
	va_list ap;

	if (perr[0])
		return;
	va_start(ap, fmt);
	vsnprintf(perr, 512, fmt, ap);
	va_end(ap);
}

static void add_publish(struct netd *n, const char *spec, char perr[512])
{
	const char *why;

	if (n->npub == NETD_MAX_PUBLISH)
		fail(perr, "at most %d --publish", NETD_MAX_PUBLISH);
	else if (net_publish_parse(spec, &n->pub[n->npub], &why) < 0)
		fail(perr, "--publish %s: %s", spec, why);
	else
		n->npub++;
}

/* An inherited descriptor's number (at least min) that is open, set
 * close-on-exec (we exec nothing, today); -1 if arg is not one. */
static int inherited_fd(const char *arg, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < min || v > INT_MAX || fcntl((int)v, F_GETFD) < 0)
		return -1;
	fcntl((int)v, F_SETFD, FD_CLOEXEC);
	return (int)v;
}

/* --ready-fd: checked at once, as the errors after it go there. */
static void set_ready_fd(const char *arg)
{
	if ((ready_fd = inherited_fd(arg, 0)) < 0) {
		fprintf(stderr, "silo-netd: error: --ready-fd %s: not an open fd\n", arg);
		exit(2);
	}
}

static void set_log_max(struct netd *n, const char *arg, char perr[512])
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 1024)
		fail(perr, "--log-max %s: a byte count of at least 1024", arg);
	else
		n->log_max = (size_t)v;
}

/* --peer-fd: an inherited SEQPACKET socket (silo-vmm's --vsock-peer). */
static void set_peer_fd(const char *arg, char perr[512])
{
	int type = 0, fd = inherited_fd(arg, 3);
	socklen_t tl = sizeof(type);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET)
		fail(perr, "--peer-fd %s: not an open SOCK_SEQPACKET socket", arg);
	else
		peer_fd = fd;
}

/* --secrets-fd: an inherited descriptor to read the secrets from. */
static void set_secrets_fd(struct netd *n, const char *arg, char perr[512])
{
	if ((n->secrets_fd = inherited_fd(arg, 3)) < 0)
		fail(perr, "--secrets-fd %s: not an open fd", arg);
}

/* What the options together must say. */
static void check_args(struct netd *n, const char *perr, int argc, char **argv)
{
	if (perr[0])
		die("%s", perr);
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (!n->vsock || !n->policy_path || !n->log_path || !n->stats_path)
		die("--vsock, --policy, --log and --stats are required (see --help)");
	/* its own root keeps them at the same absolute paths (view.c) */
	if (n->vsock[0] != '/' || n->policy_path[0] != '/' || n->log_path[0] != '/' ||
	    n->stats_path[0] != '/')
		die("--vsock, --policy, --log and --stats want absolute paths");
	if ((n->ca_out || n->upstream_ca) && n->secrets_fd < 0)
		die("--ca-out and --upstream-ca go with --secrets-fd");
	if (n->secrets_fd >= 0 && (!n->ca_out || n->ca_out[0] != '/'))
		die("--secrets-fd wants --ca-out with an absolute path");
	/* a spec twice would fail as "in use" against ourselves: say why */
	for (size_t i = 0; i < n->npub; i++)
		for (size_t k = 0; k < i; k++)
			if (n->pub[i].host_port == n->pub[k].host_port &&
			    net_addr_equal(&n->pub[i].host, &n->pub[k].host))
				die("host port %u is published twice", n->pub[i].host_port);
}

static void parse_args(struct netd *n, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vsock", required_argument, NULL, 'v' },
		{ "policy", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "stats", required_argument, NULL, 's' },
		{ "publish", required_argument, NULL, 'P' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "log-max", required_argument, NULL, 'm' },
		{ "peer-fd", required_argument, NULL, 'f' },
		{ "secrets-fd", required_argument, NULL, 'S' },
		{ "ca-out", required_argument, NULL, 'C' },
		{ "upstream-ca", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char perr[512] = ""; /* the first error, reported once --ready-fd is known */
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			n->vsock = optarg;
			break;
		case 'p':
			n->policy_path = optarg;
			break;
		case 'l':
			n->log_path = optarg;
			break;
		case 's':
			n->stats_path = optarg;
			break;
		case 'P':
			add_publish(n, optarg, perr);
			break;
		case 'r':
			set_ready_fd(optarg);
			break;
		case 'm':
			set_log_max(n, optarg, perr);
			break;
		case 'f':
			set_peer_fd(optarg, perr);
			break;
		case 'S':
			set_secrets_fd(n, optarg, perr);
			break;
		case 'C':
			n->ca_out = optarg;
			break;
		case 'U':
			n->upstream_ca = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			/* getopt said which; the ready fd gets a line too */
			fail(perr, "invalid option %s (see --help)", argv[optind - 1]);
			break;
		}
	}
	check_args(n, perr, argc, argv);
}

/* Signals are read from a signalfd in the main thread only; every thread
 * created later inherits the blocked mask. A dead peer must be EPIPE, never
 * SIGPIPE. Returns the signalfd. */
static int block_signals(void)
{
	sigset_t sigs;
	int sfd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));
	return sfd;
}

/* Everything before the first connection: the policy, the pool, the
 * resolver's table, the log and stats, the listeners, the threads. Any
 * failure is one line on the ready fd and exit 1. */
static void setup(struct netd *n)
{
	struct in_addr base = { .s_addr = htonl(POOL_DEFAULT_BASE) };
	uint64_t seed;
	char err[1024];
	int r;

	n->policy = load_policy(n->policy_path, NULL, err, sizeof(err));
	if (!n->policy)
		die("%s", err);
	if ((r = netd_host_addrs(n->policy)) < 0)
		die("getifaddrs: %s", strerror(-r));
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed) ||
	    getrandom(&n->resolve_seed, sizeof(n->resolve_seed), 0) != sizeof(n->resolve_seed))
		die("getrandom: %s", strerror(errno));
	if (!(n->resolved = calloc(NETD_RESOLVE_SLOTS, sizeof(*n->resolved))))
		die("out of memory");
	if ((r = pool_init(&n->pool, base, POOL_DEFAULT_PREFIX, POOL_DEFAULT_CAPACITY, seed)) < 0)
		die("synthetic address pool: %s", strerror(-r));
	if ((r = netd_log_open(n)) < 0)
		die("cannot open log %s: %s", n->log_path, strerror(-r));
	/* before the view and the jail: OpenSSL reads its files now */
	if (n->secrets_fd >= 0 &&
	    netd_tls_setup(&n->tls, n->secrets_fd, n->ca_out, n->upstream_ca, err, sizeof(err)) < 0)
		die("secrets: %s", err);
	if ((r = netd_stats_write(n)) < 0)
		die("cannot write stats %s: %s", n->stats_path, strerror(-r));

	/* Publish ports first: they are the likely failure (a port in use),
	 * and then no Unix socket was created yet. */
	for (size_t i = 0; i < n->npub; i++)
		listen_tcp(n, i);
	listen_unix(n, WIRE_PORT_CONNECT, L_CONNECT);
	listen_unix(n, WIRE_PORT_DNS, L_DNS);

	/* The jail: every file and socket it starts with is open, and no
	 * thread exists yet, so the filter covers every thread (jail.c). */
	const char *what, *mine[] = { n->policy_path, n->log_path, n->stats_path, n->vsock };
	if ((r = netd_view_enter(mine, sizeof(mine) / sizeof(mine[0]), &what)) < 0 ||
	    (r = netd_jail_enter(ready_fd, &what)) < 0)
		die("jail: %s: %s", what, strerror(-r));

	/* after block_signals: the threads must not take SIGTERM */
	if ((r = netd_stats_start(n)) < 0)
		die("cannot start the stats thread: %s", strerror(-r));
	if ((r = workers_init(&n->workers, NETD_MAX_CONNS, NETD_IDLE_WORKERS, NETD_STACK_SIZE,
			      NETD_WORKER_IDLE_MS)) < 0)
		die("cannot set up the connection threads: %s", strerror(-r));
}

/* One stream from silo-vmm's --vsock-peer: a descriptor and its port.
 * silo-vmm faces the guest, so what it sends is checked like guest input:
 * anything but one Unix stream socket for a port we serve, with flags we
 * know (contract.h: port and flags; a bare port means no flags), is closed
 * and counted. Returns false once silo-vmm closed its end. */
static bool take_peer(struct netd *n)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	uint32_t le[2] = { 0, 0 };
	struct iovec iov = { le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	int fd = -1, nfds = 0, type = 0, domain = 0;
	socklen_t tl = sizeof(type), dl = sizeof(domain);
	ssize_t got = recvmsg(peer_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (got == 0)
		return false;
	if (got < 0)
		return errno == EAGAIN || errno == EINTR;
	/* every descriptor that came is ours to close, however many */
	fd = scm_first_fd(&mh, &nfds);
	uint32_t port = le32toh(le[0]), flags = le32toh(le[1]);
	int kind = port == WIRE_PORT_CONNECT ? L_CONNECT : port == WIRE_PORT_DNS ? L_DNS : -1;
	_Static_assert(sizeof(le) == SILO_PEER_MSG_SIZE, "a peer message is port and flags");
	if (fd < 0 || nfds != 1 || (got != sizeof(le) && got != sizeof(le[0])) ||
	    (flags & ~SILO_PEER_TAKES_SOCKET) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    kind < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0 || type != SOCK_STREAM ||
	    domain != AF_UNIX) {
		if (fd >= 0)
			close(fd);
		netd_count(n, &n->stats.bad_requests);
		return true;
	}
	spawn(n, fd, kind, kind == L_CONNECT && (flags & SILO_PEER_TAKES_SOCKET));
	return true;
}

/* Accept and hand out connections, reload on SIGHUP; returns on SIGTERM
 * or SIGINT. */
static void serve(struct netd *n, int sfd)
{
	struct pollfd pf[2 + L_NFIXED + NETD_MAX_PUBLISH];
	size_t np = 1 + nlis;

	pf[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (size_t i = 0; i < nlis; i++)
		pf[1 + i] = (struct pollfd){ .fd = lis[i].fd, .events = POLLIN };
	/* last, and only while silo-vmm holds its end (a negative fd is
	 * skipped by poll) */
	pf[np++] = (struct pollfd){ .fd = peer_fd, .events = POLLIN };
	for (;;) {
		if (poll(pf, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGHUP) {
					netd_log_event(n, "stop netd - - signal %u", si.ssi_signo);
					return;
				}
				reload(n);
			}
		}
		for (size_t i = 0; i < nlis; i++) {
			if (!(pf[1 + i].revents & POLLIN))
				continue;
			int fd = accept4(lis[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue; /* EMFILE, ECONNABORTED: try again later */
			spawn(n, fd, lis[i].kind, false);
		}
		if (pf[np - 1].revents & (POLLIN | POLLHUP | POLLERR) && !take_peer(n)) {
			close(peer_fd); /* silo-vmm ended */
			peer_fd = pf[np - 1].fd = -1;
		}
	}
}

int main(int argc, char **argv)
{
	static struct netd n = { .log_fd = -1, .log_max = NETD_LOG_MAX, .secrets_fd = -1 };
	int sfd;

	parse_args(&n, argc, argv);
	pthread_rwlock_init(&n.policy_lock, NULL);
	pthread_mutex_init(&n.pool_lock, NULL);
	pthread_mutex_init(&n.log_lock, NULL);
	pthread_mutex_init(&n.stats_io_lock, NULL);
	pthread_mutex_init(&n.resolve_lock, NULL);
	sfd = block_signals();
	setup(&n);

	netd_log_event(&n, "start netd - - mode %s, %zu rules, %zu host addresses, %zu published",
		       net_mode_name(n.policy->mode), n.policy->nrules, n.policy->nhost, n.npub);
	if (ready_fd >= 0) {
		if (write(ready_fd, "ready\n", 6) != 6) {
			/* the supervisor went away; it will not use us */
		}
		netd_jail_ready();
		close(ready_fd);
		ready_fd = -1;
	}
	serve(&n, sfd);

	for (size_t i = 0; i < nlis; i++)
		if (lis[i].path[0])
			unlink(lis[i].path);
	netd_stats_write(&n); /* the changes of the last interval */
	netd_tls_free(&n.tls);
	/* connection threads are cut off with the process: the guest sees
	 * its streams end, which it would at a VM stop anyway */
	return 0;
}
