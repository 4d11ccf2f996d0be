/* policy_auth.h: SMTP AUTH password checks for relay-policy.  crypt(3)
 * takes tens of milliseconds by design, so each check runs in a forked
 * child that reports one byte on a pipe: the daemon's poll loop keeps
 * serving every other session meanwhile, and a crash or hang in libcrypt
 * cannot take the daemon down.  (A thread would share the address space
 * and the sanitizers' state; a fork per AUTH is cheap next to the hash.)
 * Failed attempts are counted over 10 minutes per client (an IPv4
 * address, an IPv6 /64), per user at a client, and per user.  A client
 * past cf.auth_fail_ip_max failures, or a user at a client past
 * cf.auth_fail_max, is answered 535 5.7.8 without a check; a user with
 * cf.auth_fail_user_max failures from anywhere is refused so only at
 * clients that already failed for it.  A failure never refuses a check
 * from a client without failures for that user and under its own cap:
 * guessing is slowed where it happens, and nobody can lock a user out
 * from elsewhere.
 * A password that crypt accepted recently for the same stored hash is
 * accepted from policy_authcache.h without a child: policy_auth_start
 * says AUTH_OK and the caller answers 235 at once (no pipe, no wake-up
 * more).  A miss or a wrong password always goes to a child, which
 * always pays the hash's cost, so a failure takes as long as before.
 * Checks of the same credentials that overlap share one child: a second
 * session presenting the same (user, password, stored hash) while a check
 * of it runs waits on a pipe of its own for that child's answer (pid -1:
 * no child of its own; the credentials are told apart by the cache's MAC, so
 * with auth_cache_ttl = 0 every check has its own child).  Without
 * this, N clients that connect at once after a start (the cache is
 * empty) fork N yescrypt children: N x 16 MiB and N x 22 ms of CPU for
 * one answer. */
#ifndef POLICY_AUTH_H
#define POLICY_AUTH_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "policy_authcache.h"
#include "policy_db.h"

#define POLICY_AUTH_WINDOW 600

struct policy_auth {
	pid_t pid;          /* 0 when no check is running, -1: waiting on another's */
	int fd;             /* read end: one byte '1' ok / '0' bad */
	char user[ADDR_MAX + 1], ip[64];
	unsigned char mac[AUTHCACHE_MAC]; /* to cache a success... */
	int cache;                        /* ...when set */
	/* sharing a running check (policy_auth.c): a waiter has lead set
	 * and its answer is written to wfd; a check's waiters hang on it */
	struct policy_auth *lead, *waiters, *next;
	int wfd;
};

enum policy_auth_start {
	AUTH_STARTED,       /* poll a->fd, then policy_auth_finish */
	AUTH_OK,            /* a cache hit: accepted now (a->user), nothing
			     * to poll or finish */
	AUTH_THROTTLED,     /* too many failures: answer 535 now */
	AUTH_ERROR,         /* could not fork: answer 454 */
};

enum policy_auth_start policy_auth_start(struct policy_auth *a,
					 const struct policy_lookup *lk,
					 const char *ip, const char *user,
					 const char *pass, long now);
/* Collect the result: 1 good, 0 bad (counted as a failure), -1 when the
 * child died without answering. */
int policy_auth_finish(struct policy_auth *a, long now);
/* Kill a running check (the session went away). */
void policy_auth_cancel(struct policy_auth *a);

/* PLAIN's authzid (RFC 4616) may only be the user itself, compared as
 * user names are (case-insensitively): acting for someone else is not
 * offered.  1 when authz is "" or that user. */
int policy_auth_authz_ok(const char *authz, const char *user);
/* An AUTH refused before any password check (an authzid naming someone
 * else): a failure counted as a wrong password is, unless ip is already
 * throttled for user (then, as there, nothing is counted). */
void policy_auth_refuse(const char *ip, const char *user, long now);

/* 1 when a check of user (lowercased) from ip is refused unchecked. */
int policy_auth_throttled(const char *ip, const char *user, long now);
/* The client an address counts as: itself for IPv4, "prefix/64" for
 * IPv6. */
void policy_auth_client(const char *ip, char *out, size_t n);
/* The failure counters by kind ("ip": a client, "pair": "user client",
 * "user"), exposed for tests. */
long policy_auth_fails(const char *kind, const char *name, long now);
void policy_auth_failed(const char *kind, const char *name, long now);

#endif
