/* mon_derive.c: the part of /metrics that relay-metrics works out
 * itself: the destinations (relay-send's series, with "other" always
 * there), the destinations deferring, the daemons of run/status,
 * per-customer usage and headroom, the busiest users, and an alert
 * gauge for each condition of man/relay-metrics.8 (1 = firing). */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>

#define DEST_RESULTS 3
static const char *const dest_results[DEST_RESULTS] = { "sent", "deferred",
							 "bounced" };
#define DEST_OTHER "destination=\"other\","

static int result_of(const char *labels)
{
	char l[32];

	for (int r = 0; r < DEST_RESULTS; r++) {
		snprintf(l, sizeof l, "result=\"%s\"", dest_results[r]);
		if (strstr(labels, l))
			return r;
	}
	return -1;
}

/* The destinations deferring now: since when, or whether for too long. */
static void deferring(struct mon_buf *b, const struct mon_snap *sn,
		      const char *name, int alert)
{
	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		long since = (long)s->value;
		if (s->family != METRIC_DEST_DEFERRING || since <= 0)
			continue;
		mon_expo_sample(b, name, "", s->labels, "");
		if (alert)
			mon_printf(b, "%d\n",
				   sn->now - since > cf.metrics_alert_defer);
		else
			mon_printf(b, "%ld\n", since);
	}
}

/* Every destination relay-send counts, as it counts them: its area
 * holds at most the family's max_series (metrics_def.h) and folds the
 * rest into "other", so the series are bounded and each is a counter of
 * relay-send's file, which a restart of relay-metrics does not touch (a
 * top N is PromQL's topk).  "other" is shown for each result, 0 too. */
void mon_expo_destinations(struct mon_buf *b, const struct mon_snap *sn)
{
	const struct metrics_family_def *f =
		&metrics_families[METRIC_DEST_DELIVERIES];
	uint64_t other[DEST_RESULTS] = { 0, 0, 0 };
	char l[METRICS_LABELS_MAX];
	int r;

	mon_expo_head(b, f->name, "counter", f->help);
	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		if (s->family != METRIC_DEST_DELIVERIES ||
		    (r = result_of(s->labels)) < 0)
			continue;
		if (!strncmp(s->labels, DEST_OTHER, strlen(DEST_OTHER))) {
			other[r] += s->value;
			continue;
		}
		mon_expo_sample(b, f->name, "", s->labels, "");
		mon_printf(b, "%llu\n", (unsigned long long)s->value);
	}
	for (r = 0; r < DEST_RESULTS; r++) {
		snprintf(l, sizeof l, DEST_OTHER "result=\"%s\"",
			 dest_results[r]);
		mon_expo_sample(b, f->name, "", l, "");
		mon_printf(b, "%llu\n", (unsigned long long)other[r]);
	}
	f = &metrics_families[METRIC_DEST_DEFERRING];
	mon_expo_head(b, f->name, "gauge", f->help);
	deferring(b, sn, f->name, 0);
	mon_expo_head(b, "relay_alert_destination_deferring", "gauge",
		      "1 when a destination has deferred for longer than "
		      "metrics_alert_defer seconds without a success");
	deferring(b, sn, "relay_alert_destination_deferring", 1);
}
