/* rate_bench.c: counter updates per second of the rate accounting
 * (policy/rate.c over the mmap'd counters file), as relay-policy does
 * them: a RCPT check plus the commit of each accepted message.  Runs in
 * a temporary instance directory; prints one line per scenario. */
#include "../policy/rate.h"
#include "settings.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SECONDS 1.0

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Messages of `rcpts` recipients from `users` users of `custs` customers,
 * for about a second; returns recipients (= counter updates) per second. */
static double bench_run(int users, int custs, int rcpts, long *t)
{
	struct rate_limits lim = { 0, 0, 0, 0 };
	struct rate_txn *txn = rate_txn_new();
	char user[64], cust[64], rcpt[64];
	double start = bench_now(), el = 0;
	long n = 0;
	unsigned seed = 1;

	while (txn && (n & 1023 || (el = bench_now() - start) < BENCH_SECONDS)) {
		seed = seed * 1103515245 + 12345;
		snprintf(user, sizeof user, "user%u@example.com", (seed >> 8) % users);
		snprintf(cust, sizeof cust, "customer%u", (seed >> 8) % users % custs);
		for (int i = 0; i < rcpts; i++, n++) {
			snprintf(rcpt, sizeof rcpt, "r%ld@example.net", n % 5000);
			rate_rcpt(txn, user, cust, rcpt, &lim, *t / 8);
		}
		rate_commit(txn, *t / 8);
		(*t)++; /* the clock moves a second every 8 messages */
	}
	rate_txn_free(txn);
	return el > 0 ? n / el : 0;
}

int main(void)
{
	static const struct { int users, custs, rcpts; } runs[] = {
		{ 1, 1, 1 }, { 1000, 100, 1 }, { 1000, 100, 10 },
	};
	char dir[] = "/tmp/rate_bench.XXXXXX", path[PATH_MAX];
	long t = 1700000000L * 8;

	if (!mkdtemp(dir))
		return 111;
	settings_load(dir);
	snprintf(path, sizeof path, "%s/counters", dir);
	if (rate_open(path) < 0)
		return 111;
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
		printf("rate counters: %9.0f updates/s (RCPT check + commit; "
		       "%d users, %d customers, %d rcpt/msg)\n",
		       bench_run(runs[i].users, runs[i].custs, runs[i].rcpts, &t),
		       runs[i].users, runs[i].custs, runs[i].rcpts);
	rate_close();
	unlink(path);
	rmdir(dir);
	return 0;
}
