/* rate_stats.c: live counters for relayctl stats.  Reads the windows
 * without advancing them (the map may be read-only), under a shared flock
 * so a record is never seen half-updated by relay-policy. */
#include "rate_stats.h"
#include "rate_file.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static void fill(enum rate_kind k, uint32_t i, long now, struct rate_stats *st)
{
	const struct rate_rec *r = rate_file_rec(k, i);
	const struct rate_user *u = (const void *)r;
	const struct rate_cust *c = (const void *)r;

	memset(st, 0, sizeof *st);
	st->kind = k;
	memcpy(st->name, r->name, sizeof st->name);
	st->name[sizeof st->name - 1] = '\0';
	st->last = (long)r->last_ts;
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

/* After a SIGBUS: let go of the lock and the handler; always -2. */
static int bus_fail(const struct sigaction *old)
{
	rate_file_unlock();
	sigaction(SIGBUS, old, NULL);
	errno = EIO;
	return -2;
}

int rate_stats_get(enum rate_kind k, const char *name, long now,
		   struct rate_stats *st)
{
	char lname[RATE_NAME_MAX];
	struct sigaction old;
	volatile long i = -1;

	if (!rate_map.base || rate_file_lower(lname, name) < 0)
		return -1;
	bus_catch(&old);
	if (sigsetjmp(bus_env, 1))
		return bus_fail(&old);
	rate_file_lock(0);
	i = rate_index_find(k, lname);
	if (i >= 0)
		fill(k, (uint32_t)i, now, st);
	rate_file_unlock();
	sigaction(SIGBUS, &old, NULL);
	return i >= 0 ? 0 : -1;
}

int rate_stats_each(enum rate_kind k, long now,
		    int (*fn)(const struct rate_stats *st, void *arg), void *arg)
{
	struct rate_stats st;
	struct sigaction old;
	volatile uint32_t i;
	volatile int rc = 0;

	if (!rate_map.base)
		return -1;
	bus_catch(&old);
	if (sigsetjmp(bus_env, 1))
		return bus_fail(&old);
	/* the count is read again each time: it grows while we read */
	for (i = 0; i < rate_file_used(k) && !rc; i++) {
		/* lock per record: relay-policy is never held up for long */
		rate_file_lock(0);
		fill(k, i, now, &st);
		rate_file_unlock();
		if (st.name[0])
			rc = fn(&st, arg);
	}
	sigaction(SIGBUS, &old, NULL);
	return rc;
}

int rate_stats_open(const char *path)
{
	return rate_file_open(path, 1);
}

void rate_stats_close(void)
{
	rate_file_close();
}
