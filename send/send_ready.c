/* send_ready.c: the ready heaps.  Every message in memory sits in a
 * binary min-heap ordered by the time it next needs attention (a retry,
 * a result that came back, expiry, the delay warning), then by the order
 * it was queued in; a scheduling pass pops only what is due instead of
 * walking every message (a burst of 20,000 made that O(n^2)).
 *
 * Fair delivery (ms->fair): each customer's messages are a heap of their
 * own and pops take the heaps with something due in turn, so a backlog
 * of one customer gets one message's turn in N while N customers have
 * mail due, and a worker or a destination's slot that frees goes to the
 * next customer in line.  Without it (or with one customer) there is one
 * heap and the order is exactly (wake, seq). */
#include "send.h"

#include <stdint.h>
#include <stdlib.h>

static int ready_less(const struct send_msg *a, const struct send_msg *b)
{
	return a->wake < b->wake || (a->wake == b->wake && a->seq < b->seq);
}

/* The heap m belongs in. */
static struct send_heap *ready_heap(struct send_msgs *ms,
				    const struct send_msg *m)
{
	return ms->fair && m->cust ? &m->cust->ready : &ms->ready;
}

/* Heap number k of the turns: the customers', then ms->ready. */
static struct send_heap *ready_turn(struct send_msgs *ms, size_t k)
{
	return k < ms->ncust ? &ms->cust[k]->ready : &ms->ready;
}

static void ready_swap(struct send_heap *h, size_t i, size_t j)
{
	struct send_msg *t = h->v[i];
	h->v[i] = h->v[j];
	h->v[j] = t;
	h->v[i]->hidx = i;
	h->v[j]->hidx = j;
}

static void ready_up(struct send_heap *h, size_t i)
{
	while (i > 0 && ready_less(h->v[i], h->v[(i - 1) / 2])) {
		ready_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void ready_down(struct send_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < h->n && ready_less(h->v[l], h->v[s]))
			s = l;
		if (r < h->n && ready_less(h->v[r], h->v[s]))
			s = r;
		if (s == i)
			return;
		ready_swap(h, i, s);
		i = s;
	}
}

void send_ready_remove(struct send_msgs *ms, struct send_msg *m)
{
	struct send_heap *h = ready_heap(ms, m);
	size_t i = m->hidx;

	if (i == SIZE_MAX)
		return;
	m->hidx = SIZE_MAX;
	if (i == --h->n)
		return;
	h->v[i] = h->v[h->n];
	h->v[i]->hidx = i;
	ready_up(h, i);
	ready_down(h, h->v[i]->hidx);
}

/* Insert m with its current wake and seq (or move it there). */
static void ready_put(struct send_msgs *ms, struct send_msg *m)
{
	struct send_heap *h = ready_heap(ms, m);

	if (m->hidx != SIZE_MAX) {
		ready_up(h, m->hidx);
		ready_down(h, m->hidx);
		return;
	}
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 256;
		struct send_msg **nv = realloc(h->v, ncap * sizeof *nv);
		if (!nv)
			return; /* out of memory: found again by the next scan */
		h->v = nv;
		h->cap = ncap;
	}
	m->hidx = h->n;
	h->v[h->n++] = m;
	ready_up(h, m->hidx);
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
	if (ms->fair && m->cust)
		ms->rr = m->cust->idx; /* its turn was not used */
}

struct send_msg *send_ready_pop(struct send_msgs *ms, long long now)
{
	size_t nturns = ms->fair ? ms->ncust + 1 : 0;

	for (size_t k = 0; k < (nturns ? nturns : 1); k++) {
		size_t c = nturns ? (ms->rr + k) % nturns : SIZE_MAX;
		struct send_heap *h = nturns ? ready_turn(ms, c) : &ms->ready;
		struct send_msg *m;
		if (h->n == 0 || h->v[0]->wake > now)
			continue;
		m = h->v[0];
		send_ready_remove(ms, m);
		if (nturns)
			ms->rr = (c + 1) % nturns; /* the next customer's turn */
		return m;
	}
	return NULL;
}

long long send_ready_next(const struct send_msgs *ms)
{
	long long next = ms->ready.n ? ms->ready.v[0]->wake : INT64_MAX;

	for (size_t k = 0; ms->fair && k < ms->ncust; k++) {
		const struct send_heap *h = &ms->cust[k]->ready;
		if (h->n && h->v[0]->wake < next)
			next = h->v[0]->wake;
	}
	return next;
}
