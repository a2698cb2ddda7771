/* src/net/publish.h: the published-port spec, [HOST_IP:]HOST_PORT:GUEST_PORT.
 *
 * One parser for the CLI (-p/--publish, stored as config key publish=SPEC)
 * and for silo-netd (--publish), so both accept exactly the same text.
 * Pure code, no I/O. How silo-netd uses it: docs/network.md, "The broker".
 */
#ifndef SILO_NET_PUBLISH_H
#define SILO_NET_PUBLISH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

/* "[ffff:...:ffff]:65535:65535" with its NUL */
#define NET_PUBLISH_TEXT_MAX (INET6_ADDRSTRLEN + 2 + 12 + 1)

/* The host address when the spec names none: loopback only, so a published
 * port is not reachable from the network unless the user says so. */
#define NET_PUBLISH_DEFAULT_HOST "127.0.0.1"

struct net_publish {
	struct net_addr host; /* the address silo-netd listens on */
	uint16_t host_port;   /* 1..65535 */
	uint16_t guest_port;  /* 1..65535, on the guest's loopback */
};

/* Parse one spec:
 *   HOST_PORT:GUEST_PORT              8080:80 (host 127.0.0.1)
 *   IPV4:HOST_PORT:GUEST_PORT         0.0.0.0:8080:80
 *   [IPV6]:HOST_PORT:GUEST_PORT       [::1]:8080:80
 * Ports are decimal 1..65535 without leading zeros; addresses as
 * net_addr_parse (strict inet_pton). Returns 0, or -EINVAL with *why a
 * one-line reason for the user (the CLI prints it and exits 125). */
int net_publish_parse(const char *spec, struct net_publish *out, const char **why);

/* The canonical spec, which net_publish_parse reads back to the same value:
 * the host address always written ("127.0.0.1:8080:80", "[::1]:8080:80").
 * Returns its length, or -ENOSPC (then buf holds ""). */
int net_publish_format(const struct net_publish *p, char *buf, size_t len);

#endif
