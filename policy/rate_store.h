/* rate_store.h: relay-policy's rate accounting, one interface over two
 * stores (relay.conf rate_store):
 *   local  the counters file of this box (policy/rate.c), the default
 *   redis  counts shared by a fleet of boxes in Redis or Valkey
 *          (policy/rate_redis.c over lib/rstore.h): every RCPT is one
 *          atomic script run, so limits stay exact across boxes
 * Same limits, same order of checks, same verdicts and replies for both.
 * When Redis does not answer within rate_store_timeout: rate_store_fail
 * = defer gives RATE_FULL (451 4.3.0), = local counts in the counters
 * file and adds those counts to Redis once it is back, in the
 * background while decisions go on (a log line says how much the fleet
 * may have over-admitted meanwhile). */
#ifndef RATE_STORE_H
#define RATE_STORE_H

#include <stdint.h>

#include "rate.h"
#include "rate_file.h"

struct rate_stxn {
	struct rate_txn *local;   /* the counters file's side */
	struct rflight *flight;   /* a RCPT waiting for Redis, or NULL */
	char id[96];              /* this transaction's id in Redis, "" none */
	char user[RATE_NAME_MAX], cust[RATE_NAME_MAX]; /* lowercased */
	int n;                    /* recipients reserved in Redis: id:1..n */
	int umsg;                 /* the user's message is reserved there */
	/* what the RCPTs sent may have reserved, replies or not (one that
	 * timed out was still run by Redis): id:1..nsent, the user's
	 * message when usent; all taken out at the end (ZREM of a member
	 * that is not there is harmless) */
	int nsent, usent;
	int nlocal;               /* recipients admitted on local counts */
	uint64_t *h;              /* every admitted recipient's hash */
	size_t nh, cap;
};

/* Open the store(s) of relay.conf in two steps: rate_store_open() as
 * root, before privileges drop (the Redis AUTH file is read here), then
 * rate_store_counters_open() after the drop (the counters file is
 * user_policy's, in its folder: opened, checked, set aside or grown
 * with user_policy's rights only).  Each: 0, or -1 (logged): no store,
 * so every recipient gets 451 4.3.0. */
int rate_store_open(void);
int rate_store_counters_open(void);
void rate_store_close(void);
/* 1 when rate_store names Redis. */
int rate_store_shared(void);
/* The Redis client (for the shared suspensions), or NULL. */
struct rstore *rate_store_client(void);

struct rate_stxn *rate_store_txn_new(void);
void rate_store_txn_reset(struct rate_stxn *t);
void rate_store_txn_free(struct rate_stxn *t); /* reset, then free */
/* The session went away without telling how its transaction ended
 * (relay-smtpd died, or closed the connection after a timeout): the
 * admission proof of its last accepted RCPT may still bring a message
 * into the queue, so what it reserved is counted as a message (as
 * rate_store_commit), then t is freed.  Only an explicit reset takes a
 * reservation back. */
void rate_store_txn_drop(struct rate_stxn *t, long now);
/* As rate_rcpt (policy/rate.h), on the configured store. */
enum rate_verdict rate_store_rcpt(struct rate_stxn *t, const char *user,
				  const char *customer, const char *rcpt,
				  const struct rate_limits *lim, long now);
/* As rate_commit. */
void rate_store_commit(struct rate_stxn *t, long now);

/* relay-policy's loop does not wait for Redis: a RCPT on the shared
 * store is sent, the session waits (its socket unread) and the verdict
 * comes to fn(tag, verdict) once Redis answers, or fails, or its
 * timeout passes.  rate_store_rcpt_start: 1 when it went so, else 0
 * with the verdict in *v (local store, Redis known down: at once).
 * The loop polls rate_store_fd (-1: none) for POLLIN, at most
 * rate_store_wait_ms (-1: no limit), and calls rate_store_poll after
 * every wake-up. */
typedef void (*rate_rcpt_done_fn)(void *tag, enum rate_verdict v);
void rate_store_on_rcpt(rate_rcpt_done_fn fn);
int rate_store_rcpt_start(struct rate_stxn *t, const char *user,
			  const char *customer, const char *rcpt,
			  const struct rate_limits *lim, long now, void *tag,
			  enum rate_verdict *v);
int rate_store_fd(void);
int rate_store_wait_ms(void);
void rate_store_poll(void);
/* relay-policy's loop is idle: counts Redis missed go to it now if it
 * answers again (so a box without traffic reconciles too). */
void rate_store_tick(void);

/* The Redis side (policy/rate_redis.c).  -1 when Redis did not answer;
 * else a verdict (rcpt) or 0. */
struct rstore;
int rate_redis_init(struct rstore *rs);
int rate_redis_rcpt(struct rate_stxn *t, const char *rcpt,
		    const struct rate_limits *lim);
/* The same without waiting: sent with tag (rstore_send), -1 when not;
 * its reply (NULL: lost) then gives the verdict through
 * rate_redis_rcpt_result (quiet: inside a done function; a connection
 * to reset is then reported by rate_redis_reset_wanted). */
struct redisReply;
int rate_redis_rcpt_send(struct rate_stxn *t, const char *rcpt,
			 const struct rate_limits *lim, void *tag,
			 uint64_t *h, int *umsg);
int rate_redis_rcpt_result(struct rate_stxn *t, const struct redisReply *rep,
			   uint64_t h, int umsg, int quiet);
int rate_redis_reset_wanted(void);
/* Inside a done function: a reply says the connection is to be reset
 * (an error); rate_redis_reset_wanted then reports it. */
void rate_redis_reset_later(void);
/* Send t's commit without waiting for it; the reply goes to the done
 * function with tag (lib/rstore.h).  -1 when not sent. */
int rate_redis_commit(struct rate_stxn *t, void *tag);
int rate_redis_release(struct rate_stxn *t);
/* The highest reservation index t's RCPTs may have made in Redis. */
int rate_redis_npend(const struct rate_stxn *t);
/* A transaction id unique in the fleet, into id (n bytes). */
void rate_redis_new_id(char *id, size_t n);
/* Count a message that Redis did not see (replayed later): the id and
 * number of the reservations it made there (taken out; "" and 0 for
 * none), user/cust "" for none, hashes of its recipients, when it was
 * accepted.  Sent without waiting, as rate_redis_commit. */
int rate_redis_replay(const char *id, int npend, const char *user,
		      const char *cust, long count, const uint64_t *h,
		      size_t nh, long when, void *tag);
const char *rate_redis_error(void);

#endif
