/* test_policy_auth.h: the users table the policy_auth unit tests check
 * against: one user, mailer@example.com, whose stored hash is
 * fake_hash (a test may change it), and no suspensions. */
#ifndef TEST_POLICY_AUTH_H
#define TEST_POLICY_AUTH_H

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

#endif
