/* send_sched.c: the clock and the retry schedule.  Back-off doubles from
 * retry_min to retry_max; the jitter keeps a burst of deferrals (one
 * destination down) from coming back as one burst. */
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
