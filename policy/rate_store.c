/* rate_store.c: the rate store relay.conf names (rate_store.h), and what
 * happens while Redis does not answer.
 *
 * Every failed exchange is bounded by rate_store_timeout; after one, the
 * client does not try again for a second (lib/rstore_open.c), so while
 * Redis is gone a decision costs a look at the clock.  A message whose
 * commit Redis did not take (it was down at that moment, or its
 * recipients were admitted on local counts) goes into a journal kept in
 * memory; the journal is replayed into Redis, with each message's own
 * time, once Redis answers again: the shared counts then hold
 * everything the fleet relayed, and the log says how much was admitted
 * without them.  The replay goes in the background, pipelined like the
 * commits: at most REPLAY_FLY replays in flight, topped up at each
 * wake-up of the loop, so decisions go on meanwhile (each waits behind
 * REPLAY_FLY scripts at most, never behind the whole journal).  A
 * replay whose reply is lost goes back into the journal; the commit
 * script counts a transaction once (its done key), so a replay Redis
 * did run is not counted twice.  A commit or replay that Redis answers
 * with an error (a script flushed, READONLY from a demoted master, no
 * permission) resets the connection, as a RCPT's error does, so an idle
 * box does not keep asking on a connection that cannot work; while
 * Redis does not answer, an idle box asks with one replay after a wait
 * that doubles at each failure, from a second up to PROBE_MAX_MS. */
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
#define RELEASES_MAX 10000 /* releases kept while Redis is down */
#define REPLAY_FLY 64      /* replays in flight at once: what a decision
			    * may wait behind on the one connection */
#define PROBE_FIRST_MS 1000 /* an idle box's asks while Redis fails: */
#define PROBE_MAX_MS 30000  /* the wait doubles from the first to this */

enum { FL_COMMIT = 1, FL_RCPT }; /* what a tag in flight is */

struct jentry {
	int kind;                 /* FL_COMMIT (first: tags are told apart) */
	long when, count;
	int local;                /* admitted on local counts */
	int kept;                 /* in the outage's totals already */
	int replay;               /* sent as a replay, reply to come */
	char user[RATE_NAME_MAX], cust[RATE_NAME_MAX];
	char id[96];              /* the transaction's reservations, */
	int npend;                /* taken out when it is replayed */
	size_t nh;
	uint64_t h[];
};

/* A RCPT whose script is in flight: the session waits for its verdict
 * (rate_store_on_rcpt's function gets it with tag).  t NULL: the
 * session went away meanwhile; a reservation it got is released. */
struct rflight {
	int kind;                 /* FL_RCPT */
	struct rate_stxn *t;
	void *tag;
	uint64_t h;
	int umsg, n;
	char id[96], user[RATE_NAME_MAX], cust[RATE_NAME_MAX];
	char rcpt[RATE_NAME_MAX];
	struct rate_limits lim;
	long now;
};

struct orphan {               /* a release to send later (release_later) */
	char id[96], user[RATE_NAME_MAX], cust[RATE_NAME_MAX];
	int n;
};

static struct {
	int shared, fail_local, local_ok;
	rate_rcpt_done_fn on_rcpt;
	struct orphan *orph;
	size_t norph;
	struct rstore *rs;
	int down;                 /* Redis does not answer */
	int outage;               /* since went_down, until its journal is
				   * replayed and the log said so */
	long down_since;
	struct jentry **j;        /* the journal: j[jhead..nj), oldest first */
	size_t jhead, nj, capj;
	size_t nreplay;           /* replays in flight */
	long probe_at, probe_wait; /* the next idle ask (ms, monotonic) and
				    * the wait before it; 0 after a success */
	long j_local_rcpts, j_late_rcpts, j_dropped;
} st;

static void sent_done(void *tag, redisReply *rep);
static void after_done(void);

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A commit or replay failed: the next idle ask waits longer. */
static void probe_later(void)
{
	st.probe_wait = st.probe_wait ? st.probe_wait * 2 : PROBE_FIRST_MS;
	if (st.probe_wait > PROBE_MAX_MS)
		st.probe_wait = PROBE_MAX_MS;
	st.probe_at = now_ms() + st.probe_wait;
}

/* A release to send once it may be: after a done function, or once Redis
 * answers again (a reservation it did not take out counts for the day).
 * Beyond RELEASES_MAX it stays counted: over, never under. */
static void release_later(const char *id, const char *user, const char *cust,
			  int n)
{
	struct orphan *p;

	if (st.norph >= RELEASES_MAX ||
	    !(p = realloc(st.orph, (st.norph + 1) * sizeof *p)))
		return;
	st.orph = p;
	memcpy(p[st.norph].id, id, sizeof p->id);
	memcpy(p[st.norph].user, user, sizeof p->user);
	memcpy(p[st.norph].cust, cust, sizeof p->cust);
	p[st.norph++].n = n;
}

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
	if (!st.shared)
		return 0;
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

int rate_store_counters_open(void)
{
	st.local_ok = (!st.shared || st.fail_local) &&
		      rate_open(cf.counters_file) == 0;
	return st.shared || st.local_ok ? 0 : -1;
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
	t->nsent = t->usent = 0;
	t->nh = 0;
}

/* The session goes away (or its transaction) with a RCPT in flight:
 * the reply finds no transaction, and releases what it reserved. */
static void flight_cancel(struct rate_stxn *t)
{
	if (!t->flight)
		return;
	t->flight->t = NULL;
	t->flight->tag = NULL;
	t->flight = NULL;
}

/* Take out of Redis whatever t's RCPTs may have reserved there. */
static void txn_release(struct rate_stxn *t)
{
	int npend = rate_redis_npend(t);

	if (st.shared && (npend || t->umsg || t->usent) &&
	    (st.down || rate_redis_release(t) < 0))
		release_later(t->id, t->user, t->cust, npend);
}

void rate_store_txn_reset(struct rate_stxn *t)
{
	if (!t)
		return;
	flight_cancel(t);
	txn_release(t);
	txn_clear(t);
}

static void txn_dispose(struct rate_stxn *t)
{
	rate_txn_free(t->local);
	free(t->h);
	free(t);
}

void rate_store_txn_free(struct rate_stxn *t)
{
	if (!t)
		return;
	rate_store_txn_reset(t);
	txn_dispose(t);
}

void rate_store_txn_drop(struct rate_stxn *t, long now)
{
	if (!t)
		return;
	flight_cancel(t); /* smtpd never had that one's answer */
	rate_store_commit(t, now);
	txn_dispose(t);
}

static void went_down(void)
{
	if (st.down)
		return;
	st.down = 1;
	if (!st.outage)
		st.down_since = (long)time(NULL);
	st.outage = 1;
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
	e->kind = FL_COMMIT;
	e->kept = e->replay = 0;
	e->when = now;
	e->count = (long)t->n + t->nlocal;
	e->local = local;
	memcpy(e->user, t->user, sizeof e->user);
	memcpy(e->cust, t->cust, sizeof e->cust);
	memcpy(e->id, t->id, sizeof e->id);
	e->npend = rate_redis_npend(t);
	e->nh = nh;
	if (nh)
		memcpy(e->h, t->h, nh * sizeof e->h[0]);
	return e;
}

/* Keep a message Redis did not count, to replay when it is back (again,
 * when its replay was lost: counted in the outage's totals once). */
static void journal_push(struct jentry *e)
{
	if (st.nj == st.capj && st.jhead) { /* room the replays freed */
		memmove(st.j, st.j + st.jhead, (st.nj - st.jhead) * sizeof *st.j);
		st.nj -= st.jhead;
		st.jhead = 0;
	}
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
	if (e->kept)
		return;
	e->kept = 1;
	if (e->local)
		st.j_local_rcpts += e->count;
	else
		st.j_late_rcpts += e->count;
}

static size_t journal_len(void)
{
	return st.nj - st.jhead;
}

/* The reply to a commit sent without waiting (rstore_send); tag NULL is
 * a release, whose reply nobody needs.  Lost or refused: journalled. */
static void rcpt_done(struct rflight *f, redisReply *rep);

static void sent_done(void *tag, redisReply *rep)
{
	struct jentry *e = tag;

	if (!e)
		return;
	if (e->kind == FL_RCPT) {
		rcpt_done(tag, rep);
		return;
	}
	if (e->replay) {
		e->replay = 0;
		st.nreplay--;
	}
	if (rep && rep->type != REDIS_REPLY_ERROR) {
		st.down = 0; /* it answers: the journal may go on */
		st.probe_wait = 0;
		free(e);
		return;
	}
	if (rep) {
		log_warn("rate_store: commit script: %s", rep->str);
		rate_redis_reset_later(); /* after_done: a new connection */
	}
	went_down();
	probe_later();
	journal_push(e);
}

/* Send journalled messages (oldest first) while fewer than REPLAY_FLY
 * are in flight; n at most.  Their replies come to sent_done. */
static void replay_send(size_t n)
{
	while (n-- && st.nreplay < REPLAY_FLY && journal_len()) {
		struct jentry *e = st.j[st.jhead];
		e->replay = 1;
		if (rate_redis_replay(e->id, e->npend, e->user, e->cust,
				      e->count, e->h, e->nh, e->when, e) < 0) {
			e->replay = 0; /* not sent: it stays first */
			went_down();
			probe_later();
			return;
		}
		st.nreplay++;
		if (++st.jhead == st.nj)
			st.jhead = st.nj = 0;
	}
}

/* The outage is over once Redis answers and holds the whole journal:
 * say what it cost. */
static void outage_end(void)
{
	long now = (long)time(NULL);

	if (!st.outage || st.down || journal_len() || st.nreplay)
		return;
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
	st.outage = 0;
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
	names(t, user, customer);
	if (!t->nlocal) {
		v = rate_redis_rcpt(t, rcpt, lim);
		if (v >= 0) {
			st.down = 0; /* the journal goes at the next wake-up */
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
		struct jentry *e;
		if (!*t->id) /* admitted on local counts alone: the commit
			      * (and its replay) are counted once by id */
			rate_redis_new_id(t->id, sizeof t->id);
		e = jentry_of(t, now, t->nlocal > 0);
		if (!e) {
			log_warn("rate_store: out of memory: a message of %ld "
				 "recipients not counted", (long)t->n + t->nlocal);
		} else if (st.down || rate_redis_commit(t, e) < 0) {
			went_down();
			journal_push(e);
		}
	} else {
		txn_release(t); /* RCPTs whose reply never came */
	}
	txn_clear(t);
}

/* st.rs is NULL when a shared store is set but could not be opened
 * (rate_ok is then 0: recipients are deferred, nothing is in flight).
 * While Redis is down, an idle box asks it with one replay once its
 * wait is over (probe_later), on a new connection after an error: its
 * reply says Redis is back (sent_done); the rest follows in
 * rate_store_poll. */
void rate_store_tick(void)
{
	if (!st.rs)
		return;
	if (rstore_inflight(st.rs))
		rstore_drain(st.rs); /* the replies of commits and releases */
	after_done();
	if (st.down && !st.nreplay && now_ms() >= st.probe_at)
		replay_send(1);
	outage_end();
}

/* ---- RCPTs that do not hold the loop (rate_store.h) ---- */

void rate_store_on_rcpt(rate_rcpt_done_fn fn)
{
	st.on_rcpt = fn;
}

static void orphan_add(const struct rflight *f)
{
	release_later(f->id, f->user, f->cust, f->n);
}

/* Inside a done function: no call into the connection here. */
static void rcpt_done(struct rflight *f, redisReply *rep)
{
	struct rate_stxn *t = f->t;
	int v;

	if (!t) {
		/* no reply (timed out): Redis may run it all the same */
		orphan_add(f);
		free(f);
		return;
	}
	t->flight = NULL;
	v = rate_redis_rcpt_result(t, rep, f->h, f->umsg, 1);
	if (v < 0) {
		went_down();
		v = st.fail_local ? (int)rcpt_local(t, *f->user ? f->user : NULL,
						    *f->cust ? f->cust : NULL,
						    f->rcpt, &f->lim, f->now)
				  : RATE_FULL;
	}
	if (st.on_rcpt)
		st.on_rcpt(f->tag, (enum rate_verdict)v);
	free(f);
}

int rate_store_rcpt_start(struct rate_stxn *t, const char *user,
			  const char *customer, const char *rcpt,
			  const struct rate_limits *lim, long now, void *tag,
			  enum rate_verdict *v)
{
	struct rflight *f;

	if (!st.shared || !st.on_rcpt || !t || !rcpt || !lim || t->nlocal ||
	    st.down || strlen(rcpt) >= sizeof f->rcpt ||
	    !(f = calloc(1, sizeof *f))) {
		*v = rate_store_rcpt(t, user, customer, rcpt, lim, now);
		return 0;
	}
	names(t, user, customer);
	f->kind = FL_RCPT;
	f->t = t;
	f->tag = tag;
	memcpy(f->user, t->user, sizeof f->user);
	memcpy(f->cust, t->cust, sizeof f->cust);
	strcpy(f->rcpt, rcpt);
	f->lim = *lim;
	f->now = now;
	if (rate_redis_rcpt_send(t, rcpt, lim, f, &f->h, &f->umsg) < 0) {
		free(f);
		went_down();
		*v = st.fail_local ? rcpt_local(t, user, customer, rcpt, lim, now)
				   : RATE_FULL;
		return 0;
	}
	snprintf(f->id, sizeof f->id, "%s", t->id);
	f->n = t->n + 1;
	t->flight = f;
	return 1;
}

int rate_store_fd(void)
{
	return st.rs ? rstore_fd(st.rs) : -1;
}

int rate_store_wait_ms(void)
{
	long left = st.rs ? rstore_fly_left_ms(st.rs) : -1;
	return left < 0 ? -1 : left > 1000 ? 1000 : (int)left;
}

/* What a done function could not do: reset a connection that answered
 * an error, release what orphaned RCPTs reserved. */
static void after_done(void)
{
	if (rate_redis_reset_wanted())
		rstore_reset(st.rs);
	while (st.norph && !st.down) {
		struct orphan *o = &st.orph[st.norph - 1];
		struct rate_stxn tmp;

		memset(&tmp, 0, sizeof tmp);
		memcpy(tmp.id, o->id, sizeof tmp.id);
		memcpy(tmp.user, o->user, sizeof tmp.user);
		memcpy(tmp.cust, o->cust, sizeof tmp.cust);
		tmp.n = o->n;
		tmp.umsg = 1;
		if (rate_redis_release(&tmp) < 0)
			break; /* kept for the next try */
		st.norph--;
	}
}

void rate_store_poll(void)
{
	if (!st.rs)
		return;
	if (rstore_inflight(st.rs))
		rstore_poll(st.rs);
	after_done();
	if (!st.down)
		replay_send(REPLAY_FLY);
	outage_end();
}
