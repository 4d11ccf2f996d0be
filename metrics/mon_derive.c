/* mon_derive.c: the part of /metrics that relay-metrics works out
 * itself: the busiest destinations (metrics_top of them, the rest summed
 * as destination="other"), the destinations deferring, the daemons of
 * run/status, per-customer usage and headroom, the busiest users, and an
 * alert gauge for each condition of man/relay-metrics.8 (1 = firing). */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEST_MAX 1024

struct dest_total {
	char name[METRICS_LABELS_MAX];
	uint64_t total;
};

/* The destination="..." value of a label text (still escaped). */
static const char *dest_of(const char *labels, char *buf, size_t n)
{
	const char *p = strstr(labels, "destination=\"");
	size_t i = 0;

	if (p)
		for (p += 13; *p && *p != '"' && i + 2 < n; p++) {
			if (*p == '\\' && p[1])
				buf[i++] = *p++;
			buf[i++] = *p;
		}
	buf[i] = '\0';
	return buf;
}

static int total_cmp(const void *a, const void *b)
{
	const struct dest_total *x = a, *y = b;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Destinations by their total of deliveries, busiest first. */
static size_t dest_totals(const struct mon_snap *sn, struct dest_total *t)
{
	char d[METRICS_LABELS_MAX];
	size_t n = 0, k;

	for (size_t i = 0; i < sn->n; i++) {
		if (sn->s[i].family != METRIC_DEST_DELIVERIES)
			continue;
		dest_of(sn->s[i].labels, d, sizeof d);
		for (k = 0; k < n && strcmp(t[k].name, d); k++)
			;
		if (k == n) {
			if (n == DEST_MAX)
				continue;
			snprintf(t[n++].name, sizeof t->name, "%s", d);
		}
		t[k].total += sn->s[i].value;
	}
	qsort(t, n, sizeof *t, total_cmp);
	return n;
}

static int dest_top(const struct dest_total *t, size_t n, const char *d)
{
	for (size_t k = 0; k < n && k < (size_t)cf.metrics_top; k++)
		if (!strcmp(t[k].name, d))
			return strcmp(d, "other") != 0;
	return 0;
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

void mon_expo_destinations(struct mon_buf *b, const struct mon_snap *sn)
{
	const struct metrics_family_def *f =
		&metrics_families[METRIC_DEST_DELIVERIES];
	static const char *const res[] = { "sent", "deferred", "bounced" };
	struct dest_total *t = calloc(DEST_MAX, sizeof *t);
	char d[METRICS_LABELS_MAX], l[METRICS_LABELS_MAX];
	uint64_t other[3] = { 0, 0, 0 };
	size_t n;

	if (!t)
		return;
	n = dest_totals(sn, t);
	mon_expo_head(b, f->name, "counter", f->help);
	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		if (s->family != METRIC_DEST_DELIVERIES)
			continue;
		if (dest_top(t, n, dest_of(s->labels, d, sizeof d))) {
			mon_expo_sample(b, f->name, "", s->labels, "");
			mon_printf(b, "%llu\n", (unsigned long long)s->value);
			continue;
		}
		for (int r = 0; r < 3; r++) {
			snprintf(l, sizeof l, "result=\"%s\"", res[r]);
			if (strstr(s->labels, l))
				other[r] += s->value;
		}
	}
	for (int r = 0; r < 3; r++) {
		snprintf(l, sizeof l, "destination=\"other\",result=\"%s\"",
			 res[r]);
		mon_expo_sample(b, f->name, "", l, "");
		mon_printf(b, "%llu\n", (unsigned long long)other[r]);
	}
	free(t);
	f = &metrics_families[METRIC_DEST_DEFERRING];
	mon_expo_head(b, f->name, "gauge", f->help);
	deferring(b, sn, f->name, 0);
	mon_expo_head(b, "relay_alert_destination_deferring", "gauge",
		      "1 when a destination has deferred for longer than "
		      "metrics_alert_defer seconds without a success");
	deferring(b, sn, "relay_alert_destination_deferring", 1);
}
