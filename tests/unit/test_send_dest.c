// links: send/send_dest.c send/send_cust.c
/* test_send_dest.c: the lines of destinations at their limit in
 * relay-send.  A message waits in one line at a time and keeps its
 * place when it meets the same limit again; a line is served only after
 * a release and while its destination has room, its customers in turn
 * (fair delivery) or in the order they met the limit (without), one at
 * its concurrency= limit passed over with its messages in place; no
 * worker at all keeps the line due; the lines are bounded by their
 * slots, and a slot frees with the line's last message.  A random
 * property test checks the links against a model. */
#include "../../send/send.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>

#define N 64

static struct send_msg msgs[N];
static int dest_room = 1; /* what room() answers */

static int room(const char *dest)
{
	(void)dest;
	return dest_room;
}

static void reset(struct send_msgs *ms, int fair, size_t slots)
{
	for (size_t i = 0; i < N; i++)
		send_dest_leave(ms, &msgs[i]);
	for (size_t k = 0; k < ms->ncust; k++)
		free(ms->cust[k]);
	free(ms->cust);
	free(ms->lines);
	memset(ms, 0, sizeof *ms);
	memset(msgs, 0, sizeof msgs);
	ms->fair = fair;
	ms->maxlines = slots;
	dest_room = 1;
}

/* The message served next (from the start), taken out of its line as
 * its job would take it; NULL when none. */
static struct send_msg *serve(struct send_msgs *ms)
{
	size_t cursor = 0;
	struct send_msg *m = send_dest_next(ms, room, &cursor);

	if (m)
		send_dest_leave(ms, m);
	return m;
}

static void release_all(struct send_msgs *ms)
{
	send_dest_released(ms, "d1");
	send_dest_released(ms, "d2");
}

static void basics(struct send_msgs *ms)
{
	size_t cursor = 0;

	reset(ms, 1, 2);
	T_CHECK("wait: in d1's line", send_dest_wait(ms, &msgs[0], "d1") == 0 &&
		send_dest_waits(&msgs[0], "d1") && !send_dest_waits(&msgs[0], "d2") &&
		ms->nlines == 1);
	send_dest_wait(ms, &msgs[1], "d1");
	T_CHECK("next: nothing before a release",
		send_dest_next(ms, room, &cursor) == NULL);
	send_dest_wait(ms, &msgs[0], "d1");
	send_dest_released(ms, "d1");
	T_CHECK("wait again: keeps its place", serve(ms) == &msgs[0]);
	T_CHECK("then the next in line", serve(ms) == &msgs[1]);
	T_CHECK("the last one gone: the slot is free", ms->nlines == 0 &&
		ms->lines[0].turn == NULL && serve(ms) == NULL);

	send_dest_wait(ms, &msgs[2], "d1");
	send_dest_wait(ms, &msgs[2], "d2");
	T_CHECK("another destination: one line at a time",
		send_dest_waits(&msgs[2], "d2") && ms->nlines == 1);
	send_dest_wait(ms, &msgs[3], "d1");
	T_CHECK("slots: a second destination", ms->nlines == 2);
	T_CHECK("slots: no third (the caller retries)",
		send_dest_wait(ms, &msgs[4], "d3") == -1 &&
		msgs[4].dwait == NULL && ms->nlines == 2);

	dest_room = 0;
	release_all(ms);
	cursor = 0;
	T_CHECK("full again: nothing served",
		send_dest_next(ms, room, &cursor) == NULL &&
		!ms->lines[0].released && !ms->lines[1].released);
	dest_room = 1;
	cursor = 0;
	T_CHECK("full: served only after the next release",
		send_dest_next(ms, room, &cursor) == NULL);
	dest_room = -1;
	release_all(ms);
	cursor = 0;
	T_CHECK("no worker: nothing, the line stays due",
		send_dest_next(ms, room, &cursor) == NULL &&
		(ms->lines[0].released || ms->lines[1].released));
	dest_room = 1;
	T_CHECK("a worker back: served", serve(ms) != NULL);
	reset(ms, 1, 0);
	T_CHECK("no slots: no line", send_dest_wait(ms, &msgs[0], "d1") == -1);
}

/* a's 4 messages met d1's limit before b's 2. */
static void two_customers(struct send_msgs *ms, int fair)
{
	struct send_cust *a, *b;

	reset(ms, fair, 4);
	a = send_cust_get(ms, "a");
	b = send_cust_get(ms, "b");
	for (size_t i = 0; i < 6; i++) {
		msgs[i].cust = i < 4 ? a : b;
		send_dest_wait(ms, &msgs[i], "d1");
	}
	send_dest_released(ms, "d1");
}

static void turns(struct send_msgs *ms)
{
	static const size_t want_fair[] = { 0, 4, 1, 5, 2, 3 };
	struct send_cust *a;
	int ok = 1;

	two_customers(ms, 1);
	for (size_t k = 0; k < 6; k++)
		ok &= serve(ms) == &msgs[want_fair[k]];
	T_CHECK("fair: the customers of a line in turn", ok && !serve(ms));

	two_customers(ms, 0);
	ok = 1;
	for (size_t k = 0; k < 6; k++)
		ok &= serve(ms) == &msgs[k];
	T_CHECK("fair off: the order they met the limit", ok && !serve(ms));

	for (int fair = 0; fair <= 1; fair++) {
		char name[80];
		two_customers(ms, fair);
		a = ms->cust[0];
		a->limit = 1;
		a->inflight = 1;
		snprintf(name, sizeof name, "fair %d: a at its limit passed "
			 "over", fair);
		T_CHECK(name, serve(ms) == &msgs[4] && serve(ms) == &msgs[5] &&
			serve(ms) == NULL);
		snprintf(name, sizeof name, "fair %d: a's messages kept, the "
			 "line still due", fair);
		T_CHECK(name, msgs[0].dwait && ms->lines[0].released);
		a->inflight = 0;
		ok = 1;
		for (size_t k = 0; k < 4; k++)
			ok &= serve(ms) == &msgs[k];
		snprintf(name, sizeof name, "fair %d: a released: its "
			 "messages in their order", fair);
		T_CHECK(name, ok && ms->nlines == 0);
	}

	two_customers(ms, 1);
	send_dest_leave(ms, &msgs[1]);
	send_dest_leave(ms, &msgs[4]);
	send_dest_leave(ms, &msgs[5]);
	T_CHECK("leave: from the middle, and a customer's queue emptied",
		serve(ms) == &msgs[0] && serve(ms) == &msgs[2] &&
		serve(ms) == &msgs[3] && serve(ms) == NULL);
}

/* Random waits and leaves over 3 destinations and 3 customers; each
 * queue's links must give exactly the model's messages, in order. */
static int model_ok(struct send_msgs *ms, unsigned seed)
{
	static const char *dests[] = { "d0", "d1", "d2" };
	int at[N]; /* destination index, -1: none */
	unsigned long long order[N];
	struct send_cust *c[3];

	reset(ms, 1, 3);
	for (size_t i = 0; i < 3; i++)
		c[i] = send_cust_get(ms, (const char *[]){ "x", "y", "z" }[i]);
	for (size_t i = 0; i < N; i++) {
		msgs[i].cust = c[i % 3];
		at[i] = -1;
	}
	srandom(seed);
	for (int step = 0; step < 3000; step++) {
		size_t i = (size_t)random() % N;
		int d = (int)(random() % 4) - 1;
		if (d < 0) {
			send_dest_leave(ms, &msgs[i]);
			at[i] = -1;
		} else if (send_dest_wait(ms, &msgs[i], dests[d]) == 0) {
			if (at[i] != d)
				order[i] = msgs[i].dseq;
			at[i] = d;
		} else {
			return 0;
		}
	}
	for (size_t i = 0; i < N; i++) {
		const struct send_msg *m = &msgs[i];
		if ((at[i] < 0) != (m->dwait == NULL))
			return 0;
		if (at[i] < 0)
			continue;
		if (!send_dest_waits(m, dests[at[i]]) || m->dseq != order[i] ||
		    m->dwait->cust != m->cust)
			return 0;
		if ((m->dprev && (m->dprev->dnext != m ||
				  m->dprev->dseq >= m->dseq)) ||
		    (!m->dprev && m->dwait->head != m) ||
		    (m->dnext && m->dnext->dprev != m) ||
		    (!m->dnext && m->dwait->tail != m))
			return 0;
	}
	return 1;
}

/* room() for one_without_worker: no worker for d1 now (none idle, none
 * of its own with room), room for d2. */
static int room_d2_only(const char *dest)
{
	return strcmp(dest, "d1") == 0 ? -1 : 1;
}

/* A destination that no worker can take now holds up its own line only:
 * the next line, whose destination has room, is served. */
static void one_without_worker(struct send_msgs *ms)
{
	size_t cursor = 0;

	reset(ms, 1, 2);
	send_dest_wait(ms, &msgs[0], "d1");
	send_dest_wait(ms, &msgs[1], "d2");
	release_all(ms);
	T_CHECK("no worker for d1: d2's line is served all the same",
		send_dest_next(ms, room_d2_only, &cursor) == &msgs[1]);
	T_CHECK("no worker for d1: its line stays due", ms->lines[0].released);
}

int main(void)
{
	struct send_msgs ms = { 0 };
	char name[64];

	basics(&ms);
	turns(&ms);
	one_without_worker(&ms);
	for (unsigned seed = 1; seed <= 10; seed++) {
		snprintf(name, sizeof name, "lines: random operations, seed %u",
			 seed);
		T_CHECK(name, model_ok(&ms, seed));
	}
	reset(&ms, 0, 0);
	return t_done();
}
