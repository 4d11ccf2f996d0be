/* rstore_stats.c: relayctl stats over the shared rate store: one run of
 * the stats script (lib/rstore_lua.c) per user or customer, and the
 * "names" index for the list of everyone counted in the last day. */
#include "rstore_stats.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_lua.h"

static long int_at(const redisReply *rep, size_t i)
{
	const redisReply *e = rep->element[i];
	return e->type == REDIS_REPLY_INTEGER ? (long)e->integer : -1;
}

/* The script's {um, um_old, ur, ur_old, cd, cd_old, ck, ck_old, now}
 * into st; *_free_at: when the oldest live bucket leaves its window. */
static int fill(const redisReply *rep, enum rate_kind k, struct rate_stats *st)
{
	long v[9];

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 9)
		return -1;
	for (size_t i = 0; i < 9; i++)
		v[i] = int_at(rep, i);
	if (k == RATE_USER) {
		st->msgs = v[0] > 0 ? v[0] : 0;
		st->rcpts = v[2] > 0 ? v[2] : 0;
		st->msgs_free_at = st->msgs && v[1] >= 0 ? (v[1] + 1441) * 60 : 0;
		st->rcpts_free_at = st->rcpts && v[3] >= 0 ? (v[3] + 1441) * 60 : 0;
	} else {
		st->rcpts = v[4] > 0 ? v[4] : 0;
		st->peak = v[6] > 0 ? v[6] : 0;
		st->rcpts_free_at = st->rcpts && v[5] >= 0 ? (v[5] + 1441) * 60 : 0;
		st->peak_free_at = st->peak && v[7] >= 0 ? v[7] + 600 : 0;
	}
	return 0;
}

int rstore_stats_get(struct rstore *r, const char *prefix, enum rate_kind k,
		     const char *name, long now, struct rate_stats *st)
{
	char keys[RK_N][RSTORE_KEY_MAX], nowa[32], member[300];
	const char *kk[7], *args[1] = { nowa };
	redisReply *rep[2] = { 0 };
	int rc;

	memset(st, 0, sizeof *st);
	st->kind = k;
	snprintf(st->name, sizeof st->name, "%s", name);
	rstore_keys(keys, prefix, k == RATE_USER ? name : "",
		    k == RATE_CUSTOMER ? name : "");
	kk[0] = keys[RK_UM], kk[1] = keys[RK_UR], kk[2] = keys[RK_CD],
	kk[3] = keys[RK_CK], kk[4] = keys[RK_UPM], kk[5] = keys[RK_UPR];
	kk[6] = keys[RK_CP];
	if (now > 0)
		snprintf(nowa, sizeof nowa, "%ld", now);
	else
		nowa[0] = '\0';
	snprintf(member, sizeof member, "%c %s", k == RATE_USER ? 'u' : 'c',
		 name);
	if (rstore_script_append(r, RSTORE_STATS, 1, 7, kk, 1, args) < 0 ||
	    rstore_append(r, 3, (const char *[]){ "ZSCORE", keys[RK_NAMES],
						   member }, NULL) < 0 ||
	    rstore_exec(r, rep, 2) < 0)
		return -3;
	rc = fill(rep[0], k, st);
	if (rep[1]->type == REDIS_REPLY_STRING)
		st->last = atol(rep[1]->str);
	rstore_replies_free(rep, 2);
	if (rc < 0)
		return -3;
	return st->last || st->msgs || st->rcpts || st->peak ? 0 : -1;
}

int rstore_stats_each(struct rstore *r, const char *prefix, enum rate_kind k,
		      long now, int (*fn)(const struct rate_stats *st,
					  void *arg), void *arg)
{
	char keys[RK_N][RSTORE_KEY_MAX];
	redisReply *rep = NULL;
	struct rate_stats st;
	char kc = k == RATE_USER ? 'u' : 'c';
	int rc = 0;

	rstore_keys(keys, prefix, "", "");
	if (rstore_append(r, 4, (const char *[]){ "ZRANGE", keys[RK_NAMES],
						  "0", "-1" }, NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -3;
	for (size_t i = 0; rc == 0 && rep->type == REDIS_REPLY_ARRAY &&
			   i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		if (e->type != REDIS_REPLY_STRING || e->len < 3 ||
		    e->str[0] != kc || e->str[1] != ' ')
			continue;
		rc = rstore_stats_get(r, prefix, k, e->str + 2, now, &st);
		if (rc == 0)
			rc = fn(&st, arg);
		else if (rc == -1)
			rc = 0;
	}
	freeReplyObject(rep);
	return rc;
}
