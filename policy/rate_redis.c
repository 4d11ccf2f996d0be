/* rate_redis.c: the limits of doc/BEHAVIOUR.md §3 counted in Redis, shared
 * by every box of a fleet.  One script run per RCPT (RSTORE_RCPT: check
 * committed + every box's pending + this one, then reserve it), one per
 * message (RSTORE_COMMIT), one per aborted transaction that reserved
 * anything (RSTORE_RELEASE).  Scripts and keys: lib/rstore_lua.c.
 *
 * A reservation (pending) lives in Redis under the transaction's id,
 * unique in the fleet (host, pid, a random start value, a counter), with
 * the time it was made: until a commit or a release takes it out it
 * counts in each window as a count made then would, so a box that dies
 * mid-transaction (whose client may have its message queued all the
 * same) leaves it counted: over, never under. */
#include "rate_store.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "rstore_lua.h"
#include "settings.h"

static struct {
	struct rstore *rs;
	char box[64];
	unsigned long long seq;
} rd;

int rate_redis_init(struct rstore *rs)
{
	unsigned r = 0;

	rd.rs = rs;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (unsigned)getpid();
	snprintf(rd.box, sizeof rd.box, "%.32s:%ld:%08x", cf.hostname,
		 (long)getpid(), r);
	return 0;
}

const char *rate_redis_error(void)
{
	return rd.rs ? rstore_error(rd.rs) : "no Redis client";
}

static void make_keys(char k[RK_N][RSTORE_KEY_MAX], const char *user,
		      const char *cust)
{
	rstore_keys(k, cf.rate_store_prefix, user, cust);
}

static int push_hash(struct rate_stxn *t, uint64_t h)
{
	if (t->nh == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		uint64_t *p = realloc(t->h, cap * sizeof *p);
		if (!p)
			return -1;
		t->h = p;
		t->cap = cap;
	}
	t->h[t->nh++] = h;
	return 0;
}

static int in_txn(const struct rate_stxn *t, uint64_t h)
{
	for (size_t i = 0; i < t->nh; i++)
		if (t->h[i] == h)
			return 1;
	return 0;
}

/* An error from Redis (READONLY from a master demoted by a failover,
 * LOADING, a script error): the next exchange goes on a new connection,
 * found through Sentinel again when there is one. */
static void reply_error(const redisReply *rep, const char *what)
{
	log_warn("rate_store: %s: %s", what, rep->type == REDIS_REPLY_ERROR ?
		 rep->str : "unexpected reply");
	rstore_reset(rd.rs);
}

/* {verdict, unew} from the rcpt script; -1 for anything else (quiet:
 * inside a done function, which may not touch the connection: the
 * caller resets it later, rate_redis_reset_wanted). */
static int rate_redis_wants_reset;

void rate_redis_reset_later(void)
{
	rate_redis_wants_reset = 1;
}

int rate_redis_reset_wanted(void)
{
	int w = rate_redis_wants_reset;
	rate_redis_wants_reset = 0;
	return w;
}

static int rcpt_verdict(const redisReply *rep, int quiet)
{
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[0]->integer >= 0 && rep->element[0]->integer <= 3)
		return (int)rep->element[0]->integer;
	if (quiet) {
		log_warn("rate_store: rcpt script: %s",
			 rep->type == REDIS_REPLY_ERROR ? rep->str
							: "unexpected reply");
		rate_redis_wants_reset = 1;
	} else {
		reply_error(rep, "rcpt script");
	}
	return -1;
}

/* The rcpt script's keys and arguments for t's next recipient (hash h),
 * in the caller's buffers. */
struct rcpt_call {
	char k[RK_N][RSTORE_KEY_MAX], a[12][40];
	const char *keys[7], *args[12];
};

void rate_redis_new_id(char *id, size_t n)
{
	snprintf(id, n, "%s:%llu", rd.box, ++rd.seq);
}

static void rcpt_args(struct rate_stxn *t, uint64_t h, int umsg,
		      const struct rate_limits *lim, struct rcpt_call *c)
{
	if (!*t->id)
		rate_redis_new_id(t->id, sizeof t->id);
	make_keys(c->k, t->user, t->cust);
	snprintf(c->a[0], 40, "%d", *t->user != '\0');
	snprintf(c->a[1], 40, "%d", *t->cust != '\0');
	c->a[2][0] = '\0'; /* now: the server's clock */
	c->a[3][0] = '\0';
	snprintf(c->a[4], 40, "%d", t->n + 1);
	if (t->n + 1 > t->nsent)
		t->nsent = t->n + 1; /* Redis may run it, answer or not */
	t->usent |= umsg;
	snprintf(c->a[5], 40, "%016llx", (unsigned long long)h);
	snprintf(c->a[6], 40, "%d", umsg);
	snprintf(c->a[7], 40, "%d", in_txn(t, h));
	snprintf(c->a[8], 40, "%ld", lim->user_msgs);
	snprintf(c->a[9], 40, "%ld", lim->user_rcpts);
	snprintf(c->a[10], 40, "%ld", lim->cust_daily);
	snprintf(c->a[11], 40, "%ld", lim->cust_peak);
	for (int i = 0; i < 12; i++)
		c->args[i] = c->a[i];
	c->args[3] = t->id;
	for (int i = 0; i < 7; i++)
		c->keys[i] = c->k[i];
}

int rate_redis_rcpt_result(struct rate_stxn *t, const redisReply *rep,
			   uint64_t h, int umsg, int quiet)
{
	static const enum rate_verdict verdicts[4] = {
		RATE_OK, RATE_USER_DAILY, RATE_CUST_DAILY, RATE_CUST_PEAK };
	int v = rep ? rcpt_verdict(rep, quiet) : -1;

	if (v != 0)
		return v < 0 ? -1 : (int)verdicts[v];
	if (push_hash(t, h) < 0)
		return RATE_FULL; /* reserved in Redis; released at reset */
	t->n++;
	t->umsg |= umsg;
	return RATE_OK;
}

int rate_redis_rcpt(struct rate_stxn *t, const char *rcpt,
		    const struct rate_limits *lim)
{
	static struct rcpt_call c;
	uint64_t h = rate_file_hash(rcpt, strlen(rcpt));
	int umsg = *t->user && !t->umsg, v;
	redisReply *rep = NULL;

	rcpt_args(t, h, umsg, lim, &c);
	if (rstore_script_run(rd.rs, RSTORE_RCPT, 7, c.keys, 12, c.args,
			      &rep) < 0)
		return -1;
	v = rate_redis_rcpt_result(t, rep, h, umsg, 0);
	freeReplyObject(rep);
	return v;
}

int rate_redis_rcpt_send(struct rate_stxn *t, const char *rcpt,
			 const struct rate_limits *lim, void *tag,
			 uint64_t *h, int *umsg)
{
	static struct rcpt_call c;

	*h = rate_file_hash(rcpt, strlen(rcpt));
	*umsg = *t->user && !t->umsg;
	rcpt_args(t, *h, *umsg, lim, &c);
	if (rstore_script_append_nowait(rd.rs, RSTORE_RCPT, 7, c.keys, 12,
					c.args) < 0)
		return -1;
	return rstore_send(rd.rs, tag);
}

/* The commit script for user/cust with count recipients (hashes h[]):
 * id "" and when > 0 for a replayed count.  tag NULL: run it and wait;
 * else send it and let the done function have its reply. */
static int commit_call(const char *id, int npend, const char *user,
		       const char *cust, long count, const uint64_t *h,
		       size_t nh, long when, void *tag)
{
	char k[RK_N][RSTORE_KEY_MAX], a[6][40], (*hx)[17] = NULL;
	char done[RSTORE_KEY_MAX];
	const char **args = malloc((8 + nh) * sizeof *args), *keys[9];
	redisReply *rep = NULL;
	int rc = -1;

	if (!args || (nh && !(hx = malloc(nh * sizeof *hx))))
		goto out;
	make_keys(k, user, cust);
	snprintf(a[0], 40, "%d", *user != '\0');
	snprintf(a[1], 40, "%d", *cust != '\0');
	if (when > 0)
		snprintf(a[2], 40, "%ld", when);
	else
		a[2][0] = '\0';
	snprintf(a[3], 40, "%d", npend);
	snprintf(a[4], 40, "%ld", count);
	args[0] = a[0], args[1] = a[1], args[2] = a[2], args[3] = id;
	args[4] = a[3], args[5] = a[4], args[6] = user, args[7] = cust;
	for (size_t i = 0; i < nh; i++) {
		snprintf(hx[i], sizeof hx[i], "%016llx", (unsigned long long)h[i]);
		args[8 + i] = hx[i];
	}
	for (int i = 0; i < 8; i++)
		keys[i] = k[i];
	/* once per transaction: a late commit and its replay count once */
	rstore_done_key(done, cf.rate_store_prefix, id);
	keys[8] = done;
	if (tag) {
		if (rstore_script_append_nowait(rd.rs, RSTORE_COMMIT, 9, keys,
						8 + (int)nh, args) == 0)
			rc = rstore_send(rd.rs, tag);
	} else if (rstore_script_run(rd.rs, RSTORE_COMMIT, 9, keys, 8 + (int)nh,
				     args, &rep) == 0) {
		rc = rep->type == REDIS_REPLY_ERROR ? -1 : 0;
		if (rc < 0)
			reply_error(rep, "commit script");
		freeReplyObject(rep);
	}
out:
	free(args);
	free(hx);
	return rc;
}

int rate_redis_npend(const struct rate_stxn *t)
{
	return t->nsent > t->n ? t->nsent : t->n;
}

int rate_redis_commit(struct rate_stxn *t, void *tag)
{
	return commit_call(t->id, rate_redis_npend(t), t->user, t->cust,
			   (long)t->n + t->nlocal, *t->user ? t->h : NULL,
			   *t->user ? t->nh : 0, 0, tag);
}

int rate_redis_replay(const char *id, int npend, const char *user,
		      const char *cust, long count, const uint64_t *h,
		      size_t nh, long when, void *tag)
{
	return commit_call(id, npend, user, cust, count, h, nh, when, tag);
}

int rate_redis_release(struct rate_stxn *t)
{
	char k[RK_N][RSTORE_KEY_MAX], n[16];
	const char *keys[3], *args[2];

	if (!rate_redis_npend(t) && !t->umsg && !t->usent)
		return 0;
	make_keys(k, t->user, t->cust);
	keys[0] = k[2], keys[1] = k[3], keys[2] = k[6];
	snprintf(n, sizeof n, "%d", rate_redis_npend(t));
	args[0] = t->id, args[1] = n;
	/* nobody waits for it: a release lost is one that expires */
	if (rstore_script_append_nowait(rd.rs, RSTORE_RELEASE, 3, keys, 2,
					args) < 0)
		return -1;
	return rstore_send(rd.rs, NULL);
}
