/* coro_deadline.h: the deadlines of waiting coroutines in a binary
 * min-heap, so that the scheduler finds the nearest one, adds one and
 * takes one out in O(log n) instead of scanning every coroutine at each
 * wake-up.  A node lives inside what it times (struct coro); the heap
 * only points at nodes and keeps each one's place in it. */
#ifndef CORO_DEADLINE_H
#define CORO_DEADLINE_H

#include <stddef.h>

struct coro_deadline {
	long at;      /* CLOCK_MONOTONIC ms */
	size_t slot;  /* its index in the heap + 1; 0 when not in it */
};

struct coro_deadlines {
	struct coro_deadline **v;
	size_t n, cap;
};

/* Put d in at d->at; 0, or -1 when out of memory (d stays out). */
int coro_deadline_add(struct coro_deadlines *h, struct coro_deadline *d);
/* Take d out; nothing when it is not in. */
void coro_deadline_del(struct coro_deadlines *h, struct coro_deadline *d);
/* The nearest deadline, NULL when there is none. */
struct coro_deadline *coro_deadline_first(const struct coro_deadlines *h);
void coro_deadline_free(struct coro_deadlines *h);

#endif
