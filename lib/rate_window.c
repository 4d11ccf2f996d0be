/* rate_window.c: sliding windows as fixed rings of buckets.  A ring of n
 * buckets of `unit` seconds holds bucket indexes (last - n, last]; a count
 * is in the window at time now while its bucket > now/unit - n, so the
 * window slides one bucket at a time and never resets as a whole.
 * Clock steps backwards put new counts in the newest bucket (last), which
 * keeps them counted at least as long as they should be. */
#include "rate_file.h"

/* Zero the buckets that fall out of the ring as it moves to now. */
void rate_window_advance(struct rate_win *w, uint32_t *b, uint32_t n,
			 uint32_t unit, long now)
{
	int64_t idx = (int64_t)now / unit;

	if (idx <= w->last)
		return;
	if (idx - w->last >= (int64_t)n) {
		for (uint32_t i = 0; i < n; i++)
			b[i] = 0;
		w->total = 0;
	} else {
		for (int64_t i = w->last + 1; i <= idx; i++) {
			w->total -= b[i % n];
			b[i % n] = 0;
		}
	}
	w->last = idx;
}

/* Count k at now; returns the bucket index the count went into. */
int64_t rate_window_add(struct rate_win *w, uint32_t *b, uint32_t n,
			uint32_t unit, long now, uint32_t k)
{
	rate_window_advance(w, b, n, unit, now);
	b[w->last % n] += k;
	w->total += k;
	return w->last;
}

/* Take k back out of a bucket, if that bucket is still in the ring (a
 * recipient seen again moves from its old bucket to the current one). */
void rate_window_sub(struct rate_win *w, uint32_t *b, uint32_t n,
		     int64_t bucket, uint32_t k)
{
	uint32_t *p;

	if (bucket > w->last || bucket <= w->last - (int64_t)n || bucket < 0)
		return;
	p = &b[bucket % n];
	if (k > *p)
		k = *p;
	*p -= k;
	w->total -= k;
}

/* First bucket index that is both in the ring and in the window at now. */
static int64_t window_first(const struct rate_win *w, uint32_t n,
			    uint32_t unit, long now)
{
	int64_t lo, wlo = (int64_t)now / unit - n + 1;

	if (w->last < 0 || w->last > ((int64_t)1 << 40)) /* corrupt: empty */
		return INT64_MAX;
	lo = w->last - n + 1;
	if (wlo > lo)
		lo = wlo;
	return lo < 0 ? 0 : lo;
}

/* The window's count at now without changing the ring (read-only maps). */
long rate_window_sum(const struct rate_win *w, const uint32_t *b, uint32_t n,
		     uint32_t unit, long now)
{
	long sum = 0;

	for (int64_t i = window_first(w, n, unit, now); i <= w->last; i++)
		sum += b[i % n];
	return sum;
}

/* When the oldest count in the window leaves it (0 when it is empty). */
long rate_window_free_at(const struct rate_win *w, const uint32_t *b,
			 uint32_t n, uint32_t unit, long now)
{
	for (int64_t i = window_first(w, n, unit, now); i <= w->last; i++)
		if (b[i % n])
			return (long)((i + n) * unit);
	return 0;
}
