/* send_sched.c: the clock, the retry schedule and expiry.  Back-off
 * doubles from retry_min to retry_max; the jitter keeps a burst of
 * deferrals (one destination down) from coming back as one burst. */
#include "send.h"

#include <time.h>

long long send_now(void)
{
	return (long long)time(NULL);
}

long long send_sched_delay(int attempts, long retry_min, long retry_max,
			   unsigned rnd)
{
	long long d = retry_min;

	for (int i = 1; i < attempts && d < retry_max; i++)
		d *= 2;
	if (d > retry_max)
		d = retry_max;
	if (d < 1)
		d = 1;
	return d + (long long)(rnd % (unsigned)(d / 8 + 1));
}

int send_sched_expired(long long arrival, long long now, long lifetime)
{
	return now - arrival >= lifetime;
}

size_t send_sched_expire_line(char *buf, size_t n, size_t idx,
			      const struct qstate_rcpt *r, long long now)
{
	/* the bounce reports the last attempt as it was (RFC 3464 2.3.7:
	 * Last-Attempt-Date), not the expiry as if it were one */
	return qstate_format(buf, n, idx, 'B', r->attempts ? r->last : 0,
			     now, r->code, r->text);
}
