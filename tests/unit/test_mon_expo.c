// links: metrics/mon_expo.c metrics/mon_derive.c metrics/mon_alerts.c metrics/mon_buf.c metrics/mon_data.c
/* test_mon_expo.c: relay-metrics' exposition of a hand-made snapshot:
 * every destination relay-send counts by name, its "other" for each
 * result, unchanged by a fresh relay-metrics, a histogram's cumulative
 * buckets with _sum in seconds and _count, every family's samples after
 * its one TYPE line, HTML escaping of the page's text, and no user's name
 * once the users are dropped (what is served without credentials). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../metrics/mon.h"
#include "settings.h"
#include "t.h"

static struct metrics_sample samples[64];

static void put(size_t *n, unsigned family, unsigned part, const char *labels,
		uint64_t v)
{
	samples[*n].family = family;
	samples[*n].part = part;
	snprintf(samples[*n].labels, sizeof samples[*n].labels, "%s", labels);
	samples[*n].value = v;
	(*n)++;
}

/* 1 when text has the line exactly */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

/* 1 when each "# TYPE name" comes once and the family's samples follow
 * it without another family in between */
static int grouped(const char *text)
{
	char seen[64][96], name[96];
	size_t nseen = 0;

	for (const char *p = text; (p = strstr(p, "# TYPE ")); p++) {
		if (sscanf(p + 7, "%95s", name) != 1)
			return 0;
		for (size_t i = 0; i < nseen; i++)
			if (!strcmp(seen[i], name))
				return 0;
		if (nseen < 64)
			snprintf(seen[nseen++], sizeof seen[0], "%s", name);
	}
	return nseen > 3;
}

static void test_destinations(void)
{
	struct mon_snap sn;
	struct mon_buf b = { 0 };
	char l[METRICS_LABELS_MAX], want[200];
	size_t n = 0;

	memset(&sn, 0, sizeof sn);
	cf.metrics_top = 3;
	/* d0..d5: d5 busiest (60 sent), d0 least (10) */
	for (int i = 0; i < 6; i++) {
		snprintf(l, sizeof l, "destination=\"d%d.example\",result=\"sent\"",
			 i);
		put(&n, METRIC_DEST_DELIVERIES, 0, l, (uint64_t)(i + 1) * 10);
	}
	put(&n, METRIC_DELIVERY_DELAY, 1, "", 2);
	put(&n, METRIC_DELIVERY_DELAY, 9, "", 3);
	put(&n, METRIC_DELIVERY_DELAY, METRICS_PART_INF, "", 3);
	put(&n, METRIC_DELIVERY_DELAY, METRICS_PART_SUM, "", 12500);
	sn.s = samples;
	sn.n = n;
	sn.now = 1000;
	mon_expo(&b, &sn);
	T_CHECK("expo: text made", b.s && !b.failed);
	if (!b.s)
		return;
	for (int i = 0; i < 6; i++) {
		snprintf(want, sizeof want, "relay_destination_deliveries_total"
			 "{destination=\"d%d.example\",result=\"sent\"} %d", i,
			 (i + 1) * 10);
		T_CHECK("expo: every destination by name", has_line(b.s, want));
	}
	T_CHECK("expo: other there for each result, 0 when none",
		has_line(b.s, "relay_destination_deliveries_total{destination="
			 "\"other\",result=\"sent\"} 0") &&
		has_line(b.s, "relay_destination_deliveries_total{destination="
			 "\"other\",result=\"bounced\"} 0"));
	T_CHECK("expo: bucket le=1 is 0", has_line(b.s,
		"relay_delivery_delay_seconds_bucket{le=\"1\"} 0"));
	T_CHECK("expo: bucket le=10", has_line(b.s,
		"relay_delivery_delay_seconds_bucket{le=\"10\"} 2"));
	T_CHECK("expo: bucket +Inf", has_line(b.s,
		"relay_delivery_delay_seconds_bucket{le=\"+Inf\"} 3"));
	T_CHECK("expo: sum in seconds", has_line(b.s,
		"relay_delivery_delay_seconds_sum 12.500"));
	T_CHECK("expo: count", has_line(b.s,
		"relay_delivery_delay_seconds_count 3"));
	T_CHECK("expo: one TYPE line per family", grouped(b.s));
	free(b.s);
}

static void test_drop_users(void)
{
	struct mon_usage u[3] = {
		{ "one", 0, 5, 1, 100, 10 },
		{ "a@one.example", 1, 3, 4, 0, 0 },
		{ "b@one.example", 1, 2, 2, 0, 0 },
	};
	struct mon_snap sn;
	struct mon_buf b = { 0 }, c = { 0 };

	memset(&sn, 0, sizeof sn);
	cf.metrics_top = 10;
	sn.u = u;
	sn.nu = 3;
	sn.now = 1000;
	mon_expo(&b, &sn);
	T_CHECK("users: named while kept", b.s && strstr(b.s,
		"relay_user_usage{user=\"a@one.example\",kind=\"messages\"} 3"));
	mon_snap_drop_users(&sn);
	mon_expo(&c, &sn);
	T_CHECK("users: dropped, the customer kept", sn.nu == 1 &&
		!strcmp(sn.u[0].name, "one"));
	T_CHECK("users: no user named once dropped", c.s &&
		!strstr(c.s, "@one.example") && strstr(c.s, "customer=\"one\""));
	free(b.s);
	free(c.s);
}

static void test_html(void)
{
	struct mon_buf b = { 0 };

	mon_html(&b, "<script>\"x\" & 'y'</script>\x01");
	T_STREQ("html: escaped", b.s,
		"&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;?");
	free(b.s);
}

/* The value of the line that starts with series (-1: none). */
static long long series_value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; (p = strstr(p, series)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

#define DEST "relay_destination_deliveries_total{destination="

static int count(const char *text, const char *s)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, s)); p++)
		n++;
	return n;
}

/* The series relay-send published are shown as they are, "other" with
 * them: a fresh relay-metrics (a restart) between two scrapes of the same
 * areas shows the same numbers (it showed named destinations from the
 * count they had when it named them: a jump after each restart). */
static void test_same_after_restart(void)
{
	struct mon_snap sn;
	struct mon_buf b = { 0 };
	size_t n = 0;

	memset(&sn, 0, sizeof sn);
	cf.metrics_top = 1;
	put(&n, METRIC_DEST_DELIVERIES, 0,
	    "destination=\"a.example\",result=\"sent\"", 3);
	put(&n, METRIC_DEST_DELIVERIES, 0,
	    "destination=\"b.example\",result=\"sent\"", 5);
	put(&n, METRIC_DEST_DELIVERIES, 0,
	    "destination=\"other\",result=\"sent\"", 7);
	sn.s = samples;
	sn.n = n;
	sn.now = 1000;
	mon_expo_destinations(&b, &sn);
	T_CHECK("destinations: each its own count, whatever metrics_top",
		b.s && series_value(b.s, DEST "\"a.example\",result="
				    "\"sent\"}") == 3 &&
		series_value(b.s, DEST "\"b.example\",result=\"sent\"}") == 5);
	T_CHECK("destinations: relay-send's other as it is",
		b.s && series_value(b.s, DEST "\"other\",result=\"sent\"}")
		== 7 && series_value(b.s, DEST "\"other\",result="
				     "\"deferred\"}") == 0);
	T_CHECK("destinations: other once per result",
		b.s && count(b.s, DEST "\"other\",result=\"sent\"}") == 1);
	free(b.s);
}

int main(void)
{
	cf.hostname = (char *)"relaybox.test";
	test_destinations();
	test_drop_users();
	test_html();
	test_same_after_restart();
	return t_done();
}
