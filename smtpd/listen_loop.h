/* listen_loop.h: relay-listen's event loop: keep the worker pool filled
 * and trimmed (or, without a pool, accept on every listener, apply the
 * caps and spawn), reap children (SIGCHLD through a self-pipe), stop on
 * SIGTERM. */
#ifndef LISTEN_LOOP_H
#define LISTEN_LOOP_H

#include <stddef.h>

#include "listen_sock.h"

/* Runs until SIGTERM/SIGINT; returns the exit status. */
int listen_loop_run(struct listen_sock *socks, size_t n);

#endif
