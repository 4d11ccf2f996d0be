/* listen_caps.h: relay-listen's connection accounting: a global cap
 * (cf.conn_max) and a cap per client IP (cf.conn_per_ip), one slot per
 * running relay-smtpd, released when the child is reaped. */
#ifndef LISTEN_CAPS_H
#define LISTEN_CAPS_H

#include <stddef.h>
#include <sys/types.h>

#include "ipaddr.h"

struct listen_conn {
	pid_t pid;
	struct ipaddr ip;
};

struct listen_caps {
	struct listen_conn *conn; /* max slots, the first n in use; ip is
				   * the client's net (ipaddr_client_net) */
	size_t n, max, per_ip;
	int prefix6;              /* cf.conn_per_ip_prefix6 */
};

enum listen_caps_verdict {
	LISTEN_CAPS_OK = 0,
	LISTEN_CAPS_GLOBAL,   /* conn_max connections are open */
	LISTEN_CAPS_PER_IP,   /* conn_per_ip connections from this IP */
};

/* IPv6 clients count per prefix6 bits (IPv4 ones per address); -1 when
 * out of memory. */
int listen_caps_init(struct listen_caps *c, size_t max, size_t per_ip,
		     int prefix6);
void listen_caps_free(struct listen_caps *c);
/* May one more connection from ip be served? */
enum listen_caps_verdict listen_caps_check(const struct listen_caps *c,
					   const struct ipaddr *ip);
/* Take a slot for child pid (after a check said OK); -1 when full. */
int listen_caps_add(struct listen_caps *c, const struct ipaddr *ip, pid_t pid);
/* Release pid's slot; 1 when it had one, 0 when unknown. */
int listen_caps_release(struct listen_caps *c, pid_t pid);
/* Open connections from ip's client net. */
size_t listen_caps_count(const struct listen_caps *c, const struct ipaddr *ip);

#endif
