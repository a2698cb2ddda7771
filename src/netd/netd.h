/* src/netd/netd.h: silo-netd, the host-side network policy broker.
 *
 * One unprivileged process per sandbox. The guest reaches it over vsock
 * (silo-vmm turns guest connections to CID 2 port P into connections to the
 * Unix socket VSOCK_P): port 1080 carries outbound TCP (a CONNECT header,
 * src/net/wire.h), port 1053 DNS queries (DNS-over-TCP framing,
 * src/net/dns.h). Published ports go the other way, through VSOCK itself
 * ("CONNECT 1025\n", then a FORWARD header). Every decision is the policy
 * engine's (src/net/policy.h); this directory only does the I/O.
 *
 * Threads: main.c accepts and handles signals; each connection is served by
 * a thread of its own (egress.c, dns_srv.c, publish.c), at most
 * NETD_MAX_CONNS at once, taken from a set of workers that outlive their
 * connection by NETD_WORKER_IDLE_MS (net/workers.h); log.c's stats thread
 * writes deferred counter changes. The design and the log format: docs/network.md.
 */
#ifndef SILO_NETD_H
#define SILO_NETD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/policy.h"
#include "net/pool.h"
#include "net/publish.h"
#include "net/workers.h"

#define NETD_MAX_CONNS	    256		  /* connection threads at once */
#define NETD_STACK_SIZE	    (256u * 1024) /* per connection thread */
#define NETD_IDLE_WORKERS   16		  /* threads kept for the next connections */
#define NETD_WORKER_IDLE_MS 30000
#define NETD_HEADER_MS	    10000 /* a CONNECT header, silo-vmm's "OK" */
/* A CONNECT stream's first byte: the guest opens a spare stream ahead of
 * the connection that will use it, for up to 20 s (agent/netfwd.c). */
#define NETD_SPARE_MS	    30000
#define NETD_DIAL_MS	    10000	/* connect() to a destination */
#define NETD_DNS_IDLE_MS    60000	/* a DNS stream with no query */
#define NETD_LOG_MAX	    (16u << 20) /* then FILE -> FILE.1 */
#define NETD_STATS_FLUSH_MS 100		/* stats file rewrites at most this often */
#define NETD_MAX_PUBLISH    64
#define NETD_POLICY_MAX	    (1u << 20) /* bytes of policy text read */
#define NETD_RESOLVE_SLOTS  512	       /* host resolver answers kept (resolve.c) */
#define NETD_RESOLVE_ADDRS  8	       /* addresses kept per name */
#define NETD_RESOLVE_TTL_MS (DNS_SYNTH_TTL * 1000)
#define NETD_ADDRCONFIG_MS  10000 /* the host's address families, looked at again */

/* Counters, in the stats file as KEY=N lines. */
struct netd_stats {
	uint64_t allowed, denied; /* decisions (log lines with a verdict) */
	uint64_t bad_requests;	  /* rejected headers and DNS frames */
	uint64_t dns_queries, connections, published;
	uint64_t dial_failures; /* allowed, but the destination failed */
	uint64_t busy;		/* refused: NETD_MAX_CONNS reached */
	uint64_t reloads, reload_errors;
	uint64_t log_suppressed; /* lines dropped by the rate limit */
	/* Where a guest's wait goes (docs/network.md "Performance"): lookups
         * sent to the host's resolver and the time they took, lookups the
         * cache answered, and connect() to destinations. */
	uint64_t resolves, resolve_us, resolve_hits;
	uint64_t dials, dial_us;
};

/* A secret added to the requests for one host (tls.c, intercept.c). */
#define NETD_MAX_SECRETS 64
typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
struct netd_secret {
	char name[64];		      /* the user's name for it: for the log */
	char host[DNS_NAME_TEXT_MAX]; /* normalised; port 443 */
	char header[64];	      /* the field it sets */
	const char *value;	      /* in netd_tls.mem */
	SSL_CTX *server;	      /* the guest's side: our certificate for host */
};
struct netd_tls {
	struct netd_secret sec[NETD_MAX_SECRETS];
	size_t nsec;
	char *mem;     /* the values: mlock'd, not dumped, wiped at exit */
	EVP_PKEY *key; /* the CA's and its certificates' */
	X509 *ca;
	SSL_CTX *client; /* the API servers' side */
};

/* One name's addresses from the host resolver (resolve.c). */
struct netd_resolved {
	char name[DNS_NAME_TEXT_MAX];
	uint8_t naddr;	    /* 0: empty slot */
	int64_t expires_ms; /* CLOCK_MONOTONIC */
	struct net_addr addr[NETD_RESOLVE_ADDRS];
};

struct netd {
	const char *vsock; /* silo-vmm's socket; we listen on vsock_1080 and _1053 */
	const char *policy_path, *log_path, *stats_path;
	size_t log_max;

	/* Readers (every decision) hold it while they use the policy and the
         * rule a decision points into; SIGHUP swaps the pointer. */
	pthread_rwlock_t policy_lock;
	struct net_policy *policy;

	pthread_mutex_t pool_lock;
	struct pool pool;

	pthread_mutex_t log_lock; /* the log fd, the stats, the rate limit */
	int log_fd;
	struct netd_stats stats;
	pthread_cond_t stats_cond;	/* wakes the stats thread (log.c) */
	pthread_mutex_t stats_io_lock;	/* the file's rewrite; taken before log_lock */
	bool stats_thread, stats_dirty; /* dirty: changes the file does not show yet */
	int64_t stats_written_ms;
	int64_t rl_sec; /* rate limit of guest-triggered error lines */
	unsigned rl_count;

	pthread_mutex_t resolve_lock;
	struct netd_resolved *resolved; /* NETD_RESOLVE_SLOTS */
	uint64_t resolve_seed;
	int gai_family;		     /* AF_*: what the resolver is asked for */
	int64_t gai_family_until_ms; /* ... until then (CLOCK_MONOTONIC) */

	atomic_int active;	/* connections being served */
	struct workers workers; /* their threads (net/workers.h) */

	struct net_publish pub[NETD_MAX_PUBLISH];
	size_t npub;

	/* secrets at egress (--secrets-fd; docs/secrets.md) */
	int secrets_fd; /* -1: none */
	const char *ca_out, *upstream_ca;
	struct netd_tls tls;
};

/* ---- log.c ---- */
int netd_log_open(struct netd *n);
/* "TIME VERDICT KIND NAME DEST REASON": one decision; counts it in
 * allowed/denied. NAME and DEST may be NULL ("-");
 * NAME is escaped (it can come from the guest). */
void netd_log_decision(struct netd *n, bool allowed, const char *kind, const char *name,
		       const char *dest, const char *reason);
/* A guest-triggered error line ("denied KIND - DEST bad request: WHY"):
 * counted as denied and bad_requests, rate-limited so a guest cannot flood
 * the disk (suppressed lines are counted). */
void netd_log_bad(struct netd *n, const char *kind, const char *dest, const char *why);
/* A line about the broker itself ("TIME policy reloaded ..."), not a decision. */
void netd_log_event(struct netd *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bump one counter (a field of n->stats); the stats file shows it within
 * NETD_STATS_FLUSH_MS. */
void netd_count(struct netd *n, uint64_t *counter);
/* Count one step that took us microseconds (total_us may be NULL), for the
 * file's next rewrite: the decision logged after the step makes one. */
void netd_tally(struct netd *n, uint64_t *counter, uint64_t *total_us, int64_t us);
void netd_stats_changed(struct netd *n); /* e.g. "active" changed */
/* Rewrite the stats file now (start, exit). 0 or -errno. */
int netd_stats_write(struct netd *n);
/* Start the thread that writes the changes the rate limit deferred; until
 * then every change is written at once. 0 or -errno. */
int netd_stats_start(struct netd *n);
/* Copy s into out, each byte outside '!'..'~' (and '\') as \xHH, so guest
 * text can neither split a log line nor a field. Returns out. */
char *netd_escape(const char *s, char *out, size_t len);
/* The reason text of a decision without its leading "allowed"/"denied"
 * and ": " or " " (the verdict is a field of its own): "by rule x.com",
 * "open mode". */
const char *netd_reason_tail(const char *formatted);

/* ---- io.c ---- */
/* Read exactly len bytes, waiting at most ms in all. Returns the bytes read
 * (fewer on EOF or timeout), or -errno. */
long netd_read_full(int fd, void *buf, size_t len, int ms);
int netd_write_all(int fd, const void *buf, size_t len);
/* Copy both ways until both directions ended; EOF on one side becomes
 * shutdown(SHUT_WR) on the other (half-close). An error on either side
 * resets both. Closes neither fd. Returns bytes copied a->b + b->a. */
uint64_t netd_relay(int a, int b);
/* CLOCK_MONOTONIC in milliseconds and microseconds. */
int64_t netd_now_ms(void);
int64_t netd_now_us(void);
/* Close fd so that the peer sees a reset (SO_LINGER 0), not an EOF. */
void netd_close_reset(int fd);
/* "1.2.3.4:80", "[::1]:80" */
void netd_fmt_dest(const struct net_addr *a, uint16_t port, char *buf, size_t len);

/* ---- resolve.c ---- */
/* The addresses of name on the host (at most max, deduplicated), from the
 * cache when a lookup of the last NETD_RESOLVE_TTL_MS answered; the number
 * (> 0), or a getaddrinfo EAI_* code (< 0). Decides nothing. */
int netd_resolve(struct netd *n, const char *name, struct net_addr *out, int max);
/* AI_ADDRCONFIG's rule (glibc check_pf.c) over a getifaddrs list: AF_INET
 * or AF_INET6 when the host has addresses of that family alone, not
 * counting 127.0.0.1, ::1 and link-local ones (resolve.c says why); else
 * AF_UNSPEC (both). */
struct ifaddrs;
int netd_addrconfig_family(const struct ifaddrs *ifs);

/* ---- the connection handlers; each owns fd and closes it ---- */
void netd_egress(struct netd *n, int fd, bool give_socket);		/* egress.c, port 1080 */
void netd_dns(struct netd *n, int fd);					/* dns_srv.c, port 1053 */
void netd_publish(struct netd *n, const struct net_publish *p, int fd); /* publish.c */

/* ---- tls.c, intercept.c: secrets at egress ---- */
/* Read the secrets on fd (closed), and for them make the CA (its
 * certificate to ca_out), the servers' certificates and the client
 * context. 0 (also for no secrets), or -1 with err. */
int netd_tls_setup(struct netd_tls *t, int fd, const char *ca_out, const char *upstream_ca,
		   char *err, size_t len);
void netd_tls_free(struct netd_tls *t);
/* The secret for a connection to name:port, or NULL: relay as it is. */
const struct netd_secret *netd_secret_for(const struct netd *n, const char *name, uint16_t port);
/* Serve guest fd, connected to the secret's host on fd up, until it ends
 * (closes neither). */
void netd_intercept(struct netd *n, int fd, int up, const struct netd_secret *s, const char *dest);

/* ---- main.c ---- */
/* The host's own addresses (getifaddrs) into p. 0 or -errno. */
int netd_host_addrs(struct net_policy *p);

#endif
