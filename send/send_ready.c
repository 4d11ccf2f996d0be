/* send_ready.c: the ready heap.  Every message in memory sits in a
 * binary min-heap ordered by the time it next needs attention (a retry,
 * a result that came back, expiry, the delay warning), then by the order
 * it was queued in; a scheduling pass pops only what is due instead of
 * walking every message (a burst of 20,000 made that O(n^2)). */
#include "send.h"

#include <stdint.h>
#include <stdlib.h>

static int ready_less(const struct send_msg *a, const struct send_msg *b)
{
	return a->wake < b->wake || (a->wake == b->wake && a->seq < b->seq);
}

static void ready_swap(struct send_msgs *ms, size_t i, size_t j)
{
	struct send_msg *t = ms->heap[i];
	ms->heap[i] = ms->heap[j];
	ms->heap[j] = t;
	ms->heap[i]->hidx = i;
	ms->heap[j]->hidx = j;
}

static void ready_up(struct send_msgs *ms, size_t i)
{
	while (i > 0 && ready_less(ms->heap[i], ms->heap[(i - 1) / 2])) {
		ready_swap(ms, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void ready_down(struct send_msgs *ms, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < ms->nheap && ready_less(ms->heap[l], ms->heap[s]))
			s = l;
		if (r < ms->nheap && ready_less(ms->heap[r], ms->heap[s]))
			s = r;
		if (s == i)
			return;
		ready_swap(ms, i, s);
		i = s;
	}
}

void send_ready_remove(struct send_msgs *ms, struct send_msg *m)
{
	size_t i = m->hidx;

	if (i == SIZE_MAX)
		return;
	m->hidx = SIZE_MAX;
	if (i == --ms->nheap)
		return;
	ms->heap[i] = ms->heap[ms->nheap];
	ms->heap[i]->hidx = i;
	ready_up(ms, i);
	ready_down(ms, ms->heap[i]->hidx);
}

/* Insert m with its current wake and seq (or move it there). */
static void ready_put(struct send_msgs *ms, struct send_msg *m)
{
	if (m->hidx != SIZE_MAX) {
		ready_up(ms, m->hidx);
		ready_down(ms, m->hidx);
		return;
	}
	if (ms->nheap == ms->hcap) {
		size_t ncap = ms->hcap ? ms->hcap * 2 : 256;
		struct send_msg **nh = realloc(ms->heap, ncap * sizeof *nh);
		if (!nh)
			return; /* out of memory: found again by the next scan */
		ms->heap = nh;
		ms->hcap = ncap;
	}
	m->hidx = ms->nheap;
	ms->heap[ms->nheap++] = m;
	ready_up(ms, m->hidx);
}

void send_ready_set(struct send_msgs *ms, struct send_msg *m, long long t)
{
	if (m->hidx != SIZE_MAX && m->wake <= t)
		return; /* already due as early (keeps its place in line) */
	m->wake = t;
	m->seq = ++ms->seq;
	ready_put(ms, m);
}

void send_ready_later(struct send_msgs *ms, struct send_msg *m, long long t)
{
	m->wake = t;
	m->seq = ++ms->seq;
	ready_put(ms, m);
}

void send_ready_putback(struct send_msgs *ms, struct send_msg *m)
{
	ready_put(ms, m);
}

struct send_msg *send_ready_pop(struct send_msgs *ms, long long now)
{
	struct send_msg *m;

	if (ms->nheap == 0 || ms->heap[0]->wake > now)
		return NULL;
	m = ms->heap[0];
	send_ready_remove(ms, m);
	return m;
}

long long send_ready_next(const struct send_msgs *ms)
{
	return ms->nheap ? ms->heap[0]->wake : INT64_MAX;
}
