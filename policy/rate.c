/* rate.c: the limits of doc/BEHAVIOUR.md §3 -- check and reserve at RCPT,
 * settle at commit.
 *
 * A recipient accepted at RCPT is counted in the counters file at once (a
 * reservation): the admission proof smtpd gets with that RCPT lets it
 * queue the message whatever happens to relay-policy afterwards, so the
 * count must already be where a restart finds it.  The transaction keeps
 * which buckets it added to; an explicit reset takes them back out
 * (rate_txn_reset), a commit moves them to the commit's time and enters
 * the user's unique recipients (rate_commit).  A crash in between leaves
 * the reservation counted: over-counting, never under.
 *
 * Concurrency: relay-policy multiplexes many SMTP sessions, each with its
 * own rate_txn.  Every check counts what the file holds (committed and
 * reserved, by every session) + this recipient, so two sessions can never
 * together commit more than a limit; the price is that a recipient
 * reserved in two transactions of the same user takes two unique slots
 * until they commit (conservative, never generous).  What a transaction
 * holds is also noted per record in this process's memory, so that a
 * record is not reused under it. */
#include "rate.h"
#include "rate_set.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TXN_MAX 100000 /* recipients per transaction (rcpt_max is lower) */

struct rate_pend {
	int32_t u, c;     /* record numbers, -1 = none */
	uint64_t h;       /* recipient hash */
	uint8_t umsg;     /* reserves the user's message for this txn */
	uint8_t unew;     /* reserves one unique recipient of the user */
	/* the buckets the reservation went into (rate_window_add) */
	int64_t bmsg, brcpt, bday, bpeak;
};

struct rate_txn {
	struct rate_pend *p;
	size_t n, cap;
	unsigned gen; /* pending belongs to this mapping of the file */
};

/* Reservations held by open transactions, per record number: such a
 * record is never reused (rec_busy). */
static struct {
	int32_t *user, *cust;
	unsigned gen;
} pend;

static void pend_free(void)
{
	free(pend.user);
	free(pend.cust);
	pend.user = pend.cust = NULL;
	pend.gen++;
}

int rate_open(const char *path)
{
	pend_free();
	if (rate_file_open(path, 0) < 0) {
		log_warn("counters file %s: cannot open: %s", path,
			 strerror(errno));
		return -1;
	}
	pend.user = calloc(rate_file_cap(RATE_USER), sizeof *pend.user);
	pend.cust = calloc(rate_file_cap(RATE_CUSTOMER), sizeof *pend.cust);
	if (!pend.user || !pend.cust) {
		rate_close();
		log_warn("counters file %s: out of memory", path);
		return -1;
	}
	return 0;
}

int rate_open_readonly(const char *path)
{
	pend_free();
	return rate_file_open(path, 1);
}

void rate_close(void)
{
	pend_free();
	rate_file_close();
}

struct rate_txn *rate_txn_new(void)
{
	struct rate_txn *t = calloc(1, sizeof *t);
	if (t)
		t->gen = pend.gen;
	return t;
}

/* t's reservations are in this mapping of the file (not one closed or
 * reopened since they were made) and there are some. */
static int txn_live(const struct rate_txn *t)
{
	return t->n && t->gen == pend.gen && pend.cust;
}

/* t lets go of its records; what it counted stays as it is. */
static void txn_unhold(struct rate_txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i].u >= 0)
			pend.user[t->p[i].u]--;
		if (t->p[i].c >= 0)
			pend.cust[t->p[i].c]--;
	}
	t->n = 0;
}

/* Take a reservation back out of the buckets it went into (a bucket
 * that has left its window since has nothing left to take). */
static void unreserve(const struct rate_pend *e)
{
	struct rate_user *u;
	struct rate_cust *c;

	if (e->u >= 0) {
		u = (struct rate_user *)rate_file_rec(RATE_USER, (uint32_t)e->u);
		if (e->umsg)
			rate_window_sub(&u->msgs.w, u->msgs.b, RATE_DAY_N,
					e->bmsg, 1);
		if (e->unew)
			rate_window_sub(&u->rcpts.w, u->rcpts.b, RATE_DAY_N,
					e->brcpt, 1);
	}
	if (e->c >= 0) {
		c = (struct rate_cust *)rate_file_rec(RATE_CUSTOMER,
						      (uint32_t)e->c);
		rate_window_sub(&c->day.w, c->day.b, RATE_DAY_N, e->bday, 1);
		rate_window_sub(&c->peak.w, c->peak.b, RATE_PEAK_N, e->bpeak, 1);
	}
}

void rate_txn_reset(struct rate_txn *t)
{
	if (!t)
		return;
	if (txn_live(t)) {
		rate_file_write_begin();
		for (size_t i = 0; i < t->n; i++)
			unreserve(&t->p[i]);
		rate_file_write_end();
		txn_unhold(t);
	}
	t->n = 0;
	t->gen = pend.gen;
}

void rate_txn_free(struct rate_txn *t)
{
	rate_txn_reset(t);
	if (t)
		free(t->p);
	free(t);
}

/* A record may be reused only when no transaction holds it. */
static int rec_busy(enum rate_kind k, uint32_t i)
{
	return (k == RATE_USER ? pend.user : pend.cust)[i] != 0;
}

static long rec_get(enum rate_kind k, const char *name, long now)
{
	char lname[RATE_NAME_MAX];
	long i;

	if (rate_file_lower(lname, name) < 0)
		return -1;
	i = rate_index_get(k, lname, now, rec_busy);
	if (i >= 0 && rate_file_rec(k, (uint32_t)i)->last_ts < now)
		rate_file_rec(k, (uint32_t)i)->last_ts = now;
	return i;
}

static int txn_has(const struct rate_txn *t, int32_t u, uint64_t h, int rcpt)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i].u == u && (!rcpt || t->p[i].h == h))
			return 1;
	return 0;
}

/* The user's two daily limits; fills in what e would reserve. */
static enum rate_verdict check_user(const struct rate_txn *t,
				    struct rate_pend *e,
				    const struct rate_limits *lim, long now)
{
	struct rate_user *u;

	if (e->u < 0)
		return RATE_OK;
	u = (struct rate_user *)rate_file_rec(RATE_USER, (uint32_t)e->u);
	rate_window_advance(RATE_DAY(&u->msgs), now);
	rate_window_advance(RATE_DAY(&u->rcpts), now);
	e->umsg = !txn_has(t, e->u, 0, 0);
	/* the totals hold what every open transaction reserved */
	if (lim->user_msgs > 0 && u->msgs.w.total + e->umsg > lim->user_msgs)
		return RATE_USER_DAILY;
	e->unew = !txn_has(t, e->u, e->h, 1) && !rate_set_live(u, e->h, now);
	if (!e->unew)
		return RATE_OK;
	if (lim->user_rcpts > 0 && u->rcpts.w.total + 1 > lim->user_rcpts)
		return RATE_USER_DAILY;
	if (u->rcpts.w.total + 1 > rate_set_max()) {
		log_warn("rate: user %s: recipient set full (%u): raise "
			 "rate_user_rcpt_slots", u->r.name, rate_set_max());
		return RATE_FULL;
	}
	return RATE_OK;
}

static enum rate_verdict check_cust(int32_t c, const struct rate_limits *lim,
				    long now)
{
	struct rate_cust *r;

	if (c < 0)
		return RATE_OK;
	r = (struct rate_cust *)rate_file_rec(RATE_CUSTOMER, (uint32_t)c);
	rate_window_advance(RATE_DAY(&r->day), now);
	rate_window_advance(RATE_PEAK(&r->peak), now);
	if (lim->cust_daily > 0 && r->day.w.total + 1 > lim->cust_daily)
		return RATE_CUST_DAILY;
	if (lim->cust_peak > 0 && r->peak.w.total + 1 > lim->cust_peak)
		return RATE_CUST_PEAK;
	return RATE_OK;
}

/* Count e now, noting the buckets it went into. */
static void reserve(struct rate_pend *e, long now)
{
	struct rate_user *u;
	struct rate_cust *c;

	if (e->u >= 0) {
		u = (struct rate_user *)rate_file_rec(RATE_USER, (uint32_t)e->u);
		if (e->umsg)
			e->bmsg = rate_window_add(RATE_DAY(&u->msgs), now, 1);
		if (e->unew)
			e->brcpt = rate_window_add(RATE_DAY(&u->rcpts), now, 1);
	}
	if (e->c >= 0) {
		c = (struct rate_cust *)rate_file_rec(RATE_CUSTOMER,
						      (uint32_t)e->c);
		e->bday = rate_window_add(RATE_DAY(&c->day), now, 1);
		e->bpeak = rate_window_add(RATE_PEAK(&c->peak), now, 1);
	}
}

/* Reserve e in the file and hold it in t; -1 (nothing counted) when t
 * cannot take one more. */
static int txn_push(struct rate_txn *t, struct rate_pend *e, long now)
{
	struct rate_pend *p;
	size_t cap;

	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if (cap > TXN_MAX)
			return -1;
		p = realloc(t->p, cap * sizeof *p);
		if (!p)
			return -1;
		t->p = p;
		t->cap = cap;
	}
	reserve(e, now);
	t->p[t->n++] = *e;
	if (e->u >= 0)
		pend.user[e->u]++;
	if (e->c >= 0)
		pend.cust[e->c]++;
	return 0;
}

/* No record for a name: the file is full (or the name unusable).  Say
 * so at most once a minute; the mail gets a tempfail, never a pass. */
static enum rate_verdict full_warn(enum rate_kind k, const char *name,
				   long now)
{
	static long last;
	char clean[3 * 128];

	if (now - last >= 60 || now < last) {
		last = now;
		log_warn("rate: no room for %s %s in the counters file (%u "
			 "records): raise %s; relay-policy grows the file when "
			 "it starts", k == RATE_USER ? "user" : "customer",
			 log_field(clean, sizeof clean, name, strlen(name)),
			 rate_file_cap(k), k == RATE_USER ? "rate_users_max"
							: "rate_customers_max");
	}
	return RATE_FULL;
}

static enum rate_verdict rcpt_check(struct rate_txn *t, const char *user,
				     const char *customer, const char *rcpt,
				     const struct rate_limits *lim, long now)
{
	struct rate_pend e = { .u = -1, .c = -1 };
	enum rate_verdict v;

	e.h = rate_file_hash(rcpt, strlen(rcpt));
	if (user && !*user)
		user = NULL; /* "" is no user, like NULL */
	if (customer && !*customer)
		customer = NULL;
	if (user && (e.u = (int32_t)rec_get(RATE_USER, user, now)) < 0)
		return full_warn(RATE_USER, user, now);
	if (customer &&
	    (e.c = (int32_t)rec_get(RATE_CUSTOMER, customer, now)) < 0)
		return full_warn(RATE_CUSTOMER, customer, now);
	v = check_user(t, &e, lim, now);
	if (v == RATE_OK)
		v = check_cust(e.c, lim, now);
	if (v == RATE_OK && txn_push(t, &e, now) < 0)
		v = RATE_FULL;
	return v;
}

enum rate_verdict rate_rcpt(struct rate_txn *t, const char *user,
			    const char *customer, const char *rcpt,
			    const struct rate_limits *lim, long now)
{
	enum rate_verdict v;

	if (!t || !rcpt || !lim || !rate_map.base || rate_map.rdonly ||
	    !pend.cust)
		return RATE_FULL;
	/* the file was reopened: t's records may be others now; what it
	 * reserved stays counted */
	if (t->gen != pend.gen)
		t->n = 0, t->gen = pend.gen;
	rate_file_write_begin(); /* record, index and window changes */
	v = rcpt_check(t, user, customer, rcpt, lim, now);
	rate_file_write_end();
	return v;
}

/* A count reserved in bucket `from` goes to now's bucket: a message is
 * counted from when it was queued, as if nothing had been reserved. */
static void win_move(struct rate_win *w, uint32_t *b, uint32_t n,
		     uint32_t unit, int64_t from, long now)
{
	rate_window_advance(w, b, n, unit, now);
	if (from == w->last)
		return; /* nearly always: the same second or minute */
	rate_window_sub(w, b, n, from, 1);
	rate_window_add(w, b, n, unit, now, 1);
}

static void commit_user(const struct rate_pend *e, long now)
{
	struct rate_user *u;

	u = (struct rate_user *)rate_file_rec(RATE_USER, (uint32_t)e->u);
	if (e->umsg)
		win_move(RATE_DAY(&u->msgs), e->bmsg, now);
	/* the unique set counts the recipient in now's bucket (or finds it
	 * counted already by another message meanwhile): the slot reserved
	 * goes.  A full set keeps the reservation, so it stays counted. */
	if (rate_set_touch(u, e->h, now) < 0)
		log_warn("rate: user %s: recipient set full", u->r.name);
	else if (e->unew)
		rate_window_sub(&u->rcpts.w, u->rcpts.b, RATE_DAY_N, e->brcpt, 1);
	if (u->r.last_ts < now)
		u->r.last_ts = now;
}

static void commit_one(const struct rate_pend *e, long now)
{
	struct rate_cust *c;

	if (e->u >= 0)
		commit_user(e, now);
	if (e->c >= 0) {
		c = (struct rate_cust *)rate_file_rec(RATE_CUSTOMER,
						      (uint32_t)e->c);
		win_move(RATE_DAY(&c->day), e->bday, now);
		win_move(RATE_PEAK(&c->peak), e->bpeak, now);
		if (c->r.last_ts < now)
			c->r.last_ts = now;
	}
}

void rate_commit(struct rate_txn *t, long now)
{
	if (!t)
		return;
	if (txn_live(t)) {
		rate_file_write_begin();
		for (size_t i = 0; i < t->n; i++)
			commit_one(&t->p[i], now);
		rate_file_write_end();
		txn_unhold(t);
	}
	t->n = 0;
	t->gen = pend.gen;
}
