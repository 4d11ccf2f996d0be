/* mon_expo.c: /metrics, the Prometheus text exposition (version 0.0.4)
 * of a snapshot: the daemons' areas family by family (lib/metrics_def.h
 * names them), the busiest destinations with the rest as "other", and
 * what relay-metrics derives itself: daemons, per-customer usage and
 * headroom, the alerts of man/relay-metrics.8. */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = { "counter", "gauge", "histogram" };

/* One histogram series: samples s[0..n) of one label set. */
static void histogram(struct mon_buf *b, const char *name,
		      const struct metrics_sample *s, size_t n)
{
	uint64_t part[METRICS_PART_SUM + 1] = { 0 };
	char le[32];

	for (size_t i = 0; i < n; i++)
		part[s[i].part] = s[i].value;
	for (unsigned k = 0; k < METRICS_BUCKETS; k++) {
		snprintf(le, sizeof le, "le=\"%g\"", metrics_buckets[k]);
		mon_expo_sample(b, name, "_bucket", s->labels, le);
		mon_printf(b, "%llu\n", (unsigned long long)part[k]);
	}
	mon_expo_sample(b, name, "_bucket", s->labels, "le=\"+Inf\"");
	mon_printf(b, "%llu\n", (unsigned long long)part[METRICS_PART_INF]);
	mon_expo_sample(b, name, "_sum", s->labels, "");
	mon_printf(b, "%.3f\n", (double)part[METRICS_PART_SUM] / 1000);
	mon_expo_sample(b, name, "_count", s->labels, "");
	mon_printf(b, "%llu\n", (unsigned long long)part[METRICS_PART_INF]);
}

/* Families the areas carry as they are. */
static void expo_plain(struct mon_buf *b, const struct mon_snap *sn)
{
	size_t i = 0, j;

	while (i < sn->n) {
		const struct metrics_sample *s = &sn->s[i];
		const struct metrics_family_def *f = &metrics_families[s->family];
		for (j = i; j < sn->n && sn->s[j].family == s->family; j++)
			;
		if (s->family == METRIC_DEST_DELIVERIES ||
		    s->family == METRIC_DEST_DEFERRING) {
			i = j;
			continue;
		}
		mon_expo_head(b, f->name, type_names[f->type], f->help);
		for (size_t k = i; k < j;) {
			size_t e = k;
			while (e < j && !strcmp(sn->s[e].labels, sn->s[k].labels))
				e++;
			if (f->type == METRICS_HISTOGRAM) {
				histogram(b, f->name, &sn->s[k], e - k);
			} else {
				mon_expo_sample(b, f->name, "", sn->s[k].labels, "");
				mon_printf(b, f->type == METRICS_GAUGE ? "%lld\n" :
					   "%llu\n", (long long)sn->s[k].value);
			}
			k = e;
		}
		i = j;
	}
}


void mon_expo(struct mon_buf *b, const struct mon_snap *sn)
{
	expo_plain(b, sn);
	mon_expo_destinations(b, sn);
	mon_expo_derived(b, sn);
}
