/* mon_rate.c: throughput over the last 10 minutes and 24 hours for the
 * status page.  The daemons' counters only grow, so relay-metrics keeps a
 * sample of the few that matter every MON_RATE_STEP seconds (a ring of a
 * day and a step, in memory: lost at a restart, when the page says over
 * how long it counted) and shows the difference with the sample a window
 * ago.  Taken by the main thread, read by the server's (one a
 * connection): a mutex. */
#include "mon.h"

#include <pthread.h>
#include <string.h>

#define MON_RATE_RING (86400 / MON_RATE_STEP + 1)

static struct {
	long t;
	uint64_t v[MON_RATE_KINDS];
} ring[MON_RATE_RING];
static size_t ring_next, ring_n;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

/* The counters of a snapshot, in the order of enum mon_rate_kind. */
static void counts(const struct mon_snap *sn, uint64_t *v)
{
	v[MON_RATE_ACCEPTED] = mon_snap_sum(sn, METRIC_QUEUE_MESSAGES, "");
	v[MON_RATE_SENT] = mon_snap_sum(sn, METRIC_DELIVERIES,
					"result=\"sent\"");
	v[MON_RATE_DEFERRED] = mon_snap_sum(sn, METRIC_DELIVERIES,
					    "result=\"deferred\"");
	v[MON_RATE_BOUNCED] = mon_snap_sum(sn, METRIC_DELIVERIES,
					   "result=\"bounced\"");
	v[MON_RATE_REFUSED] = mon_snap_sum(sn, METRIC_POLICY_DECISIONS,
					   "code=\"4") +
			      mon_snap_sum(sn, METRIC_POLICY_DECISIONS,
					   "code=\"5");
}

void mon_rate_sample(void)
{
	struct mon_snap sn;

	if (mon_snap_take(&sn) < 0) {
		mon_snap_free(&sn);
		return;
	}
	pthread_mutex_lock(&ring_lock);
	ring[ring_next].t = sn.now;
	counts(&sn, ring[ring_next].v);
	ring_next = (ring_next + 1) % MON_RATE_RING;
	if (ring_n < MON_RATE_RING)
		ring_n++;
	pthread_mutex_unlock(&ring_lock);
	mon_alert_mail(&sn);
	mon_snap_free(&sn);
}

long mon_rate_window(const struct mon_snap *sn, long window, uint64_t *d)
{
	uint64_t now[MON_RATE_KINDS];
	long since = 0;
	size_t best = 0;
	int found = 0;

	counts(sn, now);
	pthread_mutex_lock(&ring_lock);
	/* the oldest sample inside the window */
	for (size_t i = 0; i < ring_n; i++) {
		size_t k = (ring_next + MON_RATE_RING - ring_n + i) %
			   MON_RATE_RING;
		if (sn->now - ring[k].t <= window) {
			best = k;
			found = 1;
			break;
		}
	}
	for (int j = 0; j < MON_RATE_KINDS; j++)
		d[j] = found && now[j] >= ring[best].v[j] ? now[j] - ring[best].v[j]
							  : 0;
	if (found)
		since = sn->now - ring[best].t;
	pthread_mutex_unlock(&ring_lock);
	return since;
}
