/* listen_addr.h: the listen addresses of relay.conf (listen, listen_tls):
 * their syntax, their names, and whether a socket's local end is one of
 * them (relay-listen binds them; relay-policy believes a client socket
 * only when it was accepted on one). */
#ifndef LISTEN_ADDR_H
#define LISTEN_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "127.0.0.1:2525", "[::1]:2525", "0.0.0.0:25", "[::]:465" into ss;
 * -1 when malformed. */
int listen_addr_parse(const char *spec, struct sockaddr_storage *ss,
		      socklen_t *len);
/* Numeric host and port of an address. */
void listen_addr_name(const struct sockaddr_storage *ss, char *ip,
		      size_t ipsz, char *port, size_t portsz);
/* 1 when ss is the wildcard address (0.0.0.0 or ::) of its family. */
int listen_addr_is_any(const struct sockaddr_storage *ss);
/* 1 when local (a socket's own end) is an address of cf.listen or
 * cf.listen_tls: the same family and port, and the same address unless
 * the listener's is the wildcard.  The lists are parsed at the first
 * call (relay.conf does not change under a running daemon). */
int listen_addr_ours(const struct sockaddr_storage *local);
/* 1 when a connection to peer (an address and port to connect to) would
 * reach one of those listeners, i.e. this relay itself: the same port,
 * and the listener's address or, for a wildcard listener, any address
 * of this host (loopback, an interface's address).  The unspecified
 * address counts as loopback and an IPv4-mapped IPv6 address as its
 * IPv4 address, as connect() takes them. */
int listen_addr_is_self(const struct sockaddr_storage *peer);

#endif
