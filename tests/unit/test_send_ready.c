// links: send/send_ready.c
/* test_send_ready.c: the ready heap of relay-send.  Pops come in (wake,
 * seq) order and only when due; set never delays a message that is due
 * earlier; later moves it; remove keeps the heap whole.  A property test
 * checks random operations against a plain array. */
#include "../../send/send.h"
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 300

static struct send_msg msgs[N];

static void reset(struct send_msgs *ms)
{
	free(ms->heap);
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
	T_CHECK("ready: removed", ms->nheap == 0 &&
		send_ready_next(ms) == INT64_MAX);
	send_ready_remove(ms, &msgs[0]);
	T_CHECK("ready: remove twice is harmless", ms->nheap == 0);
	send_ready_set(ms, &msgs[3], 1);
	send_ready_set(ms, &msgs[4], 1);
	T_CHECK("ready: pop first", send_ready_pop(ms, 1) == &msgs[3]);
	send_ready_putback(ms, &msgs[3]);
	T_CHECK("ready: putback keeps its place",
		send_ready_pop(ms, 1) == &msgs[3]);
}

/* Random set/later/remove/pop against the obvious O(n) model. */
static int model_ok(struct send_msgs *ms, unsigned seed)
{
	int in[N] = { 0 };

	srandom(seed);
	reset(ms);
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
			if (got)
				in[got - msgs] = 0;
		}
		for (size_t k = 0; k < ms->nheap; k++)
			if (ms->heap[k]->hidx != k)
				return 0;
	}
	return 1;
}

int main(void)
{
	struct send_msgs *ms = calloc(1, sizeof *ms);
	char name[64];

	if (!ms)
		return 1;
	basics(ms);
	for (unsigned seed = 1; seed <= 20; seed++) {
		snprintf(name, sizeof name, "ready: random operations, seed %u",
			 seed);
		T_CHECK(name, model_ok(ms, seed));
	}
	free(ms->heap);
	free(ms);
	return t_done();
}
