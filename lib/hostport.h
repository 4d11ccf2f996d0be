/* hostport.h: the next hop that relay.conf's relayhost and a relay.rules
 * route name: "[host]:port", "[host]", "host:port" or "host", the host a
 * DNS name or an IP address (IPv6 in brackets when a port follows). */
#ifndef HOSTPORT_H
#define HOSTPORT_H

#include <stddef.h>

/* host (n bytes) and *port (0 when none is given); -1, host untouched,
 * when s is not of that form or the port is not 1..65535. */
int hostport_parse(const char *s, char *host, size_t n, long *port);

#endif
