/* listen_loop.h: relay-listen's event loop: keep the worker pool filled
 * and trimmed (or, without a pool, accept on every listener, apply the
 * caps and spawn), reap children (SIGCHLD through a self-pipe), stop on
 * SIGTERM (the sessions go on) or STOPSIG_RELAY (the sessions end too:
 * lib/stopsig.h). */
#ifndef LISTEN_LOOP_H
#define LISTEN_LOOP_H

#include <stddef.h>

#include "listen_sock.h"

/* Runs until SIGTERM/SIGINT/STOPSIG_RELAY; returns the exit status. */
int listen_loop_run(struct listen_sock *socks, size_t n);

#endif
