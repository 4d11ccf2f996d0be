/* rate_set.h: a user's unique recipients over the daily window, inside the
 * user's record of the counters file (policy/rate_set.c). */
#ifndef RATE_SET_H
#define RATE_SET_H

#include "rate_file.h"

uint32_t rate_set_max(void); /* live entries a set may hold */
int rate_set_live(const struct rate_user *u, uint64_t h, long now);
/* Mark h seen now; 1 when it is a new unique recipient, 0 when it was
 * live already, -1 when the set is full. */
int rate_set_touch(struct rate_user *u, uint64_t h, long now);

#endif
