/* listen_slots.h: the pool workers' shared table.  Pool workers accept
 * connections on the listening sockets themselves (no hop through
 * relay-listen per connection), so the connection caps live in a small
 * shared memory table (a memfd made by relay-listen, handed to each
 * worker): one slot per worker, IDLE or BUSY with its client's IP.  A
 * worker claims its slot for a connection under the table's lock, which
 * makes conn_max and conn_per_ip as exact as when relay-listen counted;
 * relay-listen frees the slot of a worker it reaps (kill -9 mid-session).
 * The lock is a robust process-shared mutex: a worker that dies holding
 * it does not wedge the others.  The counts a claim needs (open, idle,
 * per client net) are kept beside the slots, so a claim does not scan
 * the table: conn_max in the tens of thousands costs no more per
 * connection than 500. */
#ifndef LISTEN_SLOTS_H
#define LISTEN_SLOTS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "ipaddr.h"
#include "listen_caps.h"

/* SLOT_DRAINING: a worker serving many sessions that takes no more
 * (smtpd_max_use reached): neither idle nor a session.  SLOT_FULL: one
 * at its session cap for now (idle again when a session ends). */
enum listen_slot_state { SLOT_FREE = 0, SLOT_IDLE, SLOT_BUSY, SLOT_DRAINING,
			 SLOT_FULL };

struct listen_slot {
	int state;           /* enum listen_slot_state */
	long uses;           /* sessions served */
	time_t idle_since;
	struct ipaddr ip;    /* the client's net (ipaddr_client_net), while BUSY */
	size_t owner;        /* a session slot: its worker's slot + 1; else 0 */
};

struct listen_slots;

/* What a claim saw, for the log and for waking relay-listen. */
struct listen_slots_seen {
	size_t open, from_ip, idle;
};

/* relay-listen: a table of cap slots in a new memfd (*fd, close-on-exec)
 * with the caps of the run (IPv6 clients count per prefix6 bits); NULL
 * on failure. */
struct listen_slots *listen_slots_create(size_t cap, size_t conn_max,
					 size_t per_ip, int prefix6, int *fd);
/* A worker: map the table passed as fd; NULL when it is not one. */
struct listen_slots *listen_slots_attach(int fd);
size_t listen_slots_cap(const struct listen_slots *t);

/* relay-listen: a free slot for a new worker, marked IDLE; -1 when the
 * table is full. */
long listen_slots_take(struct listen_slots *t, time_t now);
/* relay-listen: the worker of slot i was reaped. */
void listen_slots_free(struct listen_slots *t, size_t i);
/* A copy of slot i (taken under the lock). */
struct listen_slot listen_slots_get(struct listen_slots *t, size_t i);

/* A worker: may slot i serve a connection from ip?  On OK the slot is
 * BUSY; seen says what the table held (this connection included). */
enum listen_caps_verdict listen_slots_claim(struct listen_slots *t, size_t i,
					    const struct ipaddr *ip,
					    struct listen_slots_seen *seen);
/* A worker: the session on slot i ended. */
void listen_slots_release(struct listen_slots *t, size_t i, time_t now);

/* A worker serving many sessions at once (smtpd_sessions_per_worker >
 * 1): its own slot stays IDLE, and each session takes a FREE slot of its
 * own, BUSY with the client's net and owned by the worker's slot i (so
 * that listen_slots_free(i), when the worker is reaped, frees them all).
 * The caps count them like any other.  The session slot, or -1 with *v
 * the refusal (LISTEN_CAPS_GLOBAL too when the table is full). */
long listen_slots_claim_session(struct listen_slots *t, size_t i,
				const struct ipaddr *ip,
				struct listen_slots_seen *seen,
				enum listen_caps_verdict *v);
/* Worker slot i takes no more sessions: not counted idle any more, so
 * that relay-listen starts another worker. */
void listen_slots_drain(struct listen_slots *t, size_t i);
/* Worker slot i is at its session cap (full) or has room again: a full
 * one is not counted idle, so that relay-listen starts another. */
void listen_slots_full(struct listen_slots *t, size_t i, int full, time_t now);
/* The session on slot j (from listen_slots_claim_session) ended. */
void listen_slots_release_session(struct listen_slots *t, size_t j);

#endif
