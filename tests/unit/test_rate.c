// links: policy/rate.c policy/rate_set.c
/* test_rate.c: rate accounting with an injected clock — every boundary of
 * doc/BEHAVIOUR.md §3, sliding windows, limits, restart survival, a full file. */
#include "test_rate.h"

/* Windows on their own: table of adds and sums at given times. */
static void test_window(void)
{
	static const struct {
		const char *name;
		long add_at[3];
		long sum_at;
		long want;
	} cases[] = {
		{ "peak: count at 1000 still in at 1599", { 1000, 0, 0 }, 1599, 1 },
		{ "peak: count at 1000 out at 1600", { 1000, 0, 0 }, 1600, 0 },
		{ "peak: three, oldest out", { 1000, 1300, 1599 }, 1600, 2 },
		{ "peak: ring wraps twice", { 1000, 2300, 3500 }, 3600, 1 },
		{ "peak: clock back keeps count", { 5000, 4000, 0 }, 5000, 2 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rate_peak p;
		memset(&p, 0, sizeof p);
		for (int j = 0; j < 3; j++)
			if (cases[i].add_at[j])
				rate_window_add(RATE_PEAK(&p), cases[i].add_at[j], 1);
		T_CHECK(cases[i].name,
			rate_window_sum(RATE_PEAK(&p), cases[i].sum_at) == cases[i].want);
		rate_window_advance(RATE_PEAK(&p), cases[i].sum_at);
		T_CHECK("advanced total agrees with sum",
			p.w.total == cases[i].want);
	}
}

/* 10,000 unique recipients: the 10,000th accepted, the 10,001st refused,
 * a repeated one still accepted; the customer counts all. */
static void test_user_unique(void)
{
	struct rate_limits l = nolim;
	enum rate_verdict v;
	long ok = 0, now = 1000000;

	fresh();
	l.user_rcpts = 10000;
	for (int m = 0; m < 100; m++)
		ok += send_msg("Mailer@Example.com", "acme", m * 100L, 100, &l, now, &v);
	T_CHECK("user: 10,000 unique recipients accepted", ok == 10000 && v == RATE_OK);
	T_CHECK("user: 10,001st unique refused",
		one("mailer@example.com", "acme", "new@example.net", &l, now, 1) == RATE_USER_DAILY);
	T_CHECK("user: repeated recipient still accepted",
		one("mailer@example.com", "acme", "R5@example.net", &l, now, 1) == RATE_OK);
	T_CHECK("user: stats 10,000 unique", stat_of(RATE_USER, "mailer@example.com", now, 1) == 10000);
	T_CHECK("customer: counts every recipient (10,001)",
		stat_of(RATE_CUSTOMER, "ACME", now, 1) == 10001);
	T_CHECK("user: still refused a minute before the day is over",
		one("mailer@example.com", NULL, "new@example.net", &l, now + 86399, 0) == RATE_USER_DAILY);
	T_CHECK("user: room again after the daily window",
		one("mailer@example.com", NULL, "new@example.net", &l, now + 86460, 0) == RATE_OK);
}

/* 1,000 mails to A and 1,000 to B: 2 for the user, 2,000 for the customer. */
static void test_repeats(void)
{
	struct rate_limits l = nolim;
	enum rate_verdict v;
	long now = 2000000;

	fresh();
	for (int i = 0; i < 1000; i++) {
		send_msg("u@example.com", "acme", 1, 1, &l, now + i, &v);
		send_msg("u@example.com", "acme", 2, 1, &l, now + i, &v);
	}
	T_CHECK("repeats: user unique = 2", stat_of(RATE_USER, "u@example.com", now + 999, 1) == 2);
	T_CHECK("repeats: user messages = 2000", stat_of(RATE_USER, "u@example.com", now + 999, 0) == 2000);
	T_CHECK("repeats: customer = 2000", stat_of(RATE_CUSTOMER, "acme", now + 999, 1) == 2000);
	T_CHECK("repeats: same rcpt twice in one message counts once for the user",
		send_msg("v@example.com", "acme", 7, 1, &l, now, &v) == 1 &&
		one("v@example.com", "acme", "R7@EXAMPLE.NET", &l, now, 1) == RATE_OK &&
		stat_of(RATE_USER, "v@example.com", now, 1) == 1);
}

/* 10,000 messages: the 10,001st refused at its first RCPT. */
static void test_user_msgs(void)
{
	struct rate_limits l = nolim;
	long now = 3000000, ok = 0;

	fresh();
	l.user_msgs = 10000;
	for (int i = 0; i < 10000; i++)
		ok += one("u@example.com", NULL, "a@example.net", &l, now, 1) == RATE_OK;
	T_CHECK("user: 10,000 messages accepted", ok == 10000);
	T_CHECK("user: 10,001st message refused",
		one("u@example.com", NULL, "a@example.net", &l, now, 1) == RATE_USER_DAILY);
	T_CHECK("user: other user not affected",
		one("w@example.com", NULL, "a@example.net", &l, now, 1) == RATE_OK);
}

/* 1 license, paid: 9 per 10 minutes.  The 10th refused; room again exactly
 * 600 s after the first counted recipient. */
static void test_peak(void)
{
	struct rate_limits l;
	enum rate_verdict v;
	long t0 = 4000000;

	fresh();
	rate_limits_default(&l, 1, 1);
	T_CHECK("peak: 5 then 4 accepted",
		send_msg(NULL, "one", 0, 5, &l, t0, &v) == 5 &&
		send_msg(NULL, "one", 5, 4, &l, t0 + 100, &v) == 4);
	T_CHECK("peak: 10th refused with RATE_CUST_PEAK",
		one(NULL, "one", "x@example.net", &l, t0 + 100, 1) == RATE_CUST_PEAK);
	T_CHECK("peak: still refused at t0+599",
		one(NULL, "one", "x@example.net", &l, t0 + 599, 1) == RATE_CUST_PEAK);
	T_CHECK("peak: 5 free at t0+600, the 6th not",
		send_msg(NULL, "one", 20, 6, &l, t0 + 600, &v) == 5 && v == RATE_CUST_PEAK);
	T_CHECK("peak: stats peak 9 at t0+600", stat_of(RATE_CUSTOMER, "one", t0 + 600, 2) == 9);
	T_CHECK("peak: 4 more free at t0+700",
		send_msg(NULL, "one", 30, 5, &l, t0 + 700, &v) == 4 && v == RATE_CUST_PEAK);
}

/* Daily customer window: 130 for 1 license; slides by the minute and never
 * frees a count before 24 h: no reset at midnight. */
static void test_daily(void)
{
	struct rate_limits l = nolim;
	enum rate_verdict v;
	long t0 = 86400L * 20000 - 60; /* a minute before midnight UTC */
	long free_at = (t0 / 60 + 1441) * 60;

	fresh();
	l.cust_daily = 130;
	T_CHECK("daily: 130 accepted at 23:59",
		send_msg(NULL, "c", 0, 130, &l, t0, &v) == 130);
	T_CHECK("daily: 131st refused RATE_CUST_DAILY",
		one(NULL, "c", "y@example.net", &l, t0, 1) == RATE_CUST_DAILY);
	T_CHECK("daily: no reset at midnight",
		one(NULL, "c", "y@example.net", &l, t0 + 120, 1) == RATE_CUST_DAILY);
	T_CHECK("daily: still refused 24 h after (never early)",
		one(NULL, "c", "y@example.net", &l, t0 + 86400, 1) == RATE_CUST_DAILY);
	T_CHECK("daily: still refused a second before the bucket leaves",
		one(NULL, "c", "y@example.net", &l, free_at - 1, 1) == RATE_CUST_DAILY);
	T_CHECK("daily: room when the bucket leaves",
		send_msg(NULL, "c", 200, 131, &l, free_at, &v) == 130 && v == RATE_CUST_DAILY);
	{
		struct rate_stats st;
		T_CHECK("daily: stats free_at",
			rate_stats_get(RATE_CUSTOMER, "c", free_at, &st) == 0 &&
			st.rcpts == 130 && st.rcpts_free_at == (free_at / 60 + 1441) * 60 &&
			st.peak_free_at == free_at + 600);
	}
}

/* Unpaid: 100 per day, 50 per 10 minutes; defaults and caps. */
static void test_unpaid(void)
{
	struct rate_limits l;
	enum rate_verdict v;
	long t0 = 5000000;

	rate_limits_default(&l, 3, 0);
	T_CHECK("limits: unpaid 100/50", l.cust_daily == 100 && l.cust_peak == 50);
	rate_limits_default(&l, 2, 1);
	T_CHECK("limits: paid 2 licenses 260/18", l.cust_daily == 260 && l.cust_peak == 18);
	rate_limits_default(&l, 1000000, 1);
	T_CHECK("limits: caps 4,600,000/319,444",
		l.cust_daily == 4600000 && l.cust_peak == 319444);
	T_CHECK("limits: user 10,000/10,000", l.user_msgs == 10000 && l.user_rcpts == 10000);
	rate_limits_default(&l, 0, 1);
	T_CHECK("limits: 0 licenses counts as 1", l.cust_daily == 130 && l.cust_peak == 9);

	{
		static const struct {
			const char *name, *cust, *user;
			struct rate_limits want;
		} rules[] = {
			{ "rules: no customer value = 1 paid license", NULL, NULL, { 10000, 10000, 130, 9 } },
			{ "rules: 10 licenses", "licenses=10\npaid=yes\n", NULL, { 10000, 10000, 1300, 90 } },
			{ "rules: unpaid", "licenses=10\npaid=no\n", NULL, { 10000, 10000, 100, 50 } },
			{ "rules: customer overrides", "licenses=2\ndaily=7\npeak=3\nuser_messages=5\n", NULL, { 5, 10000, 7, 3 } },
			{ "rules: user overrides customer", "user_rcpts=20\n", "user_messages=4\nuser_rcpts=6\n", { 4, 6, 130, 9 } },
			{ "rules: 0 = unlimited override", "peak=0\n", "user_rcpts=0\n", { 10000, 0, 130, 0 } },
		};
		for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
			rate_limits_rules(&l, rules[i].cust, rules[i].user);
			T_CHECK(rules[i].name, !memcmp(&l, &rules[i].want, sizeof l));
		}
	}

	fresh();
	rate_limits_default(&l, 3, 0);
	T_CHECK("unpaid: 50 in 10 minutes, 51st peak",
		send_msg(NULL, "free", 0, 51, &l, t0, &v) == 50 && v == RATE_CUST_PEAK);
	T_CHECK("unpaid: 50 more after 10 minutes, then daily",
		send_msg(NULL, "free", 100, 51, &l, t0 + 600, &v) == 50 && v == RATE_CUST_DAILY);
	T_CHECK("unpaid: daily refusal wins over peak later",
		one(NULL, "free", "z@example.net", &l, t0 + 1300, 1) == RATE_CUST_DAILY);
}

/* A refused or aborted transaction costs nothing; counters survive a
 * close and reopen (restart of relay-policy). */
static void test_abort_restart(void)
{
	struct rate_limits l;
	struct rate_txn *t;
	enum rate_verdict v;
	long t0 = 6000000;

	fresh();
	rate_limits_default(&l, 1, 1);
	t = rate_txn_new();
	for (int i = 0; i < 9; i++)
		rate_rcpt(t, "u@example.com", "acme", "a@example.net", &l, t0);
	T_CHECK("abort: 10th refused while 9 pending",
		one(NULL, "acme", "b@example.net", &l, t0, 0) == RATE_CUST_PEAK);
	rate_txn_reset(t);
	T_CHECK("abort: nothing counted",
		stat_of(RATE_CUSTOMER, "acme", t0, 1) == 0 &&
		stat_of(RATE_USER, "u@example.com", t0, 0) == 0);
	T_CHECK("abort: room again after reset",
		send_msg("u@example.com", "acme", 0, 7, &l, t0, &v) == 7);
	rate_txn_free(t);

	rate_close();
	T_CHECK("restart: reopen", rate_open(path) == 0);
	T_CHECK("restart: customer counters intact", stat_of(RATE_CUSTOMER, "acme", t0, 2) == 7);
	T_CHECK("restart: user counters intact",
		stat_of(RATE_USER, "u@example.com", t0, 0) == 1 &&
		stat_of(RATE_USER, "u@example.com", t0, 1) == 7);
	T_CHECK("restart: limits still enforced",
		send_msg("u@example.com", "acme", 50, 3, &l, t0 + 1, &v) == 2 && v == RATE_CUST_PEAK);
	rate_close();
	T_CHECK("restart: read-only open", rate_open_readonly(path) == 0 &&
		stat_of(RATE_CUSTOMER, "acme", t0 + 1, 2) == 9);
	T_CHECK("restart: read-only map refuses writes (RATE_FULL)",
		one(NULL, "acme", "q@example.net", &l, t0 + 1, 1) == RATE_FULL);
	rate_close();
	T_CHECK("restart: reopen read-write", rate_open(path) == 0);
}

/* A full file refuses (tempfail) rather than let mail through uncounted,
 * and reuses a record idle for a day. */
static void test_full(void)
{
	char name[64], longname[300];
	long now = 9000000, ok = 0;

	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';

	fresh(); /* cf.rate_users_max = 16 */
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "user%d@example.com", i);
		ok += one(name, NULL, "a@example.net", &nolim, now, 1) == RATE_OK;
	}
	T_CHECK("full: 16 users fit", ok == 16);
	T_CHECK("full: 17th user gets RATE_FULL",
		one("late@example.com", NULL, "a@example.net", &nolim, now + 3600, 1) == RATE_FULL);
	T_CHECK("full: a day later an idle record is reused",
		one("late@example.com", NULL, "a@example.net", &nolim, now + 86460, 1) == RATE_OK);
	T_CHECK("full: the reused record starts empty",
		stat_of(RATE_USER, "late@example.com", now + 86460, 0) == 1);
	T_CHECK("full: the other users are still found",
		stat_of(RATE_USER, "user15@example.com", now + 86460, 0) == 0 &&
		one("user15@example.com", NULL, "b@example.net", &nolim, now + 86460, 1) == RATE_OK &&
		stat_of(RATE_USER, "user15@example.com", now + 86460, 0) == 1);
	T_CHECK("full: names too long refused",
		one(NULL, longname, "a@example.net", &nolim, now, 1) == RATE_FULL);
}

/* A small recipient set (64 slots, 56 live): full is a tempfail, and a
 * day later the expired entries are compacted away and reused. */
static void test_set(void)
{
	enum rate_verdict v;
	long now = 10000000, saved = cf.rate_user_rcpt_slots;

	cf.rate_user_rcpt_slots = 64;
	fresh();
	T_CHECK("set: 56 unique fit in 64 slots",
		send_msg("u@example.com", NULL, 0, 56, &nolim, now, &v) == 56);
	T_CHECK("set: the 57th is RATE_FULL (never uncounted)",
		one("u@example.com", NULL, "more@example.net", &nolim, now, 1) == RATE_FULL);
	T_CHECK("set: a known one still fits",
		one("u@example.com", NULL, "r3@example.net", &nolim, now + 60, 1) == RATE_OK);
	T_CHECK("set: a day later 55 new ones fit beside r3 (compaction)",
		send_msg("u@example.com", NULL, 100, 56, &nolim, now + 86460, &v) == 55 &&
		v == RATE_FULL);
	T_CHECK("set: 56 live", stat_of(RATE_USER, "u@example.com", now + 86460, 1) == 56);
	T_CHECK("set: a minute later r3 left, an old recipient counts as new",
		send_msg("u@example.com", NULL, 0, 1, &nolim, now + 86520, &v) == 1 &&
		stat_of(RATE_USER, "u@example.com", now + 86520, 1) == 56);
	T_CHECK("set: empty user and customer names mean none",
		one("", "", "x@example.net", &nolim, now, 1) == RATE_OK);
	cf.rate_user_rcpt_slots = saved;
	fresh();
}

/* Raising the capacities grows the file and keeps every counter. */
static void test_grow(void)
{
	char name[64];
	long now = 11000000, ok = 0;
	enum rate_verdict v;

	fresh(); /* 16 users, 16 customers, 64 recipient slots */
	cf.rate_user_rcpt_slots = 64;
	fresh();
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "user%d@example.com", i);
		ok += send_msg(name, "acme", i * 100L, 40, &nolim, now, &v) == 40;
	}
	T_CHECK("grow: 16 users x 40 recipients", ok == 16);
	T_CHECK("grow: the 17th user is RATE_FULL",
		one("late@example.com", "acme", "a@example.net", &nolim, now, 1) == RATE_FULL);
	rate_close();
	cf.rate_users_max = 40;
	cf.rate_customers_max = 20;
	cf.rate_user_rcpt_slots = 256;
	T_CHECK("grow: reopen with larger settings", rate_open(path) == 0 &&
		rate_file_cap(RATE_USER) == 40 && rate_file_cap(RATE_CUSTOMER) == 20 &&
		rate_map.h->set_slots == 256);
	T_CHECK("grow: counters kept",
		stat_of(RATE_CUSTOMER, "acme", now, 1) == 640 &&
		stat_of(RATE_USER, "user7@example.com", now, 1) == 40 &&
		stat_of(RATE_USER, "user15@example.com", now, 0) == 1);
	T_CHECK("grow: a known recipient is still known after the rehash",
		one("user7@example.com", NULL, "r705@example.net", &nolim, now, 1) == RATE_OK &&
		stat_of(RATE_USER, "user7@example.com", now, 1) == 40);
	T_CHECK("grow: the 17th user fits now, and 100 recipients too",
		send_msg("late@example.com", "acme", 0, 100, &nolim, now, &v) == 100);
	rate_close();
	cf.rate_users_max = 8;
	T_CHECK("grow: a smaller setting never shrinks the file",
		rate_open(path) == 0 && rate_file_cap(RATE_USER) == 40 &&
		stat_of(RATE_USER, "late@example.com", now, 1) == 100);
	cf.rate_users_max = 16;
	cf.rate_customers_max = 16;
	cf.rate_user_rcpt_slots = 12800;
	fresh();
}

/* A damaged or foreign file is moved aside and replaced. */
static void test_bad_file(void)
{
	FILE *f;
	char bad[PATH_MAX + 32];

	rate_close();
	unlink(path);
	f = fopen(path, "w");
	fputs("not a counters file\n", f);
	fclose(f);
	T_CHECK("bad file: read-only open refuses", rate_open_readonly(path) < 0);
	T_CHECK("bad file: read-write open recreates", rate_open(path) == 0);
	snprintf(bad, sizeof bad, "%s.bad", path);
	{
		char got[64] = "";
		f = fopen(bad, "r");
		if (f) {
			if (!fgets(got, sizeof got, f))
				got[0] = '\0';
			fclose(f);
		}
		T_STREQ("bad file: old one kept as .bad", got, "not a counters file\n");
	}
	T_CHECK("bad file: the new one works",
		one(NULL, "c", "a@example.net", &nolim, 1000, 1) == RATE_OK &&
		stat_of(RATE_CUSTOMER, "c", 1000, 1) == 1);
	unlink(bad);
}

int main(void)
{
	rate_t_setup();
	test_window();
	test_user_unique();
	test_repeats();
	test_user_msgs();
	test_peak();
	test_daily();
	test_unpaid();
	test_abort_restart();
	test_full();
	test_set();
	test_grow();
	test_bad_file();
	rate_t_teardown();
	return t_done();
}
