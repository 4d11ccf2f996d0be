/* listen_sock.h: relay-listen's listening sockets, from cf.listen
 * (plain, STARTTLS offered) and cf.listen_tls (implicit TLS). */
#ifndef LISTEN_SOCK_H
#define LISTEN_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

#include "listen_spawn.h"

#define LISTEN_SOCK_MAX 32

struct listen_sock {
	int fd;
	int tls;          /* implicit TLS listener */
	char name[80];    /* as configured, for the log */
	/* bound to one address (not 0.0.0.0 or ::): every connection's
	 * local end is this one, no getsockname per connection */
	int fixed;
	char localip[64], localport[8];
};

/* Listeners reached by the same clients share pool workers; those on
 * different addresses (interfaces facing different networks) do not, so
 * a client of one never has its session in a process with another's.
 * The key: "*" for the wildcard addresses of both families, "loopback"
 * for 127.0.0.1 and ::1, else the address itself (pure; unit tested). */
void listen_sock_reach(const struct listen_sock *ls, char *key, size_t n);

/* Bind every listener (SO_REUSEADDR, IPV6_V6ONLY, non-blocking); exits
 * with a message when one cannot be bound.  Returns how many. */
size_t listen_sock_open_all(struct listen_sock *out, size_t max);

/* The UCSPI facts of connection fd, accepted on ls from ss. */
void listen_sock_peer(int fd, const struct sockaddr_storage *ss,
		      const struct listen_sock *ls, struct listen_peer *p);
/* Best effort, never blocking: a 421 with esc and text, before the
 * caller closes fd. */
void listen_sock_refuse(int fd, const char *esc, const char *text);

#endif
