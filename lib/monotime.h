/* monotime.h: milliseconds on CLOCK_MONOTONIC, for timeouts and paces
 * that a step of the wall clock (or libfaketime in the tests) must not
 * move. */
#ifndef MONOTIME_H
#define MONOTIME_H

#include <time.h>

static inline long long monotime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
