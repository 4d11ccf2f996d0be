/* rstore_epoch.h: noticing that the shared rate store lost its data.
 * The key P epoch (P = rate_store_prefix) holds a random value, set
 * once by the first box that finds it absent (SET NX) and never
 * expiring.  A box remembers the value it saw; when a later look finds
 * another one, Redis lost what it held (a restart without persistence,
 * a flush, a failover to a replica that did not have it, an eviction):
 * the fleet's counts started again from zero. */
#ifndef RSTORE_EPOCH_H
#define RSTORE_EPOCH_H

#include <stddef.h>

#include "rstore.h"

#define RSTORE_EPOCH_LEN 33 /* 32 hex digits and the NUL */

/* GET P epoch (one exchange; when absent, SET NX of a random value and
 * GET again: writes only then); the value into seen when seen was ""
 * (the first look) or differed.  1: it differed (the data went), 0: the
 * same or the first look, -1: Redis did not answer (or the value is not
 * one of ours). */
int rstore_epoch_check(struct rstore *r, const char *prefix,
		       char seen[RSTORE_EPOCH_LEN]);

#endif
