/* rstore_stats.c: relayctl stats and relay-metrics over the shared rate
 * store: one run of the stats script (lib/rstore_lua.c) per user or
 * customer, and the "names" index for the list of everyone counted in
 * the last day, newest first.  For a list, the scripts go STATS_BATCH
 * at a time in one exchange: a snapshot of thousands of names costs a
 * few round trips, not one per name. */
#include "rstore_stats.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_lua.h"

#define STATS_BATCH 256 /* scripts in one exchange: bounded by the
			 * timeout as one exchange is */

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

/* The stats script's keys for a name of kind k, and its argument. */
struct stats_call {
	char keys[RK_N][RSTORE_KEY_MAX], nowa[32];
	const char *kk[7], *args[1];
};

static void stats_call(struct stats_call *c, const char *prefix,
		       enum rate_kind k, const char *name, long now)
{
	rstore_keys(c->keys, prefix, k == RATE_USER ? name : "",
		    k == RATE_CUSTOMER ? name : "");
	c->kk[0] = c->keys[RK_UM], c->kk[1] = c->keys[RK_UR];
	c->kk[2] = c->keys[RK_CD], c->kk[3] = c->keys[RK_CK];
	c->kk[4] = c->keys[RK_UPM], c->kk[5] = c->keys[RK_UPR];
	c->kk[6] = c->keys[RK_CP];
	if (now > 0)
		snprintf(c->nowa, sizeof c->nowa, "%ld", now);
	else
		c->nowa[0] = '\0';
	c->args[0] = c->nowa;
}

static void stats_start(struct rate_stats *st, enum rate_kind k,
			const char *name)
{
	memset(st, 0, sizeof *st);
	st->kind = k;
	snprintf(st->name, sizeof st->name, "%s", name);
}

/* 0 found, -1 nothing counted, -3 a reply that is not the script's. */
static int stats_result(const redisReply *rep, enum rate_kind k,
			struct rate_stats *st)
{
	if (fill(rep, k, st) < 0)
		return -3;
	return st->last || st->msgs || st->rcpts || st->peak ? 0 : -1;
}

int rstore_stats_get(struct rstore *r, const char *prefix, enum rate_kind k,
		     const char *name, long now, struct rate_stats *st)
{
	static struct stats_call c;
	char member[300];
	redisReply *rep[2] = { 0 };
	int rc;

	stats_start(st, k, name);
	stats_call(&c, prefix, k, name, now);
	snprintf(member, sizeof member, "%c %s", k == RATE_USER ? 'u' : 'c',
		 name);
	if (rstore_script_append(r, RSTORE_STATS, 1, 7, c.kk, 1, c.args) < 0 ||
	    rstore_append(r, 3, (const char *[]){ "ZSCORE",
						   c.keys[RK_NAMES], member },
			  NULL) < 0 ||
	    rstore_exec(r, rep, 2) < 0)
		return -3;
	if (rep[1]->type == REDIS_REPLY_STRING)
		st->last = atol(rep[1]->str);
	rc = stats_result(rep[0], k, st);
	rstore_replies_free(rep, 2);
	return rc;
}

static int is_noscript(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR &&
	       !strncmp(rep->str, "NOSCRIPT", 8);
}

/* The static buffers here serve one caller at a time: relay-metrics'
 * threads take the fleet's snapshot under one lock (mon_data.c).
 *
 * The scripts of names[0..n) in one exchange:
 * EVALSHA, and EVAL for the whole batch once when Redis does not know
 * the script (restarted, flushed).  The replies into rep[]; 0 or -3. */
static int batch_run(struct rstore *r, const char *prefix, enum rate_kind k,
		     char **names, size_t n, long now, redisReply **rep)
{
	static struct stats_call c;

	for (int eval = 0; eval < 2; eval++) {
		int again = 0;
		for (size_t i = 0; i < n; i++) {
			stats_call(&c, prefix, k, names[i], now);
			if (rstore_script_append(r, RSTORE_STATS, eval, 7, c.kk,
						 1, c.args) < 0) {
				/* out of memory: an exchange of no reply
				 * drops what was appended (and the
				 * connection) */
				rstore_exec(r, rep, 0);
				return -3;
			}
		}
		if (rstore_exec(r, rep, (int)n) < 0)
			return -3;
		for (size_t i = 0; i < n && !again; i++)
			again = is_noscript(rep[i]);
		if (!again)
			return 0;
		rstore_replies_free(rep, (int)n);
	}
	return -3;
}

/* fn for each name of names[0..n) (last[] seconds), a batch at a time;
 * fn's non-zero, 0, or -3. */
static int each_batch(struct rstore *r, const char *prefix, enum rate_kind k,
		      long now, char **names, const long *last, size_t n,
		      int (*fn)(const struct rate_stats *st, void *arg),
		      void *arg)
{
	static redisReply *rep[STATS_BATCH];
	struct rate_stats st;
	int rc = 0;

	for (size_t at = 0; rc == 0 && at < n; at += STATS_BATCH) {
		size_t b = n - at < STATS_BATCH ? n - at : STATS_BATCH;
		if (batch_run(r, prefix, k, names + at, b, now, rep) < 0)
			return -3;
		for (size_t i = 0; rc == 0 && i < b; i++) {
			stats_start(&st, k, names[at + i]);
			st.last = last[at + i];
			rc = stats_result(rep[i], k, &st);
			if (rc == 0)
				rc = fn(&st, arg);
			else if (rc == -1)
				rc = 0;
		}
		rstore_replies_free(rep, (int)b);
	}
	return rc;
}

int rstore_stats_each(struct rstore *r, const char *prefix, enum rate_kind k,
		      long now, int (*fn)(const struct rate_stats *st,
					  void *arg), void *arg)
{
	char keys[RK_N][RSTORE_KEY_MAX];
	redisReply *rep = NULL;
	char kc = k == RATE_USER ? 'u' : 'c', **names = NULL;
	long *last = NULL;
	size_t n = 0;
	int rc = -3;

	rstore_keys(keys, prefix, "", "");
	/* newest first: a caller that takes only so many keeps the most
	 * recently active */
	if (rstore_append(r, 5, (const char *[]){ "ZREVRANGE", keys[RK_NAMES],
						  "0", "-1", "WITHSCORES" },
			  NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -3;
	if (rep->type == REDIS_REPLY_ARRAY &&
	    (names = malloc((rep->elements / 2 + 1) * sizeof *names)) &&
	    (last = malloc((rep->elements / 2 + 1) * sizeof *last))) {
		for (size_t i = 0; i + 1 < rep->elements; i += 2) {
			const redisReply *e = rep->element[i];
			const redisReply *sc = rep->element[i + 1];
			if (e->type != REDIS_REPLY_STRING || e->len < 3 ||
			    e->str[0] != kc || e->str[1] != ' ' ||
			    sc->type != REDIS_REPLY_STRING)
				continue;
			names[n] = e->str + 2;
			last[n++] = atol(sc->str);
		}
		rc = each_batch(r, prefix, k, now, names, last, n, fn, arg);
	}
	free(names);
	free(last);
	freeReplyObject(rep);
	return rc;
}
