/* rate.c: the limits of doc/BEHAVIOUR.md §3 — check at RCPT, count at commit.
 *
 * Concurrency: relay-policy multiplexes many SMTP sessions, each with its
 * own rate_txn.  What a transaction holds pending is added to per-record
 * pending counters (in this process's memory, not in the file: a restart
 * drops uncommitted transactions, which cost nothing), and every check
 * counts committed + all pending + this recipient.  So two sessions can
 * never together commit more than a limit; the price is that a recipient
 * pending in two transactions of the same user reserves two unique slots
 * until they commit (conservative, never generous). */
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
};

struct rate_txn {
	struct rate_pend *p;
	size_t n, cap;
	unsigned gen; /* pending belongs to this mapping of the file */
};

/* Pending counters per record, indexed by record number. */
static struct {
	int32_t *umsgs, *urcpts, *cust;
	unsigned gen;
} pend;

static void pend_free(void)
{
	free(pend.umsgs);
	free(pend.urcpts);
	free(pend.cust);
	pend.umsgs = pend.urcpts = pend.cust = NULL;
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
	pend.umsgs = calloc(rate_file_cap(RATE_USER), sizeof *pend.umsgs);
	pend.urcpts = calloc(rate_file_cap(RATE_USER), sizeof *pend.urcpts);
	pend.cust = calloc(rate_file_cap(RATE_CUSTOMER), sizeof *pend.cust);
	if (!pend.umsgs || !pend.urcpts || !pend.cust) {
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

void rate_txn_reset(struct rate_txn *t)
{
	struct rate_pend *e;

	if (!t)
		return;
	for (size_t i = 0; i < t->n && t->gen == pend.gen && pend.cust; i++) {
		e = &t->p[i];
		if (e->u >= 0) {
			pend.umsgs[e->u] -= e->umsg;
			pend.urcpts[e->u] -= e->unew;
		}
		if (e->c >= 0)
			pend.cust[e->c]--;
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
	if (k == RATE_USER)
		return pend.umsgs[i] || pend.urcpts[i];
	return pend.cust[i] != 0;
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
	if (lim->user_msgs > 0 &&
	    u->msgs.w.total + pend.umsgs[e->u] + e->umsg > lim->user_msgs)
		return RATE_USER_DAILY;
	e->unew = !txn_has(t, e->u, e->h, 1) && !rate_set_live(u, e->h, now);
	if (!e->unew)
		return RATE_OK;
	if (lim->user_rcpts > 0 &&
	    u->rcpts.w.total + pend.urcpts[e->u] + 1 > lim->user_rcpts)
		return RATE_USER_DAILY;
	if (u->rcpts.w.total + pend.urcpts[e->u] + 1 > rate_set_max()) {
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
	if (lim->cust_daily > 0 &&
	    r->day.w.total + pend.cust[c] + 1 > lim->cust_daily)
		return RATE_CUST_DAILY;
	if (lim->cust_peak > 0 &&
	    r->peak.w.total + pend.cust[c] + 1 > lim->cust_peak)
		return RATE_CUST_PEAK;
	return RATE_OK;
}

static int txn_push(struct rate_txn *t, const struct rate_pend *e)
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
	t->p[t->n++] = *e;
	if (e->u >= 0) {
		pend.umsgs[e->u] += e->umsg;
		pend.urcpts[e->u] += e->unew;
	}
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
	if (v == RATE_OK && txn_push(t, &e) < 0)
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
	if (t->gen != pend.gen) /* the file was reopened: old pending is void */
		t->n = 0, t->gen = pend.gen;
	rate_file_write_begin(); /* record, index and window changes */
	v = rcpt_check(t, user, customer, rcpt, lim, now);
	rate_file_write_end();
	return v;
}

static void commit_one(const struct rate_pend *e, long now)
{
	struct rate_user *u;
	struct rate_cust *c;

	if (e->u >= 0) {
		u = (struct rate_user *)rate_file_rec(RATE_USER, (uint32_t)e->u);
		if (e->umsg)
			rate_window_add(RATE_DAY(&u->msgs), now, 1);
		if (rate_set_touch(u, e->h, now) < 0)
			log_warn("rate: user %s: recipient set full",
				 u->r.name);
		if (u->r.last_ts < now)
			u->r.last_ts = now;
	}
	if (e->c >= 0) {
		c = (struct rate_cust *)rate_file_rec(RATE_CUSTOMER,
						      (uint32_t)e->c);
		rate_window_add(RATE_DAY(&c->day), now, 1);
		rate_window_add(RATE_PEAK(&c->peak), now, 1);
		if (c->r.last_ts < now)
			c->r.last_ts = now;
	}
}

void rate_commit(struct rate_txn *t, long now)
{
	if (!t)
		return;
	if (t->gen == pend.gen && rate_map.base && !rate_map.rdonly) {
		rate_file_write_begin();
		for (size_t i = 0; i < t->n; i++)
			commit_one(&t->p[i], now);
		rate_file_write_end();
	}
	rate_txn_reset(t);
}
