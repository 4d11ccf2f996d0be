/* rate_stats.c: live counters for relayctl stats and relay-metrics.
 * Reads the windows without advancing them (the map is read-only) and
 * without a lock (rate_file.h: a lock a reader can take is one a reader
 * could hold to stop relay-policy): each record is copied out under the
 * header's seqlock and copied again when relay-policy changed anything
 * meanwhile, so a record is never seen half-updated.  A call (one record
 * or a whole listing) waits for relay-policy a second at most in all
 * (RATE_READ_WAIT_NS), however often a hostile writer lets a copy
 * start and then spoils it. */
#include "rate_stats.h"
#include "rate_file.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

/* A record's head and windows (a user's recipient set is not needed). */
union rec_copy {
	struct rate_rec r;
	struct rate_user u;
	struct rate_cust c;
};

static void fill(enum rate_kind k, const union rec_copy *rc, long now,
		 struct rate_stats *st)
{
	const struct rate_user *u = &rc->u;
	const struct rate_cust *c = &rc->c;

	memset(st, 0, sizeof *st);
	st->kind = k;
	memcpy(st->name, rc->r.name, sizeof st->name);
	st->name[sizeof st->name - 1] = '\0';
	st->last = (long)rc->r.last_ts;
	if (k == RATE_USER) {
		st->msgs = rate_window_sum(RATE_DAY(&u->msgs), now);
		st->msgs_free_at = rate_window_free_at(RATE_DAY(&u->msgs), now);
		st->rcpts = rate_window_sum(RATE_DAY(&u->rcpts), now);
		st->rcpts_free_at = rate_window_free_at(RATE_DAY(&u->rcpts), now);
	} else {
		st->rcpts = rate_window_sum(RATE_DAY(&c->day), now);
		st->rcpts_free_at = rate_window_free_at(RATE_DAY(&c->day), now);
		st->peak = rate_window_sum(RATE_PEAK(&c->peak), now);
		st->peak_free_at = rate_window_free_at(RATE_PEAK(&c->peak), now);
	}
}

/* Copy record i, or the record named lname (i ignored), as it was
 * between two updates: 1 copied, 0 no such name, -1 (errno EAGAIN) the
 * writer let no copy through before the call's deadline. */
static int copy_rec(enum rate_kind k, const char *lname, uint32_t i,
		    union rec_copy *rc, int64_t deadline)
{
	uint64_t s;
	long j;

	for (;;) {
		if (rate_file_read_begin(&s, deadline) < 0)
			return -1;
		j = lname ? rate_index_find(k, lname) : (long)i;
		if (j >= 0)
			memcpy(rc, rate_file_rec(k, (uint32_t)j),
			       k == RATE_USER ? sizeof rc->u : sizeof rc->c);
		if (!rate_file_read_changed(s))
			return j >= 0;
		if (rate_file_read_late(deadline))
			break;
	}
	errno = EAGAIN;
	return -1;
}

/* relay-policy (another uid) owns the file: should it cut the file
 * short under our map, a read past the new end raises SIGBUS.  That read
 * ends with an error (EIO) instead of killing relayctl; record numbers
 * and sizes are clamped to the header checked at open (rate_file.c). */
static sigjmp_buf bus_env;

static void bus_caught(int sig)
{
	(void)sig;
	siglongjmp(bus_env, 1);
}

static void bus_catch(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = bus_caught;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, old);
}

/* The end of a read: the old SIGBUS handler back; -2 with errno e. */
static int read_fail(const struct sigaction *old, int e)
{
	sigaction(SIGBUS, old, NULL);
	errno = e;
	return -2;
}

int rate_stats_get(enum rate_kind k, const char *name, long now,
		   struct rate_stats *st)
{
	char lname[RATE_NAME_MAX];
	union rec_copy rc;
	struct sigaction old;
	int found;

	if (!rate_map.base || rate_file_lower(lname, name) < 0)
		return -1;
	bus_catch(&old);
	if (sigsetjmp(bus_env, 1))
		return read_fail(&old, EIO);
	found = copy_rec(k, lname, 0, &rc,
			 rate_file_now_ns() + RATE_READ_WAIT_NS);
	if (found < 0)
		return read_fail(&old, EAGAIN);
	sigaction(SIGBUS, &old, NULL);
	if (found)
		fill(k, &rc, now, st);
	return found ? 0 : -1;
}

int rate_stats_each(enum rate_kind k, long now,
		    int (*fn)(const struct rate_stats *st, void *arg), void *arg)
{
	union rec_copy rc;
	struct rate_stats st;
	struct sigaction old;
	volatile uint32_t i;
	volatile int rc_fn = 0;
	volatile int64_t deadline = rate_file_now_ns() + RATE_READ_WAIT_NS;
	int64_t t0;

	if (!rate_map.base)
		return -1;
	bus_catch(&old);
	if (sigsetjmp(bus_env, 1))
		return read_fail(&old, EIO);
	/* the count is read again each time: it grows while we read */
	for (i = 0; i < rate_file_used(k) && !rc_fn; i++) {
		if (copy_rec(k, NULL, i, &rc, deadline) < 0)
			return read_fail(&old, EAGAIN);
		fill(k, &rc, now, &st);
		if (!st.name[0])
			continue;
		/* fn's own time (relayctl blocked on a full pipe) is not
		 * relay-policy's to use up: the deadline moves by it */
		t0 = rate_file_now_ns();
		rc_fn = fn(&st, arg);
		deadline += rate_file_now_ns() - t0;
	}
	sigaction(SIGBUS, &old, NULL);
	return rc_fn;
}

int rate_stats_open(const char *path)
{
	return rate_file_open(path, 1);
}

void rate_stats_close(void)
{
	rate_file_close();
}
