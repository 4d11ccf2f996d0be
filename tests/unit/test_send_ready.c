// links: send/send_ready.c send/send_cust.c
/* test_send_ready.c: the ready heap of relay-send.  Pops come in (wake,
 * seq) order and only when due; set never delays a message that is due
 * earlier; later moves it; remove keeps the heap whole.  A property test
 * checks random operations against a plain array.  Fair delivery: the
 * customers' heaps take turns, a put-back message keeps its customer's
 * turn, and one customer alone is served exactly as without.  A
 * customer at its concurrency= limit is left out until released. */
#include "../../send/send.h"
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 300

static struct send_msg msgs[N];

static void reset(struct send_msgs *ms)
{
	free(ms->ready.v);
	for (size_t k = 0; k < ms->ncust; k++) {
		free(ms->cust[k]->ready.v);
		free(ms->cust[k]);
	}
	free(ms->cust);
	memset(ms, 0, sizeof *ms);
	memset(msgs, 0, sizeof msgs);
	for (size_t i = 0; i < N; i++)
		msgs[i].hidx = SIZE_MAX;
}

static void basics(struct send_msgs *ms)
{
	reset(ms);
	send_ready_set(ms, &msgs[0], 50);
	send_ready_set(ms, &msgs[1], 10);
	send_ready_set(ms, &msgs[2], 10);
	T_CHECK("ready: next is the earliest", send_ready_next(ms) == 10);
	T_CHECK("ready: nothing due before", send_ready_pop(ms, 9) == NULL);
	T_CHECK("ready: equal times in order (1)",
		send_ready_pop(ms, 10) == &msgs[1]);
	T_CHECK("ready: equal times in order (2)",
		send_ready_pop(ms, 10) == &msgs[2]);
	T_CHECK("ready: hidx cleared on pop", msgs[2].hidx == SIZE_MAX);
	send_ready_set(ms, &msgs[0], 70);
	T_CHECK("ready: set keeps an earlier time", msgs[0].wake == 50);
	send_ready_set(ms, &msgs[0], 5);
	T_CHECK("ready: set moves earlier", send_ready_next(ms) == 5);
	send_ready_later(ms, &msgs[0], 90);
	T_CHECK("ready: later moves later", send_ready_next(ms) == 90);
	send_ready_remove(ms, &msgs[0]);
	T_CHECK("ready: removed", ms->ready.n == 0 &&
		send_ready_next(ms) == INT64_MAX);
	send_ready_remove(ms, &msgs[0]);
	T_CHECK("ready: remove twice is harmless", ms->ready.n == 0);
	send_ready_set(ms, &msgs[3], 1);
	send_ready_set(ms, &msgs[4], 1);
	T_CHECK("ready: pop first", send_ready_pop(ms, 1) == &msgs[3]);
	send_ready_putback(ms, &msgs[3]);
	T_CHECK("ready: putback keeps its place",
		send_ready_pop(ms, 1) == &msgs[3]);
}

/* Random set/later/remove/pop against the obvious O(n) model; every
 * message of customer c (NULL: none). */
static int model_ok_cust(struct send_msgs *ms, unsigned seed,
			 struct send_cust *c)
{
	int in[N] = { 0 };
	struct send_heap *h = c ? &c->ready : &ms->ready;

	srandom(seed);
	for (int step = 0; step < 5000; step++) {
		size_t i = (size_t)random() % N;
		long long t = random() % 100;
		int op = (int)(random() % 4);
		if (op == 0) {
			send_ready_set(ms, &msgs[i], t);
			in[i] = 1;
		} else if (op == 1) {
			send_ready_later(ms, &msgs[i], t);
			in[i] = 1;
		} else if (op == 2) {
			send_ready_remove(ms, &msgs[i]);
			in[i] = 0;
		} else {
			struct send_msg *best = NULL, *got;
			for (size_t k = 0; k < N; k++)
				if (in[k] && msgs[k].wake <= t &&
				    (!best || msgs[k].wake < best->wake ||
				     (msgs[k].wake == best->wake &&
				      msgs[k].seq < best->seq)))
					best = &msgs[k];
			got = send_ready_pop(ms, t);
			if (got != best)
				return 0;
			if (got && c) /* it started a job: its turn is paid */
				send_ready_charge(ms, got);
			if (got)
				in[got - msgs] = 0;
		}
		for (size_t k = 0; k < h->n; k++)
			if (h->v[k]->hidx != k)
				return 0;
	}
	return 1;
}

static int model_ok(struct send_msgs *ms, unsigned seed)
{
	reset(ms);
	return model_ok_cust(ms, seed, NULL);
}

/* Customer a has 6 messages due, b 2 (queued after a's), c none due. */
static void fair_setup(struct send_msgs *ms, int fair)
{
	struct send_cust *a, *b, *c;

	reset(ms);
	ms->fair = fair;
	a = send_cust_get(ms, "a");
	b = send_cust_get(ms, "b");
	c = send_cust_get(ms, "c");
	for (size_t i = 0; i < 8; i++) {
		msgs[i].cust = i < 6 ? a : b;
		send_ready_set(ms, &msgs[i], 0);
	}
	msgs[8].cust = c;
	send_ready_set(ms, &msgs[8], 100);
}

/* Pop, and when jobs > 0 charge that many started jobs to its customer. */
static struct send_msg *pop_jobs(struct send_msgs *ms, long jobs)
{
	struct send_msg *m = send_ready_pop(ms, 10);

	while (m && jobs-- > 0)
		send_ready_charge(ms, m);
	return m;
}

static void fair(struct send_msgs *ms)
{
	static const size_t want_fair[] = { 0, 6, 1, 7, 2, 3, 4, 5 };
	int ok = 1;

	fair_setup(ms, 1);
	T_CHECK("fair: the same customer is found again",
		send_cust_get(ms, "a") == ms->cust[0] && ms->ncust == 3);
	for (size_t k = 0; k < 8; k++)
		ok &= pop_jobs(ms, 1) == &msgs[want_fair[k]];
	T_CHECK("fair: customers take turns, a's backlog after b's mail", ok);
	T_CHECK("fair: nothing else due", send_ready_pop(ms, 10) == NULL);
	T_CHECK("fair: next is c's", send_ready_next(ms) == 100);

	fair_setup(ms, 1);
	T_CHECK("fair: a first", pop_jobs(ms, 1) == &msgs[0]);
	T_CHECK("fair: then b", pop_jobs(ms, 0) == &msgs[6]);
	send_ready_putback(ms, &msgs[6]);
	T_CHECK("fair: a put-back message keeps its turn",
		pop_jobs(ms, 1) == &msgs[6]);
	T_CHECK("fair: then a again", pop_jobs(ms, 1) == &msgs[1]);

	/* deficit round robin: a's first message started 3 jobs, so b's
	 * messages of one job each get the next 3 turns */
	fair_setup(ms, 1);
	T_CHECK("drr: a's big message", pop_jobs(ms, 3) == &msgs[0]);
	T_CHECK("drr: b", pop_jobs(ms, 1) == &msgs[6]);
	T_CHECK("drr: b again while a pays", pop_jobs(ms, 1) == &msgs[7]);
	T_CHECK("drr: then a", pop_jobs(ms, 1) == &msgs[1]);
	T_CHECK("drr: a alone now, never stalls in debt",
		pop_jobs(ms, 5) == &msgs[2] && pop_jobs(ms, 5) == &msgs[3] &&
		pop_jobs(ms, 1) == &msgs[4]);
	fair_setup(ms, 1);
	T_CHECK("drr: a message that started nothing keeps the turn",
		pop_jobs(ms, 0) == &msgs[0] && pop_jobs(ms, 1) == &msgs[1] &&
		pop_jobs(ms, 1) == &msgs[6]);

	fair_setup(ms, 0);
	ok = 1;
	for (size_t k = 0; k < 8; k++)
		ok &= send_ready_pop(ms, 10) == &msgs[k];
	T_CHECK("fair off: one heap, in the order queued", ok);

	reset(ms);
	ms->fair = 1;
	struct send_cust *one = send_cust_get(ms, "one");
	for (size_t i = 0; i < N; i++)
		msgs[i].cust = one;
	T_CHECK("fair, one customer: the same order as without",
		model_ok_cust(ms, 7, one));

	reset(ms);
	struct send_cust *three[3] = { send_cust_get(ms, "x"),
				       send_cust_get(ms, "y"),
				       send_cust_get(ms, "z") };
	for (size_t i = 0; i < N; i++)
		msgs[i].cust = three[i % 3];
	T_CHECK("fair off, three customers' heaps: (wake, seq) order as one",
		model_ok_cust(ms, 11, NULL));
}

/* a at its concurrency= limit (1 job in flight of 1): left out of the
 * pops and of the next wake time, its heap untouched; a released job
 * (inflight 0) brings it back in its own order. */
static void full(struct send_msgs *ms, int on)
{
	struct send_cust *a;
	size_t an;
	int ok = 1;
	char name[96];

	fair_setup(ms, on);
	a = ms->cust[0];
	a->limit = 1;
	a->inflight = 1;
	an = a->ready.n;
	snprintf(name, sizeof name, "full (fair %d): b's mail only", on);
	T_CHECK(name, send_cust_full(a) && pop_jobs(ms, 1) == &msgs[6] &&
		pop_jobs(ms, 1) == &msgs[7] && send_ready_pop(ms, 10) == NULL);
	snprintf(name, sizeof name, "full (fair %d): a's heap untouched", on);
	T_CHECK(name, a->ready.n == an && a->ready.v[0] == &msgs[0]);
	snprintf(name, sizeof name, "full (fair %d): next is c's, not a's", on);
	T_CHECK(name, send_ready_next(ms) == 100);
	a->inflight = 0;
	snprintf(name, sizeof name, "full (fair %d): a back once released", on);
	T_CHECK(name, !send_cust_full(a) && send_ready_next(ms) == 0);
	for (size_t k = 0; k < 6; k++)
		ok &= pop_jobs(ms, 1) == &msgs[k];
	snprintf(name, sizeof name, "full (fair %d): a's mail in its order", on);
	T_CHECK(name, ok && send_ready_pop(ms, 10) == NULL);
	a->limit = 0;
	a->inflight = 5;
	T_CHECK("full: no limit is never full", !send_cust_full(a) &&
		!send_cust_full(NULL));
}

int main(void)
{
	struct send_msgs *ms = calloc(1, sizeof *ms);
	char name[64];

	if (!ms)
		return 1;
	basics(ms);
	fair(ms);
	full(ms, 1);
	full(ms, 0);
	for (unsigned seed = 1; seed <= 20; seed++) {
		snprintf(name, sizeof name, "ready: random operations, seed %u",
			 seed);
		T_CHECK(name, model_ok(ms, seed));
	}
	reset(ms);
	free(ms);
	return t_done();
}
