/* send_cust.c: the customers of the messages in memory.  Each has its
 * own ready heap (fair delivery, send_ready.c), a count of its jobs in
 * flight and the concurrency= limit of its rules (rules.cdb key
 * customer:<name>), read when first needed and again as soon as
 * rules.cdb was replaced (send_cust_limits).  A customer at its limit
 * is left out of the passes (send_cust_full) until a job of it ends.
 * Customers are kept while relay-send runs: there are as many as the
 * rules name (and "" for mail of none, bounces). */
#include "send.h"
#include "rulekeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long cust_gen = 1;

void send_cust_rules_changed(void)
{
	cust_gen++;
}

struct send_cust *send_cust_get(struct send_msgs *ms, const char *name)
{
	struct send_cust *c;

	if (!name)
		name = "";
	/* a linear search: once per message loaded, over the customers
	 * that have mail (a few to a few hundred) */
	for (size_t i = 0; i < ms->ncust; i++)
		if (strcmp(ms->cust[i]->name, name) == 0)
			return ms->cust[i];
	if (ms->ncust == ms->ccap) {
		size_t ncap = ms->ccap ? ms->ccap * 2 : 16;
		struct send_cust **nv = realloc(ms->cust, ncap * sizeof *nv);
		if (!nv)
			return NULL;
		ms->cust = nv;
		ms->ccap = ncap;
	}
	if (!(c = calloc(1, sizeof *c)))
		return NULL;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->idx = ms->ncust;
	ms->cust[ms->ncust++] = c;
	return c;
}

/* c's limit from db, unless read in this rules generation already. */
static void cust_limit(struct send_cust *c, struct rcdb *db)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	if (c->gen == cust_gen)
		return;
	c->limit = 0;
	snprintf(key, sizeof key, "customer:%s", c->name);
	if (c->name[0] && db && rcdb_gets(db, key, val, sizeof val) >= 0)
		c->limit = rk_num(val, RK_CUST_CONCURRENCY, 0);
	c->gen = cust_gen;
}

int send_cust_full(const struct send_cust *c)
{
	return c && c->limit > 0 && c->inflight >= c->limit;
}

int send_cust_room(struct send_cust *c, struct rcdb *db)
{
	if (!c)
		return 1;
	cust_limit(c, db);
	return !send_cust_full(c);
}

void send_cust_limits(struct send_msgs *ms, struct rcdb *db)
{
	for (size_t i = 0; i < ms->ncust; i++)
		cust_limit(ms->cust[i], db);
}
