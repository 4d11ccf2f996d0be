/* coro_deadline.c: a binary min-heap of deadlines (see coro_deadline.h). */
#include "coro_deadline.h"

#include <stdlib.h>

static void put(struct coro_deadlines *h, size_t i, struct coro_deadline *d)
{
	h->v[i] = d;
	d->slot = i + 1;
}

/* Move the node at i up while it is earlier than its parent. */
static void sift_up(struct coro_deadlines *h, size_t i)
{
	struct coro_deadline *d = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= d->at)
			break;
		put(h, i, h->v[parent]);
		i = parent;
	}
	put(h, i, d);
}

/* Move the node at i down while a child is earlier. */
static void sift_down(struct coro_deadlines *h, size_t i)
{
	struct coro_deadline *d = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (d->at <= h->v[c]->at)
			break;
		put(h, i, h->v[c]);
		i = c;
	}
	put(h, i, d);
}

int coro_deadline_add(struct coro_deadlines *h, struct coro_deadline *d)
{
	if (d->slot)
		coro_deadline_del(h, d);
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct coro_deadline **v = realloc(h->v, cap * sizeof *v);
		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	put(h, h->n++, d);
	sift_up(h, h->n - 1);
	return 0;
}

void coro_deadline_del(struct coro_deadlines *h, struct coro_deadline *d)
{
	size_t i = d->slot - 1;
	struct coro_deadline *last;

	if (!d->slot)
		return;
	d->slot = 0;
	last = h->v[--h->n];
	if (last == d)
		return;
	/* the last node fills the hole, then finds its place either way */
	put(h, i, last);
	sift_up(h, i);
	sift_down(h, last->slot - 1);
}

struct coro_deadline *coro_deadline_first(const struct coro_deadlines *h)
{
	return h->n ? h->v[0] : NULL;
}

void coro_deadline_free(struct coro_deadlines *h)
{
	free(h->v);
	*h = (struct coro_deadlines){ 0 };
}
