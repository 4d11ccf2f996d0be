/* rate_store.c: the rate store relay.conf names (rate_store.h), and what
 * happens while Redis does not answer.
 *
 * Every failed exchange is bounded by rate_store_timeout; after one, the
 * client does not try again for a second (lib/rstore_open.c), so while
 * Redis is gone a decision costs a look at the clock.  A message whose
 * commit Redis did not take (it was down at that moment, or its
 * recipients were admitted on local counts) goes into a journal kept in
 * memory; the journal is replayed into Redis, with each message's own
 * time, as soon as Redis answers again: the shared counts then hold
 * everything the fleet relayed, and the log says how much was admitted
 * without them. */
#include "rate_store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rstore.h"
#include "settings.h"

#define JOURNAL_MAX 100000 /* messages kept for replay; beyond: logged */

struct jentry {
	long when, count;
	int local;                /* admitted on local counts */
	char user[RATE_NAME_MAX], cust[RATE_NAME_MAX];
	size_t nh;
	uint64_t h[];
};

static struct {
	int shared, fail_local, local_ok;
	struct rstore *rs;
	int down;
	long down_since;
	struct jentry **j;
	size_t nj, capj;
	long j_local_rcpts, j_late_rcpts, j_dropped;
} st;

static void sent_done(void *tag, redisReply *rep);

int rate_store_shared(void)
{
	return st.shared;
}

struct rstore *rate_store_client(void)
{
	return st.rs;
}

int rate_store_open(void)
{
	char err[512];

	st.fail_local = !strcmp(cf.rate_store_fail, "local");
	st.shared = strcmp(cf.rate_store, "local") != 0;
	st.local_ok = (!st.shared || st.fail_local) &&
		      rate_open(cf.counters_file) == 0;
	if (!st.shared)
		return st.local_ok ? 0 : -1;
	if (!(st.rs = rstore_from_settings(err, sizeof err))) {
		log_warn("rate_store: %s", err);
		return -1;
	}
	rate_redis_init(st.rs);
	rstore_set_done(st.rs, sent_done);
	log_info("rate_store: %s (rate_store_fail = %s, timeout %ld ms)",
		 cf.rate_store, cf.rate_store_fail, cf.rate_store_timeout);
	return 0;
}

void rate_store_close(void)
{
	if (st.rs)
		rstore_drain(st.rs);
	if (st.local_ok)
		rate_close();
	rstore_free(st.rs);
	st.rs = NULL;
}

struct rate_stxn *rate_store_txn_new(void)
{
	struct rate_stxn *t = calloc(1, sizeof *t);

	if (t && !(t->local = rate_txn_new())) {
		free(t);
		t = NULL;
	}
	return t;
}

static void txn_clear(struct rate_stxn *t)
{
	rate_txn_reset(t->local);
	t->id[0] = t->user[0] = t->cust[0] = '\0';
	t->n = t->umsg = t->nlocal = 0;
	t->nh = 0;
}

void rate_store_txn_reset(struct rate_stxn *t)
{
	if (!t)
		return;
	if (st.shared && !st.down)
		rate_redis_release(t); /* if Redis is gone, pending expires */
	txn_clear(t);
}

void rate_store_txn_free(struct rate_stxn *t)
{
	if (!t)
		return;
	rate_store_txn_reset(t);
	rate_txn_free(t->local);
	free(t->h);
	free(t);
}

static void went_down(void)
{
	if (st.down)
		return;
	st.down = 1;
	st.down_since = (long)time(NULL);
	log_warn("rate_store: Redis does not answer (%s): %s",
		 rate_redis_error(), st.fail_local ?
		 "counting on this box alone until it is back "
		 "(rate_store_fail = local)" :
		 "recipients get 451 4.3.0 until it is back "
		 "(rate_store_fail = defer)");
}

/* A message for Redis: what it needs to be counted (or replayed). */
static struct jentry *jentry_of(const struct rate_stxn *t, long now,
				int local)
{
	size_t nh = *t->user ? t->nh : 0;
	struct jentry *e = malloc(sizeof *e + nh * sizeof e->h[0]);

	if (!e)
		return NULL;
	e->when = now;
	e->count = (long)t->n + t->nlocal;
	e->local = local;
	memcpy(e->user, t->user, sizeof e->user);
	memcpy(e->cust, t->cust, sizeof e->cust);
	e->nh = nh;
	if (nh)
		memcpy(e->h, t->h, nh * sizeof e->h[0]);
	return e;
}

/* Keep a message Redis did not count, to replay when it is back. */
static void journal_push(struct jentry *e)
{
	if (st.nj == st.capj) {
		size_t cap = st.capj ? st.capj * 2 : 64;
		struct jentry **p = cap <= JOURNAL_MAX ?
			realloc(st.j, cap * sizeof *p) : NULL;
		if (!p) {
			st.j_dropped += e->count;
			free(e);
			return;
		}
		st.j = p;
		st.capj = cap;
	}
	st.j[st.nj++] = e;
	if (e->local)
		st.j_local_rcpts += e->count;
	else
		st.j_late_rcpts += e->count;
}

/* The reply to a commit sent without waiting (rstore_send); tag NULL is
 * a release, whose reply nobody needs.  Lost or refused: journalled. */
static void sent_done(void *tag, redisReply *rep)
{
	struct jentry *e = tag;

	if (!e)
		return;
	if (rep && rep->type != REDIS_REPLY_ERROR) {
		free(e);
		return;
	}
	if (rep)
		log_warn("rate_store: commit script: %s", rep->str);
	went_down();
	journal_push(e);
}

/* Redis answers again: replay the journal (oldest first), then say what
 * the outage cost. */
static void came_back(void)
{
	size_t done = 0;
	long now = (long)time(NULL);

	while (done < st.nj) {
		struct jentry *e = st.j[done];
		if (rate_redis_replay(e->user, e->cust, e->count, e->h, e->nh,
				      e->when) < 0)
			break;
		free(e);
		done++;
	}
	memmove(st.j, st.j + done, (st.nj - done) * sizeof *st.j);
	st.nj -= done;
	if (st.nj)
		return; /* the rest at the next decision */
	if (!st.j_local_rcpts && !st.j_late_rcpts && !st.j_dropped)
		log_info("rate_store: Redis answers again after %ld s",
			 now - st.down_since);
	else
		log_warn("rate_store: Redis answers again after %ld s; "
			 "meanwhile %ld recipients were admitted on this box's "
			 "own counts and %ld counted late, now added to the "
			 "shared counts%s; the fleet may have gone over a limit "
			 "by up to %ld recipients (from this box)",
			 now - st.down_since, st.j_local_rcpts, st.j_late_rcpts,
			 st.j_dropped ? " (some could not be kept)" : "",
			 st.j_local_rcpts + st.j_dropped);
	st.down = 0;
	st.j_local_rcpts = st.j_late_rcpts = st.j_dropped = 0;
}

static void names(struct rate_stxn *t, const char *user, const char *cust)
{
	if (*t->id || t->nlocal)
		return; /* fixed for the transaction at its first recipient */
	if (!user || rate_file_lower(t->user, user) < 0)
		t->user[0] = '\0';
	if (!cust || rate_file_lower(t->cust, cust) < 0)
		t->cust[0] = '\0';
}

static enum rate_verdict rcpt_local(struct rate_stxn *t, const char *user,
				    const char *customer, const char *rcpt,
				    const struct rate_limits *lim, long now)
{
	enum rate_verdict v;

	if (!st.local_ok)
		return RATE_FULL;
	v = rate_rcpt(t->local, user, customer, rcpt, lim, now);
	if (v == RATE_OK && st.shared) {
		uint64_t h = rate_file_hash(rcpt, strlen(rcpt));
		uint64_t *p = t->nh == t->cap ?
			realloc(t->h, (t->cap ? t->cap * 2 : 16) * sizeof *p) :
			t->h;
		if (!p)
			return RATE_FULL;
		if (t->nh == t->cap)
			t->cap = t->cap ? t->cap * 2 : 16;
		t->h = p;
		t->h[t->nh++] = h;
		t->nlocal++;
	}
	return v;
}

enum rate_verdict rate_store_rcpt(struct rate_stxn *t, const char *user,
				  const char *customer, const char *rcpt,
				  const struct rate_limits *lim, long now)
{
	int v;

	if (!t || !rcpt || !lim)
		return RATE_FULL;
	if (!st.shared)
		return rcpt_local(t, user, customer, rcpt, lim, now);
	if (st.down && st.nj)
		came_back();
	names(t, user, customer);
	if (!t->nlocal) {
		v = rate_redis_rcpt(t, rcpt, lim);
		if (v >= 0) {
			if (st.down && !st.nj)
				came_back();
			return (enum rate_verdict)v;
		}
		went_down();
		if (!st.fail_local)
			return RATE_FULL;
	}
	return rcpt_local(t, user, customer, rcpt, lim, now);
}

void rate_store_commit(struct rate_stxn *t, long now)
{
	if (!t)
		return;
	if (!st.shared) {
		rate_commit(t->local, now);
		txn_clear(t);
		return;
	}
	if (t->nlocal)
		rate_commit(t->local, now);
	if (t->n || t->nlocal) {
		struct jentry *e = jentry_of(t, now, t->nlocal > 0);
		if (!e) {
			log_warn("rate_store: out of memory: a message of %ld "
				 "recipients not counted", (long)t->n + t->nlocal);
		} else if (st.down || rate_redis_commit(t, e) < 0) {
			went_down();
			journal_push(e);
		}
	}
	txn_clear(t);
}

void rate_store_tick(void)
{
	if (!st.shared)
		return;
	if (rstore_inflight(st.rs))
		rstore_drain(st.rs); /* the replies of commits and releases */
	if (st.down && st.nj)
		came_back();
}
