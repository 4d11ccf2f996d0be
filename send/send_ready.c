/* send_ready.c: the ready heaps.  Every message in memory sits in a
 * binary min-heap ordered by the time it next needs attention (a retry,
 * a result that came back, expiry, the delay warning), then by the order
 * it was queued in; a scheduling pass pops only what is due instead of
 * walking every message (a burst of 20,000 made that O(n^2)).
 *
 * Fair delivery (ms->fair): each customer's messages are a heap of their
 * own and pops take the heaps with something due by deficit round robin
 * over the jobs their messages start (send_ready_charge), so a backlog
 * of one customer gets about one job in N while N customers have mail
 * due, whatever the size of their messages, and a worker or a
 * destination's slot that frees goes to the next customer in line.
 * Without it the order is exactly (wake, seq) over all the heaps; with
 * one customer the order is the same.
 *
 * Either way a customer at its concurrency= limit (send_cust_full) is
 * left out: its messages stay in its heap untouched, whatever their
 * number, until a job of it is released (send_worker_release) and the
 * next pass takes them again, in their order. */
#include "send.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

static int ready_less(const struct send_msg *a, const struct send_msg *b)
{
	return a->wake < b->wake || (a->wake == b->wake && a->seq < b->seq);
}

/* The heap m belongs in: its customer's (with fair delivery or not, so
 * that a customer at its limit can be left out as a whole). */
static struct send_heap *ready_heap(struct send_msgs *ms,
				    const struct send_msg *m)
{
	return m->cust ? &m->cust->ready : &ms->ready;
}

/* Heap number k of the turns: the customers', then ms->ready. */
static const struct send_heap *ready_turn(const struct send_msgs *ms,
					  size_t k)
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
		ms->rr = m->cust->idx; /* its turn goes on: nothing started */
}

void send_ready_charge(struct send_msgs *ms, struct send_msg *m)
{
	if (ms->fair && m->cust)
		m->cust->deficit--;
}

/* The credit of a turn, and the most a customer holds: one that could
 * start nothing in its turns (its destinations full) saves none up. */
#define READY_QUANTUM 1

/* Heap k's first message, NULL when it is empty or its customer is at
 * its limit (it waits for a release, not for a time). */
static struct send_msg *ready_head(const struct send_msgs *ms, size_t k)
{
	const struct send_heap *h = ready_turn(ms, k);

	if (!h->n || (k < ms->ncust && send_cust_full(ms->cust[k])))
		return NULL;
	return h->v[0];
}

static int ready_due(struct send_msgs *ms, size_t k, long long now)
{
	const struct send_msg *m = ready_head(ms, k);

	return m && m->wake <= now;
}

/* Turn k's credit, NULL for the heap of mail without a customer (it
 * never waits). */
static long *ready_deficit(struct send_msgs *ms, size_t k)
{
	return k < ms->ncust ? &ms->cust[k]->deficit : NULL;
}

static void ready_credit(long *d, long n)
{
	*d = *d + n > READY_QUANTUM ? READY_QUANTUM : *d + n;
}

static struct send_msg *ready_take(struct send_msgs *ms, size_t k)
{
	struct send_msg *m = ready_turn(ms, k)->v[0];

	send_ready_remove(ms, m);
	ms->rr = k;
	ms->rr_open = 1; /* until its credit is spent */
	return m;
}

/* Deficit round robin: from the customer whose turn it is (its turn
 * goes on while it has credit), each next customer with mail due gets a
 * new turn and its credit, and goes when it has some.  When all of them
 * are still in debt, the rounds that would pass until the least
 * indebted one has credit again are given at once. */
static struct send_msg *ready_pop_fair(struct send_msgs *ms, long long now)
{
	size_t n = ms->ncust + 1;
	long best = LONG_MIN; /* the highest credit of those due */

	for (size_t k = 0; k <= n; k++) {
		size_t c = (ms->rr + k) % n;
		long *d = ready_deficit(ms, c);
		if (!ready_due(ms, c, now))
			continue;
		if (d && (k > 0 || !ms->rr_open))
			ready_credit(d, READY_QUANTUM);
		if (!d || *d > 0)
			return ready_take(ms, c);
		if (*d > best)
			best = *d;
	}
	if (best == LONG_MIN)
		return NULL;
	for (size_t k = 1; k <= n; k++) {
		size_t c = (ms->rr + k) % n;
		long *d = ready_deficit(ms, c);
		if (d && ready_due(ms, c, now))
			ready_credit(d, READY_QUANTUM - best);
	}
	for (size_t k = 1; k <= n; k++) {
		size_t c = (ms->rr + k) % n;
		long *d = ready_deficit(ms, c);
		if (ready_due(ms, c, now) && (!d || *d > 0))
			return ready_take(ms, c);
	}
	return NULL; /* cannot happen: the best one has credit now */
}

/* Without fair delivery: the first in (wake, seq) order of all heads. */
static struct send_msg *ready_pop_first(struct send_msgs *ms, long long now)
{
	struct send_msg *best = NULL;

	for (size_t k = 0; k <= ms->ncust; k++) {
		struct send_msg *m = ready_head(ms, k);
		if (m && m->wake <= now && (!best || ready_less(m, best)))
			best = m;
	}
	if (best)
		send_ready_remove(ms, best);
	return best;
}

struct send_msg *send_ready_pop(struct send_msgs *ms, long long now)
{
	return ms->fair ? ready_pop_fair(ms, now) : ready_pop_first(ms, now);
}

long long send_ready_next(const struct send_msgs *ms)
{
	long long next = INT64_MAX;

	for (size_t k = 0; k <= ms->ncust; k++) {
		const struct send_msg *m = ready_head(ms, k);
		if (m && m->wake < next)
			next = m->wake;
	}
	return next;
}
