/* rate.h: rate accounting (doc/BEHAVIOUR.md §3) over a shared-memory counters file
 * (cf.counters_file, mmap MAP_SHARED) owned by relay-policy, the single
 * writer.  relayctl (`relayctl stats`) and relay-metrics map the same
 * file read-only; nobody locks it (lib/rate_file.h: the seqlock).
 *
 * Windows slide: the daily window is 1441 one-minute buckets (never frees
 * a count before 24 h; at most 60 s after), the peak window 600 one-second
 * buckets (exact at the second).  ARCHITECTURE.md "Rate counters" has the
 * file format, memory per record and what happens when the file is full. */
#ifndef RATE_H
#define RATE_H

#include "rate_limits.h"
#include "rate_stats.h"

/* struct rate_limits { long user_msgs, user_rcpts, cust_daily, cust_peak; }
 * (0 = unlimited) and the functions that compute it from relay.conf and
 * rules.cdb values: lib/rate_limits.h. */

enum rate_verdict {
	RATE_OK,
	RATE_USER_DAILY, /* 550 5.4.5 Daily SMTP relay limit exceeded for user. */
	RATE_CUST_DAILY, /* 550 5.7.1 Daily SMTP relay limit exceeded for customer. */
	RATE_CUST_PEAK,  /* 450 4.2.1 Peak SMTP relay limit exceeded for customer. */
	RATE_FULL,       /* counters file full or unusable: answer 451 4.3.0
			  * (tempfail), never let mail through uncounted */
};

struct rate_txn;

/* Create or map the counters file (cf.counters_file) read-write; -1 on
 * error (logged).  A file of another version is renamed to PATH.bad and
 * recreated.  Capacities come from the settings (rate_users_max,
 * rate_customers_max, rate_user_rcpt_slots): an existing file is grown,
 * counters kept, when they ask for more, never shrunk. */
int rate_open(const char *path);
/* Map an existing file read-only (relayctl); -1 on error, errno set. */
int rate_open_readonly(const char *path);
/* msync + unmap; what open transactions reserved stays counted */
void rate_close(void);

struct rate_txn *rate_txn_new(void);
/* The transaction ends without a message: its reservations are taken
 * back out of the counters. */
void rate_txn_reset(struct rate_txn *t);
void rate_txn_free(struct rate_txn *t); /* reset, then free */

/* May rcpt join the transaction?  Considers what the counters file holds
 * (committed, and reserved by every open transaction, so two sessions can
 * never together commit more than a limit) + this recipient; on RATE_OK
 * reserves it: counted in the file at once, where a restart of
 * relay-policy finds it (a message may be queued with the admission
 * proof of this RCPT even if relay-policy dies before the commit).
 * user = envelope sender when it is a registered user, else
 * NULL; customer = customer name (NULL or "" = no customer limits).  Names and
 * recipients are compared case-insensitively.  Checks run in the order
 * user, customer daily, customer peak; the first exceeded is returned. */
enum rate_verdict rate_rcpt(struct rate_txn *t, const char *user,
			    const char *customer, const char *rcpt,
			    const struct rate_limits *lim, long now);
/* Message accepted: the reservations become counts at now (1 message +
 * unique new rcpts for the user, every rcpt for the customer), then t is
 * empty again. */
void rate_commit(struct rate_txn *t, long now);

/* Reading counters (relayctl stats, tests): lib/rate_stats.h. */

#endif
