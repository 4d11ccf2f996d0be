/* rate_index.c: name -> record number for users and customers, an
 * open-addressing table (linear probing, at most half full) in the
 * counters file.  Records are handed out in order; when all are used, one
 * idle for a whole day (all its windows empty) and not pending in any
 * transaction is reused, its old name removed by backward-shift deletion
 * so that probe chains stay intact without tombstones. */
#include "rate_file.h"

#include <string.h>

static uint32_t idx_mask(enum rate_kind k)
{
	return (k == RATE_USER ? rate_map.h->uidx_n : rate_map.h->cidx_n) - 1;
}

/* Index slot holding lname, or the empty slot where it would go; -1 when
 * the index is full (cannot happen while it is at most half full). */
static long idx_probe(enum rate_kind k, const char *lname, uint64_t h)
{
	uint32_t *ix = rate_map.idx[k], m = idx_mask(k), s = (uint32_t)h & m;
	struct rate_rec *r;

	for (uint32_t n = 0; n <= m; n++, s = (s + 1) & m) {
		if (!ix[s])
			return s;
		if (ix[s] - 1 >= rate_file_used(k))
			continue; /* damaged slot: never trust it */
		r = rate_file_rec(k, ix[s] - 1);
		if (r->hash == h && strncmp(r->name, lname, RATE_NAME_MAX) == 0)
			return s;
	}
	return -1;
}

long rate_index_find(enum rate_kind k, const char *lname)
{
	long s = idx_probe(k, lname, rate_file_hash(lname, strlen(lname)));
	uint32_t v;

	if (s < 0)
		return -1;
	v = rate_map.idx[k][s];
	if (!v || v - 1 >= rate_file_used(k))
		return -1;
	return (long)v - 1;
}

/* Is home cyclically in (hole, s]?  Then the entry at s may not move. */
static int stays(uint32_t home, uint32_t hole, uint32_t s)
{
	if (hole < s)
		return home > hole && home <= s;
	return home > hole || home <= s;
}

static void idx_delete(enum rate_kind k, uint32_t slot)
{
	uint32_t *ix = rate_map.idx[k], m = idx_mask(k), hole = slot, s = slot;
	struct rate_rec *r;

	for (uint32_t n = 0; n < m; n++) {
		s = (s + 1) & m;
		if (!ix[s] || ix[s] - 1 >= rate_file_used(k))
			break;
		r = rate_file_rec(k, ix[s] - 1);
		if (stays((uint32_t)r->hash & m, hole, s))
			continue;
		ix[hole] = ix[s];
		hole = s;
	}
	ix[hole] = 0;
}

/* A record whose last use is a whole daily window ago and that no open
 * transaction holds: remove its name from the index and return it. */
static long reclaim(enum rate_kind k, long now,
		    int (*busy)(enum rate_kind k, uint32_t i))
{
	const int64_t day = (int64_t)RATE_DAY_N * RATE_DAY_UNIT;
	uint32_t cap = rate_file_cap(k);
	struct rate_rec *r;
	long s;

	for (uint32_t i = 0; i < cap; i++) {
		r = rate_file_rec(k, i);
		if (r->last_ts + day > now || (busy && busy(k, i)))
			continue;
		s = idx_probe(k, r->name, r->hash);
		if (s >= 0 && rate_map.idx[k][s] == i + 1)
			idx_delete(k, (uint32_t)s);
		return i;
	}
	return -1;
}

long rate_index_get(enum rate_kind k, const char *lname, long now,
		    int (*busy)(enum rate_kind k, uint32_t i))
{
	uint64_t h = rate_file_hash(lname, strlen(lname));
	uint32_t *used = k == RATE_USER ? &rate_map.h->user_used
				       : &rate_map.h->cust_used;
	long s = idx_probe(k, lname, h), i;
	struct rate_rec *r;

	if (s < 0 || strlen(lname) >= RATE_NAME_MAX)
		return -1;
	if (rate_map.idx[k][s])
		return (long)rate_map.idx[k][s] - 1;
	if (*used < rate_file_cap(k)) {
		i = (*used)++;
	} else {
		i = reclaim(k, now, busy);
		if (i < 0)
			return -1;
		s = idx_probe(k, lname, h); /* deletion may have moved slots */
		if (s < 0)
			return -1;
	}
	r = rate_file_rec(k, (uint32_t)i);
	memset(r, 0, k == RATE_USER ? rate_map.h->user_size
				    : rate_map.h->cust_size);
	memcpy(r->name, lname, strlen(lname) + 1);
	r->hash = h;
	r->last_ts = now;
	rate_map.idx[k][s] = (uint32_t)i + 1;
	return i;
}
