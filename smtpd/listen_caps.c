/* listen_caps.c: connection accounting (see listen_caps.h).  A plain
 * array: conn_max is hundreds to a few thousand, and a scan of it costs
 * less than the fork that follows every accepted connection. */
#include "listen_caps.h"

#include <stdlib.h>
#include <string.h>

int listen_caps_init(struct listen_caps *c, size_t max, size_t per_ip,
		     int prefix6)
{
	c->n = 0;
	c->max = max;
	c->per_ip = per_ip;
	c->prefix6 = prefix6;
	c->conn = calloc(max ? max : 1, sizeof *c->conn);
	return c->conn ? 0 : -1;
}

void listen_caps_free(struct listen_caps *c)
{
	free(c->conn);
	c->conn = NULL;
	c->n = 0;
}

size_t listen_caps_count(const struct listen_caps *c, const struct ipaddr *ip)
{
	struct ipaddr net;
	size_t k = 0;

	ipaddr_client_net(ip, c->prefix6, &net);
	for (size_t i = 0; i < c->n; i++)
		if (memcmp(c->conn[i].ip.a, net.a, sizeof net.a) == 0)
			k++;
	return k;
}

enum listen_caps_verdict listen_caps_check(const struct listen_caps *c,
					   const struct ipaddr *ip)
{
	if (c->n >= c->max)
		return LISTEN_CAPS_GLOBAL;
	if (listen_caps_count(c, ip) >= c->per_ip)
		return LISTEN_CAPS_PER_IP;
	return LISTEN_CAPS_OK;
}

int listen_caps_add(struct listen_caps *c, const struct ipaddr *ip, pid_t pid)
{
	if (c->n >= c->max)
		return -1;
	c->conn[c->n].pid = pid;
	ipaddr_client_net(ip, c->prefix6, &c->conn[c->n].ip);
	c->n++;
	return 0;
}

int listen_caps_release(struct listen_caps *c, pid_t pid)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->conn[i].pid == pid) {
			c->conn[i] = c->conn[--c->n]; /* order does not matter */
			return 1;
		}
	return 0;
}
