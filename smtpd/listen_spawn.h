/* listen_spawn.h: starting relay-smtpd: fork + exec per connection with
 * the UCSPI environment (smtpd_workers_min = 0), or a pool worker
 * (relay-smtpd -w) with its control socket on fd 0 (listen_pool.c). */
#ifndef LISTEN_SPAWN_H
#define LISTEN_SPAWN_H

#include <sys/socket.h>
#include <sys/types.h>

/* Find relay-smtpd next to our own binary (/proc/self/exe); call before
 * dropping privileges.  Exits when it is not there. */
void listen_spawn_init(void);

/* After dropping root: warn when user_smtpd can read relay-smtpd (then
 * each worker is dumpable until its first instruction; make install
 * makes it execute-only, 0711). */
void listen_spawn_check_exec_only(void);

/* The UCSPI view of one connection. */
struct listen_peer {
	char ip[64], port[8], localip[64], localport[8];
	int tls;
};

/* Start serving fd (not closed here); returns the child's pid or -1. */
pid_t listen_spawn(int fd, const struct listen_peer *p);

/* Start a pool worker; *ctl gets relay-listen's end of its control
 * socket (non-blocking, close-on-exec).  The child's pid or -1. */
pid_t listen_spawn_worker(int *ctl);

#endif
