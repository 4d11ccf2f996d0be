/* rate_set.c: the unique recipients of one user over the daily window.  A
 * fixed open-addressing table (linear probing) of 64-bit recipient hashes
 * with the minute each was last seen, inside the user's record, so its
 * size is bounded: set_slots x 12 bytes.  Expired entries stay until the
 * table fills up, then one compaction drops them all.  The user's `rcpts`
 * window counts each live entry once, in the bucket of its last-seen
 * minute, so its total is the number of unique recipients in the window. */
#include "rate_set.h"

#include <stdlib.h>
#include <string.h>

static struct rate_ent *set_of(const struct rate_user *u)
{
	return (struct rate_ent *)((unsigned char *)u + sizeof *u);
}

uint32_t rate_set_max(void)
{
	return rate_map.h->set_slots / 8 * 7;
}

static int ent_is(const struct rate_ent *e, uint64_t h)
{
	return e->hhi == (uint32_t)(h >> 32) && e->hlo == (uint32_t)h;
}

static int ent_live(const struct rate_ent *e, long now)
{
	return e->min1 && (int64_t)e->min1 - 1 > (int64_t)now / RATE_DAY_UNIT - RATE_DAY_N;
}

/* The slot holding h, or the empty slot that ends its probe chain. */
static struct rate_ent *set_probe(const struct rate_user *u, uint64_t h)
{
	struct rate_ent *s = set_of(u);
	uint32_t n = rate_map.h->set_slots, i = (uint32_t)(h % n);

	for (uint32_t k = 0; k < n; k++, i = (i + 1) % n)
		if (!s[i].min1 || ent_is(&s[i], h))
			return &s[i];
	return NULL; /* cannot happen: the table is never more than 7/8 full */
}

int rate_set_live(const struct rate_user *u, uint64_t h, long now)
{
	const struct rate_ent *e = set_probe(u, h);
	return e && e->min1 && ent_live(e, now);
}

/* Drop every expired entry by reinserting the live ones. */
static int set_compact(struct rate_user *u, long now)
{
	struct rate_ent *s = set_of(u), *keep, *e;
	uint32_t n = rate_map.h->set_slots, m = 0;

	keep = malloc((size_t)n * sizeof *keep);
	if (!keep)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (ent_live(&s[i], now))
			keep[m++] = s[i];
	memset(s, 0, (size_t)n * sizeof *s);
	for (uint32_t i = 0; i < m; i++) {
		e = set_probe(u, (uint64_t)keep[i].hhi << 32 | keep[i].hlo);
		*e = keep[i];
	}
	u->set_used = m;
	free(keep);
	return 0;
}

int rate_set_touch(struct rate_user *u, uint64_t h, long now)
{
	struct rate_ent *e = set_probe(u, h);
	int64_t b;

	if (e && e->min1 && ent_live(e, now)) {
		rate_window_sub(&u->rcpts.w, u->rcpts.b, RATE_DAY_N,
				(int64_t)e->min1 - 1, 1);
		b = rate_window_add(RATE_DAY(&u->rcpts), now, 1);
		e->min1 = (uint32_t)(b + 1);
		return 0;
	}
	if (!e || (!e->min1 && u->set_used >= rate_set_max())) {
		if (set_compact(u, now) < 0 || u->set_used >= rate_set_max())
			return -1;
		e = set_probe(u, h);
	}
	if (!e->min1)
		u->set_used++;
	e->hhi = (uint32_t)(h >> 32);
	e->hlo = (uint32_t)h;
	b = rate_window_add(RATE_DAY(&u->rcpts), now, 1);
	e->min1 = (uint32_t)(b + 1);
	return 1;
}
