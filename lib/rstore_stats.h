/* rstore_stats.h: the live counts of the shared rate store, for relayctl
 * stats: the same struct rate_stats as the counters file's reader
 * (lib/rate_stats.h), fleet-wide. */
#ifndef RSTORE_STATS_H
#define RSTORE_STATS_H

#include "rate_stats.h"
#include "rstore.h"

/* 0 found, -1 nothing counted, -3 Redis did not answer (rstore_error).
 * now 0: the Redis server's clock. */
int rstore_stats_get(struct rstore *r, const char *prefix, enum rate_kind k,
		     const char *name, long now, struct rate_stats *st);
/* fn for every user (k RATE_USER) or customer counted in the last day;
 * stops at fn's non-zero and returns it; -3 as above. */
int rstore_stats_each(struct rstore *r, const char *prefix, enum rate_kind k,
		      long now, int (*fn)(const struct rate_stats *st,
					  void *arg), void *arg);

#endif
