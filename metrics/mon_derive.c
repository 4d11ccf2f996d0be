/* mon_derive.c: the part of /metrics that relay-metrics works out
 * itself: the busiest destinations (metrics_top of them, the rest summed
 * as destination="other"; see "named" below for why both stay counters
 * that never go down), the destinations deferring, the daemons of
 * run/status, per-customer usage and headroom, the busiest users, and an
 * alert gauge for each condition of man/relay-metrics.8 (1 = firing). */
#include "mon.h"
#include "settings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEST_MAX 1024
#define DEST_RESULTS 3
static const char *const dest_results[DEST_RESULTS] = { "sent", "deferred",
							 "bounced" };

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

/* The destinations shown by name, for the life of relay-metrics.  When
 * one enters the top, what "other" showed of it at the scrape before
 * stays there (its base) and its own series counts from there; one that
 * leaves (to make room: at most twice metrics_top are named) adds all
 * it has to "other".  So neither "other" nor a named series ever goes
 * down (a counter that went down would read as a reset to Prometheus),
 * and one that "other" never showed starts at its whole count. */
static struct dest_named {
	char name[METRICS_LABELS_MAX];
	uint64_t base[DEST_RESULTS];
} named[DEST_MAX];
static size_t named_n;
/* What "other" showed of each destination not named, at the last scrape */
static struct dest_named in_other[DEST_MAX];
static size_t in_other_n;
static pthread_mutex_t named_lock = PTHREAD_MUTEX_INITIALIZER;

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

static struct dest_named *named_find(const char *d)
{
	for (size_t i = 0; i < named_n; i++)
		if (!strcmp(named[i].name, d))
			return &named[i];
	return NULL;
}

/* A slot for a newcomer: a free one, or the one named destination that
 * is not in the top now and has the fewest deliveries. */
static struct dest_named *named_slot(const struct dest_total *t, size_t n)
{
	size_t cap = 2 * (size_t)cf.metrics_top, victim = named_n;
	uint64_t least = UINT64_MAX;

	if (cap > DEST_MAX)
		cap = DEST_MAX;
	if (named_n < cap)
		return &named[named_n++];
	for (size_t i = 0; i < named_n; i++) {
		uint64_t total = 0;
		if (dest_top(t, n, named[i].name))
			continue;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(t[k].name, named[i].name))
				total = t[k].total;
		if (total < least) {
			least = total;
			victim = i;
		}
	}
	return victim < named_n ? &named[victim] : NULL;
}

/* Name every destination of the current top that is not named yet,
 * its base what "other" showed of it. */
static void named_update(const struct dest_total *t, size_t n)
{
	struct dest_named *e;

	for (size_t k = 0; k < n && k < (size_t)cf.metrics_top; k++) {
		if (!strcmp(t[k].name, "other") || named_find(t[k].name) ||
		    !(e = named_slot(t, n)))
			continue;
		memset(e, 0, sizeof *e);
		snprintf(e->name, sizeof e->name, "%s", t[k].name);
		for (size_t i = 0; i < in_other_n; i++)
			if (!strcmp(in_other[i].name, e->name))
				memcpy(e->base, in_other[i].base, sizeof e->base);
	}
	in_other_n = 0;
}

/* Note what "other" shows of destination d, result r, this scrape. */
static void in_other_add(const char *d, int r, uint64_t v)
{
	size_t i;

	for (i = 0; i < in_other_n && strcmp(in_other[i].name, d); i++)
		;
	if (i == in_other_n) {
		if (in_other_n == DEST_MAX)
			return;
		memset(&in_other[in_other_n], 0, sizeof in_other[0]);
		snprintf(in_other[in_other_n++].name, sizeof in_other[0].name,
			 "%s", d);
	}
	in_other[i].base[r] = v;
}

void mon_expo_destinations_forget(void)
{
	pthread_mutex_lock(&named_lock);
	named_n = 0;
	in_other_n = 0;
	pthread_mutex_unlock(&named_lock);
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
	struct dest_total *t = calloc(DEST_MAX, sizeof *t);
	char d[METRICS_LABELS_MAX], l[METRICS_LABELS_MAX];
	uint64_t other[DEST_RESULTS] = { 0, 0, 0 };
	struct dest_named *e;
	size_t n;
	int r;

	if (!t)
		return;
	n = dest_totals(sn, t);
	pthread_mutex_lock(&named_lock);
	named_update(t, n);
	mon_expo_head(b, f->name, "counter", f->help);
	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		if (s->family != METRIC_DEST_DELIVERIES ||
		    (r = result_of(s->labels)) < 0)
			continue;
		if ((e = named_find(dest_of(s->labels, d, sizeof d)))) {
			mon_expo_sample(b, f->name, "", s->labels, "");
			mon_printf(b, "%llu\n", (unsigned long long)(
				s->value > e->base[r] ? s->value - e->base[r] : 0));
		} else {
			other[r] += s->value;
			in_other_add(d, r, s->value);
		}
	}
	for (size_t i = 0; i < named_n; i++)
		for (r = 0; r < DEST_RESULTS; r++)
			other[r] += named[i].base[r];
	pthread_mutex_unlock(&named_lock);
	for (r = 0; r < DEST_RESULTS; r++) {
		snprintf(l, sizeof l, "destination=\"other\",result=\"%s\"",
			 dest_results[r]);
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
