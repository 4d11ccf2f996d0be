// links: send/send_sched.c
/* test_send_sched.c: the retry schedule (retry_min doubling up to
 * retry_max, jitter at most 1/8) and expiry, as a table. */
#include "../../send/send.h"
#include "t.h"

#include <stdio.h>

struct sched_case {
	int attempts;
	long min, max;
	unsigned rnd;
	long long want_lo, want_hi;
};

static const struct sched_case cases[] = {
	{ 1, 300, 14400, 0, 300, 300 },
	{ 2, 300, 14400, 0, 600, 600 },
	{ 3, 300, 14400, 0, 1200, 1200 },
	{ 6, 300, 14400, 0, 9600, 9600 },
	{ 7, 300, 14400, 0, 14400, 14400 },
	{ 50, 300, 14400, 0, 14400, 14400 },
	{ 1000000, 300, 14400, 0, 14400, 14400 },
	{ 1, 300, 14400, 4000000000u, 300, 300 + 300 / 8 },
	{ 7, 300, 14400, 12345, 14400, 14400 + 14400 / 8 },
	{ 1, 1, 2, 7, 1, 1 },
	{ 3, 1, 2, 0, 2, 2 },
	{ 0, 5, 10, 0, 5, 5 },
};

int main(void)
{
	char name[128];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct sched_case *c = &cases[i];
		long long d = send_sched_delay(c->attempts, c->min, c->max,
					       c->rnd);
		snprintf(name, sizeof name,
			 "delay after %d failures (min %ld max %ld rnd %u) = %lld",
			 c->attempts, c->min, c->max, c->rnd, d);
		T_CHECK(name, d >= c->want_lo && d <= c->want_hi);
	}
	for (unsigned r = 0; r < 1000; r += 37) {
		long long d = send_sched_delay(1, 800, 14400, r);
		if (d < 800 || d > 900) {
			T_CHECK("jitter within 1/8", 0);
			return t_done();
		}
	}
	T_CHECK("jitter within 1/8", 1);
	T_CHECK("not expired before lifetime",
		!send_sched_expired(1000, 1000 + 431999, 432000));
	T_CHECK("expired at lifetime",
		send_sched_expired(1000, 1000 + 432000, 432000));
	return t_done();
}
