/* test_policy_auth.h: the users table the policy_auth unit tests check
 * against: one user, mailer@example.com, whose stored hash is
 * fake_hash (a test may change it), and no suspensions. */
#ifndef TEST_POLICY_AUTH_H
#define TEST_POLICY_AUTH_H

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "../../policy/policy_auth.h"

/* yescrypt of "secret1" */
#define FAKE_H1 "$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74"

static char fake_hash[256] = FAKE_H1;

static long fake_get(void *ctx, enum policy_table t, const char *key,
		     char *val, size_t n)
{
	(void)ctx;
	if (t == POLICY_USERS && !strcmp(key, "user:mailer@example.com"))
		return snprintf(val, n, "hash=%s\ncustomer=acme\n", fake_hash);
	return -1;
}

static int fake_susp(void *ctx, const char *kind, const char *name)
{
	(void)ctx;
	(void)kind;
	(void)name;
	return 0;
}

static struct policy_lookup fake_lk = { fake_get, fake_susp, NULL };

/* 1 when nothing of a is left to wait on or wipe: no child, no pipe,
 * the MAC zeroed (what an AUTH_OK leaves). */
static inline int auth_idle(const struct policy_auth *a)
{
	static const unsigned char zero[AUTHCACHE_MAC];
	return a->pid == 0 && a->fd == -1 && !a->cache &&
	       !memcmp(a->mac, zero, sizeof zero);
}

/* One AUTH check to its verdict: policy_auth_finish's (or 1 for a cache
 * hit, answered at once), 2 throttled, -2 error, -3 no answer in 20 s,
 * -4 a hit that left a child, a pipe or the MAC behind; *cached (may be
 * NULL) says whether it was answered from the cache. */
static inline int auth_check(const struct policy_lookup *lk, const char *ip,
			     const char *user, const char *pass, long now,
			     int *cached)
{
	struct policy_auth a = { .fd = -1 };
	struct pollfd p;

	switch (policy_auth_start(&a, lk, ip, user, pass, now)) {
	case AUTH_THROTTLED:
		return 2;
	case AUTH_ERROR:
		return -2;
	case AUTH_OK:
		if (cached)
			*cached = 1;
		return auth_idle(&a) ? 1 : -4;
	default:
		break;
	}
	if (cached)
		*cached = 0;
	p.fd = a.fd;
	p.events = POLLIN;
	if (poll(&p, 1, 20000) != 1)
		return -3;
	return policy_auth_finish(&a, now);
}

#endif
