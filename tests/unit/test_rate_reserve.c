// links: policy/rate.c policy/rate_set.c policy/rate_store.c policy/rate_redis.c
/* test_rate_reserve.c: a recipient accepted at RCPT is counted in the
 * counters file at once (doc/BEHAVIOUR.md §3: mail is never relayed
 * uncounted, even when relay-policy dies between the RCPT that gave
 * smtpd its admission proof and the commit).  A reset takes the
 * reservation back, a commit moves it to the commit's time, a crash (the
 * file closed with the transaction open) leaves it counted, and a session
 * that vanishes without a reset is counted as a message. */
#include "test_rate.h"
#include "../../policy/rate_store.h"

#define CUST(now) stat_of(RATE_CUSTOMER, "acme", (now), 1)
#define PEAK(now) stat_of(RATE_CUSTOMER, "acme", (now), 2)
#define UMSGS(now) stat_of(RATE_USER, "u@example.com", (now), 0)
#define URCPTS(now) stat_of(RATE_USER, "u@example.com", (now), 1)

static struct rate_limits peak3(void)
{
	struct rate_limits l = nolim;
	l.cust_peak = 3;
	return l;
}

static long reserve(struct rate_txn *t, const char *user, long n, long now)
{
	struct rate_limits l = peak3();
	char rcpt[64];
	long ok = 0;

	for (long i = 0; i < n; i++) {
		snprintf(rcpt, sizeof rcpt, "r%ld@example.net", i);
		ok += rate_rcpt(t, user, "acme", rcpt, &l, now) == RATE_OK;
	}
	return ok;
}

/* Reserved = counted where relayctl stats, and a restart, see it. */
static void test_counted_at_rcpt(void)
{
	struct rate_limits l = peak3();
	struct rate_txn *t = rate_txn_new();
	long t0 = 2000000;

	fresh();
	T_CHECK("reserve: 3 of a peak of 3 accepted",
		reserve(t, "u@example.com", 3, t0) == 3);
	T_CHECK("reserve: the file counts them before any commit",
		CUST(t0) == 3 && PEAK(t0) == 3 && UMSGS(t0) == 1 &&
		URCPTS(t0) == 3);
	T_CHECK("reserve: the 4th is refused (450), N+1",
		one(NULL, "acme", "x@example.net", &l, t0, 0) == RATE_CUST_PEAK);
	rate_txn_reset(t);
	T_CHECK("reset: every reservation taken back",
		CUST(t0) == 0 && PEAK(t0) == 0 && UMSGS(t0) == 0 &&
		URCPTS(t0) == 0);
	T_CHECK("reset: room again", reserve(t, NULL, 3, t0) == 3);
	rate_commit(t, t0);
	T_CHECK("commit: counted once, not twice",
		CUST(t0) == 3 && PEAK(t0) == 3);
	rate_txn_free(t);
	T_CHECK("commit: free after commit takes nothing back",
		CUST(t0) == 3);
}

/* relay-policy killed with a transaction open: the file, reopened by
 * the next relay-policy, still counts it. */
static void test_crash(void)
{
	struct rate_limits l = peak3();
	struct rate_txn *t = rate_txn_new();
	long t0 = 3000000;

	fresh();
	reserve(t, "u@example.com", 3, t0);
	rate_close(); /* as a crash: no reset, no commit */
	T_CHECK("crash: reopen", rate_open(path) == 0);
	T_CHECK("crash: the reservation is still counted",
		CUST(t0 + 5) == 3 && PEAK(t0 + 5) == 3 && UMSGS(t0 + 5) == 1);
	T_CHECK("crash: the next recipient gets 450",
		one(NULL, "acme", "y@example.net", &l, t0 + 5, 0) == RATE_CUST_PEAK);
	rate_txn_reset(t); /* of the old mapping: takes nothing back */
	T_CHECK("crash: a stale transaction's reset changes nothing",
		CUST(t0 + 5) == 3);
	rate_txn_free(t);
	T_CHECK("crash: the peak frees 600 s after the RCPTs",
		one(NULL, "acme", "y@example.net", &l, t0 + 600, 0) == RATE_OK);
}

/* A commit counts from the commit's time, as before reservations; a
 * reset long after takes back what is still in the windows. */
static void test_times(void)
{
	struct rate_limits l = peak3();
	struct rate_txn *t = rate_txn_new();
	long t0 = 4000000;

	fresh();
	reserve(t, NULL, 3, t0);
	rate_commit(t, t0 + 100);
	T_CHECK("late commit: still counted 600 s after the RCPTs",
		one(NULL, "acme", "z@example.net", &l, t0 + 650, 0) ==
		RATE_CUST_PEAK);
	T_CHECK("late commit: free 600 s after the commit",
		one(NULL, "acme", "z@example.net", &l, t0 + 700, 0) == RATE_OK);
	reserve(t, NULL, 3, t0 + 1000);
	T_CHECK("late reset: day counts 6", CUST(t0 + 1700) == 6);
	rate_txn_reset(t); /* its peak buckets have left the window */
	T_CHECK("late reset: day back to 3, peak not below 0",
		CUST(t0 + 1700) == 3 && PEAK(t0 + 1700) == 0);
	rate_txn_free(t);
}

/* The user's unique recipients: a reservation takes a slot, its commit
 * turns it into the recipient's entry, its reset frees it. */
static void test_unique(void)
{
	struct rate_limits l = nolim;
	struct rate_txn *a = rate_txn_new(), *b = rate_txn_new();
	long t0 = 5000000;

	fresh();
	l.user_rcpts = 2;
	rate_rcpt(a, "u@example.com", NULL, "p@example.net", &l, t0);
	rate_rcpt(b, "u@example.com", NULL, "p@example.net", &l, t0);
	T_CHECK("unique: p pending in two transactions takes two slots",
		URCPTS(t0) == 2 && rate_rcpt(b, "u@example.com", NULL,
					     "q@example.net", &l, t0) ==
		RATE_USER_DAILY);
	rate_commit(a, t0);
	T_CHECK("unique: one commit: p counted once, b's slot still held",
		URCPTS(t0) == 2 && UMSGS(t0) == 2);
	rate_commit(b, t0 + 60);
	T_CHECK("unique: both committed: p is one recipient",
		URCPTS(t0 + 60) == 1 && UMSGS(t0 + 60) == 2);
	rate_rcpt(a, "u@example.com", NULL, "p@example.net", &l, t0 + 60);
	T_CHECK("unique: a known recipient reserves no slot",
		URCPTS(t0 + 60) == 1);
	rate_txn_reset(a);
	T_CHECK("unique: ... and its reset takes none back",
		URCPTS(t0 + 60) == 1 && UMSGS(t0 + 60) == 2);
	rate_rcpt(a, "u@example.com", NULL, "q@example.net", &l, t0 + 60);
	rate_txn_reset(a);
	T_CHECK("unique: a new one reserved and reset: back to 1",
		URCPTS(t0 + 60) == 1 && rate_rcpt(a, "u@example.com", NULL,
						  "q@example.net", &l,
						  t0 + 60) == RATE_OK);
	rate_txn_free(a);
	rate_txn_free(b);
}

/* relay-policy's session ends without a reset (relay-smtpd died, or gave
 * up on policy): its proof may still bring a message, so it counts. */
static void test_store_drop(void)
{
	struct rate_limits l = peak3();
	struct rate_stxn *t;
	long t0 = 6000000;

	rate_close();
	unlink(path);
	T_CHECK("store: local opens", rate_store_open() == 0 &&
		rate_store_counters_open() == 0);
	t = rate_store_txn_new();
	for (int i = 0; i < 3; i++)
		rate_store_rcpt(t, "u@example.com", "acme", "d@example.net", &l,
				t0);
	rate_store_txn_drop(t, t0 + 1);
	T_CHECK("drop: counted as a message",
		CUST(t0 + 1) == 3 && UMSGS(t0 + 1) == 1 && URCPTS(t0 + 1) == 1);
	t = rate_store_txn_new();
	rate_store_rcpt(t, NULL, "acme", "e@example.net", &nolim, t0 + 1);
	rate_store_txn_free(t);
	T_CHECK("free (an explicit reset): taken back", CUST(t0 + 1) == 3);
	rate_store_close();
	T_CHECK("drop: reopen", rate_open(path) == 0 && CUST(t0 + 1) == 3);
}

int main(void)
{
	rate_t_setup();
	free(cf.counters_file); /* rate_store_counters_open opens it */
	cf.counters_file = path;
	test_counted_at_rcpt();
	test_crash();
	test_times();
	test_unique();
	test_store_drop();
	cf.counters_file = NULL;
	rate_t_teardown();
	return t_done();
}
