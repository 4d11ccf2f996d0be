/* mon_page.c: the status page, plain HTML without scripts: the daemons,
 * the queue, throughput over 10 minutes and 24 hours, the customers
 * nearest a limit (the numbers of relayctl stats), the destinations that
 * defer or bounce most, and the form of the log search (mon_page_log.c).
 * Everything shown that came from a file goes through mon_html. */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_ROWS 50

void mon_page_head(struct mon_buf *b, const char *title)
{
	mon_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		      "<meta charset=\"utf-8\"><title>");
	mon_html(b, title);
	mon_printf(b, " - ");
	mon_html(b, cf.hostname);
	mon_printf(b, "</title><style>body{font-family:sans-serif;margin:1em}"
		      "table{border-collapse:collapse;margin-bottom:1em}"
		      "td,th{border:1px solid #999;padding:2px 8px;"
		      "text-align:left}.alert{background:#fcc}"
		      "pre{background:#eee;padding:4px}</style></head><body>\n"
		      "<h1>");
	mon_html(b, title);
	mon_printf(b, " &mdash; ");
	mon_html(b, cf.hostname);
	mon_printf(b, "</h1>\n<p><a href=\"/\">status</a> | "
		      "<a href=\"/log\">log search</a> | "
		      "<a href=\"/metrics\">metrics</a></p>\n");
}

void mon_page_foot(struct mon_buf *b)
{
	mon_printf(b, "</body></html>\n");
}

static void daemons(struct mon_buf *b, const struct mon_snap *sn)
{
	mon_printf(b, "<h2>Daemons</h2>\n<table id=\"daemons\"><tr><th>daemon"
		      "</th><th>pid</th><th>up for (s)</th><th>restarts</th>"
		      "</tr>\n");
	for (size_t i = 0; i < sn->nd; i++) {
		const struct mon_daemon *d = &sn->d[i];
		mon_printf(b, "<tr%s><td>", d->loop || !d->pid ?
			   " class=\"alert\"" : "");
		mon_html(b, d->name);
		mon_printf(b, "</td><td>%ld</td><td>%ld</td><td>%ld%s</td></tr>\n",
			   d->pid, d->pid ? sn->now - d->started : 0,
			   d->restarts, d->loop ? " (restarting in a loop)" : "");
	}
	mon_printf(b, "</table>\n");
}

static long long gauge_of(const struct mon_snap *sn, enum metrics_family f,
			  const char *labels)
{
	for (size_t i = 0; i < sn->n; i++)
		if (sn->s[i].family == (unsigned)f &&
		    !strcmp(sn->s[i].labels, labels))
			return (long long)sn->s[i].value;
	return 0;
}

static void queue(struct mon_buf *b, const struct mon_snap *sn)
{
	static const char *const st[] = { "waiting", "delivering", "deferred" };
	long long oldest = gauge_of(sn, METRIC_QUEUE_OLDEST, "");
	char l[64];

	mon_printf(b, "<h2>Queue</h2>\n<table id=\"queue\"><tr>");
	for (size_t i = 0; i < 3; i++)
		mon_printf(b, "<th>%s</th>", st[i]);
	mon_printf(b, "<th>oldest (s)</th></tr>\n<tr>");
	for (size_t i = 0; i < 3; i++) {
		snprintf(l, sizeof l, "state=\"%s\"", st[i]);
		mon_printf(b, "<td>%lld</td>",
			   gauge_of(sn, METRIC_QUEUE_STATE, l));
	}
	mon_printf(b, "<td%s>%lld</td></tr>\n</table>\n",
		   oldest && sn->now - oldest > cf.metrics_alert_queue ?
		   " class=\"alert\"" : "", oldest ? sn->now - oldest : 0);
}

static void throughput(struct mon_buf *b, const struct mon_snap *sn)
{
	static const char *const kind[MON_RATE_KINDS] = {
		"accepted", "sent", "deferred", "bounced", "refused" };
	static const struct {
		const char *name;
		long window;
	} win[] = { { "last 10 minutes", 600 }, { "last 24 hours", 86400 } };
	uint64_t d[MON_RATE_KINDS];

	mon_printf(b, "<h2>Throughput</h2>\n<table id=\"throughput\"><tr>"
		      "<th>window</th>");
	for (int k = 0; k < MON_RATE_KINDS; k++)
		mon_printf(b, "<th>%s</th>", kind[k]);
	mon_printf(b, "</tr>\n");
	for (size_t w = 0; w < sizeof win / sizeof win[0]; w++) {
		long got = mon_rate_window(sn, win[w].window, d);
		mon_printf(b, "<tr><td>%s", win[w].name);
		if (got < win[w].window)
			mon_printf(b, " (counted over %lds)", got);
		mon_printf(b, "</td>");
		for (int k = 0; k < MON_RATE_KINDS; k++)
			mon_printf(b, "<td>%llu</td>", (unsigned long long)d[k]);
		mon_printf(b, "</tr>\n");
	}
	mon_printf(b, "</table>\n");
}

static int usage_max_pct(const struct mon_usage *u)
{
	int a = mon_usage_pct(u->n1, u->lim1), c = mon_usage_pct(u->n2, u->lim2);
	return a > c ? a : c;
}

static int customer_cmp(const void *x, const void *y)
{
	const struct mon_usage *a = *(const struct mon_usage *const *)x;
	const struct mon_usage *c = *(const struct mon_usage *const *)y;
	int pa = usage_max_pct(a), pc = usage_max_pct(c);
	return pa != pc ? (pa < pc ? 1 : -1) : strcmp(a->name, c->name);
}

/* "count/limit" as relayctl stats writes it: "-" unlimited, "?" unknown */
static void pair(struct mon_buf *b, long n, long lim)
{
	if (lim < 0)
		mon_printf(b, "<td>%ld/?</td>", n);
	else if (lim == 0)
		mon_printf(b, "<td>%ld/-</td>", n);
	else
		mon_printf(b, "<td%s>%ld/%ld</td>", mon_usage_pct(n, lim) >=
			   MON_NEAR_PCT ? " class=\"alert\"" : "", n, lim);
}

static void customers(struct mon_buf *b, const struct mon_snap *sn)
{
	const struct mon_usage **v = calloc(sn->nu + 1, sizeof *v);
	size_t n = 0;

	if (!v)
		return;
	for (size_t i = 0; i < sn->nu; i++)
		if (!sn->u[i].user)
			v[n++] = &sn->u[i];
	qsort(v, n, sizeof *v, customer_cmp);
	mon_printf(b, "<h2>Customers nearest a limit</h2>\n<table id=\"customers\">"
		      "<tr><th>customer</th><th>rcpts_24h</th><th>rcpts_10m</th>"
		      "<th>%% of a limit</th></tr>\n");
	for (size_t i = 0; i < n && i < PAGE_ROWS; i++) {
		int pct = usage_max_pct(v[i]);
		mon_printf(b, "<tr><td>");
		mon_html(b, v[i]->name);
		mon_printf(b, "</td>");
		pair(b, v[i]->n1, v[i]->lim1);
		pair(b, v[i]->n2, v[i]->lim2);
		if (pct < 0)
			mon_printf(b, "<td>-</td></tr>\n");
		else
			mon_printf(b, "<td>%d</td></tr>\n", pct);
	}
	mon_printf(b, "</table>\n");
	free(v);
}

void mon_page(struct mon_buf *b, const struct mon_snap *sn)
{
	char now[32];
	time_t t = (time_t)sn->now;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
	mon_page_head(b, "relaybox status");
	mon_printf(b, "<p>as of %s; suspended accounts: %ld</p>\n", now,
		   sn->suspended);
	daemons(b, sn);
	queue(b, sn);
	throughput(b, sn);
	customers(b, sn);
	mon_page_destinations(b, sn);
	mon_printf(b, "<h2>Log search</h2>\n");
	mon_page_log_form(b, &(struct mon_log_query){ 0 });
	mon_page_foot(b);
}
