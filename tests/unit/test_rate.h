/* test_rate.h: helpers shared by the rate unit tests (test_rate.c,
 * test_rate_concurrency.c): a fresh counters file in a temporary instance
 * directory, one message of n recipients, one recipient, a counter. */
#ifndef TEST_RATE_H
#define TEST_RATE_H

#include "../../policy/rate.h"
#include "rate_file.h"
#include "settings.h"
#include "t.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX], path[PATH_MAX + 16];
static const struct rate_limits nolim = { 0, 0, 0, 0 };

static inline void fresh(void)
{
	rate_close();
	unlink(path);
	if (rate_open(path) < 0) {
		printf("FAIL rate_open %s\n", path);
		exit(1);
	}
}

/* One message from user/customer to n recipients rcpt<first..first+n-1>
 * at now; returns how many were accepted, and commits them when any. */
static inline long send_msg(const char *user, const char *cust, long first, long n,
		     const struct rate_limits *l, long now,
		     enum rate_verdict *last)
{
	struct rate_txn *t = rate_txn_new();
	char rcpt[64];
	long ok = 0;

	*last = RATE_OK;
	for (long i = 0; i < n; i++) {
		snprintf(rcpt, sizeof rcpt, "r%ld@example.net", first + i);
		*last = rate_rcpt(t, user, cust, rcpt, l, now);
		if (*last == RATE_OK)
			ok++;
	}
	if (ok)
		rate_commit(t, now);
	rate_txn_free(t);
	return ok;
}

static inline enum rate_verdict one(const char *user, const char *cust,
			     const char *rcpt, const struct rate_limits *l,
			     long now, int commit)
{
	struct rate_txn *t = rate_txn_new();
	enum rate_verdict v = rate_rcpt(t, user, cust, rcpt, l, now);
	if (v == RATE_OK && commit)
		rate_commit(t, now);
	rate_txn_free(t);
	return v;
}

static inline long stat_of(enum rate_kind k, const char *name, long now, int what)
{
	struct rate_stats st;
	if (rate_stats_get(k, name, now, &st) < 0)
		return -1;
	return what == 0 ? st.msgs : what == 1 ? st.rcpts : st.peak;
}

/* A temporary instance directory with default settings and small
 * capacities (16 users, 16 customers). */
static inline void rate_t_setup(void)
{
	char tmpl[] = "/tmp/test_rate.XXXXXX";

	if (!mkdtemp(tmpl))
		exit(1);
	snprintf(dir, sizeof dir, "%s", tmpl);
	settings_load(dir);
	cf.rate_users_max = 16;
	cf.rate_customers_max = 16;
	snprintf(path, sizeof path, "%s/counters", dir);
}

static inline void rate_t_teardown(void)
{
	rate_close();
	unlink(path);
	rmdir(dir);
}

#endif
