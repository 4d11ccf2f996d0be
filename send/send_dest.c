/* send_dest.c: the lines of destinations at their dest_concurrency
 * limit.  A message whose due recipients met a destination with no room
 * (send_worker_dispatch: every worker it may have is busy with it and
 * holds as many jobs as it can) waits in that destination's line,
 * untouched, instead of being looked at again every second; when a job
 * for the destination ends (send_dest_released) the next pass serves
 * the line (send_dest_next) while the destination has room, and the
 * slot goes to the message next in line at once.
 *
 * A line keeps one queue per customer, in the order its messages met
 * the limit.  With fair delivery the customers of a line take the
 * slots in turn, so another customer's few messages wait for a few
 * slots, not behind a backlog; without it the message that met the
 * limit first goes first.  Either way a customer at its concurrency=
 * limit is passed over (its messages keep their places).
 *
 * Bounded: only a destination at its limit gets a line, and that takes
 * dest_concurrency (at least 1) busy workers whose jobs are all for it,
 * so there are at most remote_workers destinations at their limit at
 * once, whatever the recipient domains clients choose; a line is freed
 * with its last message.  The lines are ms->maxlines slots
 * (remote_workers); should they all be taken (lines kept by customers
 * at their own limits) a message is tried again a second later, as
 * before lines.  The messages are linked through themselves.  A
 * message in a line also stays in its ready heap, due when its own next
 * event is (a retry of its other recipients, its expiry, its delay
 * warning), so those keep their times. */
#include "send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line of dest, NULL when dest has none. */
static struct send_dline *dest_line(struct send_msgs *ms, const char *dest)
{
	for (size_t i = 0; ms->nlines && i < ms->maxlines; i++)
		if (ms->lines[i].turn && strcmp(ms->lines[i].dest, dest) == 0)
			return &ms->lines[i];
	return NULL;
}

/* A free slot for dest's line; NULL when every slot is taken. */
static struct send_dline *dest_slot(struct send_msgs *ms, const char *dest)
{
	if (!ms->lines && ms->maxlines &&
	    !(ms->lines = calloc(ms->maxlines, sizeof *ms->lines)))
		return NULL;
	for (size_t i = 0; i < ms->maxlines; i++) {
		struct send_dline *l = &ms->lines[i];
		if (l->turn)
			continue;
		snprintf(l->dest, sizeof l->dest, "%s", dest);
		l->released = 0;
		return l;
	}
	return NULL;
}

/* The queue of customer c in l, made (and put last in turn) if need be;
 * NULL when out of memory. */
static struct send_dwait *dest_queue(struct send_msgs *ms,
				     struct send_dline *l,
				     struct send_cust *c)
{
	struct send_dwait *q = l->turn;

	if (q)
		do {
			if (q->cust == c)
				return q;
			q = q->next;
		} while (q != l->turn);
	if (!(q = calloc(1, sizeof *q)))
		return NULL;
	q->line = l;
	q->cust = c;
	if (!l->turn) {
		q->next = q;
		l->turn = q;
		ms->nlines++;
	} else {
		/* last in turn: before the one whose turn it is */
		struct send_dwait *p = l->turn;
		while (p->next != l->turn)
			p = p->next;
		p->next = q;
		q->next = l->turn;
	}
	return q;
}

int send_dest_waits(const struct send_msg *m, const char *dest)
{
	return m->dwait && strcmp(m->dwait->line->dest, dest) == 0;
}

int send_dest_wait(struct send_msgs *ms, struct send_msg *m, const char *dest)
{
	struct send_dline *l;
	struct send_dwait *q;

	if (send_dest_waits(m, dest))
		return 0; /* keeps its place */
	send_dest_leave(ms, m);
	if (!(l = dest_line(ms, dest)) && !(l = dest_slot(ms, dest)))
		return -1;
	if (!(q = dest_queue(ms, l, m->cust)))
		return -1; /* a new line (turn NULL) stays free */
	m->dwait = q;
	m->dnext = NULL;
	m->dprev = q->tail;
	if (q->tail)
		q->tail->dnext = m;
	else
		q->head = m;
	q->tail = m;
	m->dseq = ++ms->dseq;
	return 0;
}

/* q is empty: out of its line's turns (the line freed with its last). */
static void dest_queue_free(struct send_msgs *ms, struct send_dwait *q)
{
	struct send_dline *l = q->line;
	struct send_dwait *p = q;

	while (p->next != q)
		p = p->next;
	if (p == q) {
		l->turn = NULL;
		l->released = 0;
		ms->nlines--;
	} else {
		p->next = q->next;
		if (l->turn == q)
			l->turn = q->next;
	}
	free(q);
}

void send_dest_leave(struct send_msgs *ms, struct send_msg *m)
{
	struct send_dwait *q = m->dwait;

	if (!q)
		return;
	if (m->dprev)
		m->dprev->dnext = m->dnext;
	else
		q->head = m->dnext;
	if (m->dnext)
		m->dnext->dprev = m->dprev;
	else
		q->tail = m->dprev;
	m->dwait = NULL;
	m->dnext = m->dprev = NULL;
	if (!q->head)
		dest_queue_free(ms, q);
}

void send_dest_released(struct send_msgs *ms, const char *dest)
{
	struct send_dline *l = dest_line(ms, dest);

	if (l)
		l->released = 1;
}

/* The queue of l to serve next, NULL when every customer waiting in it
 * is at its limit.  Fair: the next customer in turn (and the turn moves
 * past it); else the message that met the limit first. */
static struct send_dwait *dest_pick(const struct send_msgs *ms,
				    struct send_dline *l)
{
	struct send_dwait *q = l->turn, *best = NULL;

	do {
		if (!send_cust_full(q->cust) &&
		    (!best || q->head->dseq < best->head->dseq))
			best = q;
		q = q->next;
	} while (q != l->turn && !(ms->fair && best));
	if (best && ms->fair)
		l->turn = best->next;
	return best;
}

struct send_msg *send_dest_next(struct send_msgs *ms,
				int (*room)(const char *dest), size_t *cursor)
{
	for (; ms->nlines && *cursor < ms->maxlines; ++*cursor) {
		struct send_dline *l = &ms->lines[*cursor];
		struct send_dwait *q;
		int r;
		if (!l->turn || !l->released)
			continue;
		/* no worker for dest now (none idle, none of its own with
		 * room): the line stays due, and the next may have room */
		if ((r = room(l->dest)) < 0)
			continue;
		if (r == 0) {
			l->released = 0; /* full again: the next release */
			continue;
		}
		/* its customers all at their limit: looked at again in the
		 * passes their releases run (released stays set) */
		if ((q = dest_pick(ms, l)))
			return q->head;
	}
	return NULL;
}
