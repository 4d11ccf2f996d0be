// links: policy/rate.c policy/rate_set.c
/* test_rate_concurrency.c: many sessions near a limit never let more
 * through than the limit — transactions multiplexed in one process as
 * relay-policy runs them, and several processes sharing the file. */
#include "test_rate.h"

#include <sys/wait.h>

/* Two sessions pending 5 each against 9 left: the 10th RCPT is refused
 * although neither message is committed yet. */
static void test_pair(void)
{
	struct rate_txn *a = rate_txn_new(), *b = rate_txn_new();
	struct rate_limits p9 = { 0, 0, 0, 9 };
	long now = 7000000;
	int ok = 0;

	fresh();
	for (int i = 0; i < 5; i++)
		ok += rate_rcpt(a, NULL, "two", "x@example.net", &p9, now) == RATE_OK;
	for (int i = 0; i < 5; i++)
		ok += rate_rcpt(b, NULL, "two", "y@example.net", &p9, now) == RATE_OK;
	T_CHECK("multiplex: 5 + 5 pending against 9: the 10th refused", ok == 9);
	rate_commit(a, now);
	rate_commit(b, now);
	T_CHECK("multiplex: both committed = 9", stat_of(RATE_CUSTOMER, "two", now, 2) == 9);
	rate_txn_free(a);
	rate_txn_free(b);
}

/* Is any counter over its limit? */
static int over_limit(const struct rate_limits *l, long now)
{
	return stat_of(RATE_CUSTOMER, "busy", now, 2) > l->cust_peak ||
	       stat_of(RATE_CUSTOMER, "busy", now, 1) > l->cust_daily ||
	       stat_of(RATE_USER, "odd@example.com", now, 0) > l->user_msgs ||
	       stat_of(RATE_USER, "even@example.com", now, 0) > l->user_msgs ||
	       stat_of(RATE_USER, "odd@example.com", now, 1) > l->user_rcpts ||
	       stat_of(RATE_USER, "even@example.com", now, 1) > l->user_rcpts;
}

/* Sessions multiplexed in one process (relay-policy's model): 40
 * transactions interleaved at random near the limits, some committed,
 * some aborted; what is committed never exceeds a limit. */
static void test_multiplex(void)
{
	enum { NT = 40 };
	struct rate_limits l = { 200, 60, 300, 45 };
	struct rate_txn *t[NT];
	long pending[NT] = { 0 }, committed = 0, now = 7100000;
	unsigned seed = 12345;
	int over = 0;
	char rcpt[64];

	fresh();
	for (int i = 0; i < NT; i++)
		t[i] = rate_txn_new();
	for (int step = 0; step < 20000; step++, now += step % 2) {
		int i = (int)((seed = seed * 1103515245 + 12345) >> 16) % NT;
		int op = (int)(seed >> 8) % 10;
		if (op < 7) {
			snprintf(rcpt, sizeof rcpt, "r%u@example.net", (seed >> 4) % 200);
			pending[i] += rate_rcpt(t[i], i % 2 ? "odd@example.com" : "even@example.com",
						"busy", rcpt, &l, now) == RATE_OK;
		} else if (op < 9) {
			rate_commit(t[i], now);
			committed += pending[i];
			pending[i] = 0;
		} else {
			rate_txn_reset(t[i]);
			pending[i] = 0;
		}
		over += over_limit(&l, now);
	}
	T_CHECK("multiplex: 20,000 random steps never over a limit", over == 0);
	T_CHECK("multiplex: the daily limit was reached exactly",
		stat_of(RATE_CUSTOMER, "busy", now, 1) == 300 && committed == 300);
	for (int i = 0; i < NT; i++)
		rate_txn_free(t[i]);
}

/* Several processes map the file read-write at once (not the design, but
 * the flock makes it safe): no count is lost. */
static void test_processes(void)
{
	enum { NP = 8, PER = 500 };
	enum rate_verdict v;
	int ok = 1, st;

	fresh();
	for (int p = 0; p < NP; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			rate_close();
			if (rate_open(path) < 0)
				_exit(2);
			for (int i = 0; i < PER; i++)
				if (send_msg("u@example.com", "shared", p * PER + i, 1,
					     &nolim, 8000000, &v) != 1)
					_exit(3);
			rate_close();
			_exit(0);
		}
		if (pid < 0)
			ok = 0;
	}
	for (int p = 0; p < NP; p++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	T_CHECK("processes: all children succeeded", ok);
	T_CHECK("processes: customer count = 4000",
		stat_of(RATE_CUSTOMER, "shared", 8000000, 1) == NP * PER);
	T_CHECK("processes: user unique = 4000, messages = 4000",
		stat_of(RATE_USER, "u@example.com", 8000000, 1) == NP * PER &&
		stat_of(RATE_USER, "u@example.com", 8000000, 0) == NP * PER);
}

int main(void)
{
	rate_t_setup();
	test_pair();
	test_multiplex();
	test_processes();
	rate_t_teardown();
	return t_done();
}
