/* listen_spawn.h: handing an accepted connection to relay-smtpd.
 * Today: fork + exec of relay-smtpd per connection with the UCSPI
 * environment.  This is the one seam where a pool of long-lived smtpd
 * workers could take over: listen_spawn() would then send the socket and
 * the same variables (as a kv frame) to an idle worker over SCM_RIGHTS
 * and return the worker's pid; listen_caps does not care which. */
#ifndef LISTEN_SPAWN_H
#define LISTEN_SPAWN_H

#include <sys/socket.h>
#include <sys/types.h>

/* Find relay-smtpd next to our own binary (/proc/self/exe); call before
 * dropping privileges.  Exits when it is not there. */
void listen_spawn_init(void);

/* The UCSPI view of one connection. */
struct listen_peer {
	char ip[64], port[8], localip[64], localport[8];
	int tls;
};

/* Start serving fd (not closed here); returns the child's pid or -1. */
pid_t listen_spawn(int fd, const struct listen_peer *p);

#endif
