/* mon.h: relay-metrics, the Prometheus endpoint and status page.  It only
 * reads what the daemons publish (lib/metrics.h areas in DIR/metrics/,
 * run/status, the counters file, the log) and is never on the mail path.
 * mon_main.c binds and drops privileges, mon_http.c serves (libmicrohttpd),
 * mon_expo.c writes /metrics, mon_page.c the status page, mon_data.c
 * gathers what both show. */
#ifndef MON_H
#define MON_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* A growing text buffer; on allocation failure it stays short and
 * failed is set (the request answers 500). */
struct mon_buf {
	char *s;
	size_t len, cap;
	int failed;
};
void mon_printf(struct mon_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append text with &, <, >, ", ' as HTML entities. */
void mon_html(struct mon_buf *b, const char *text);
/* A name from a file of another uid for a label or a page: printable
 * ASCII only (a byte outside becomes '?'); returns buf. */
const char *mon_clean(char *buf, size_t n, const char *s);
/* "# HELP" and "# TYPE" lines; a sample's name and labels (labels and
 * extra are label texts, either may be ""), the value to follow. */
void mon_expo_head(struct mon_buf *b, const char *name, const char *type,
		   const char *help);
void mon_expo_sample(struct mon_buf *b, const char *name, const char *sfx,
		     const char *labels, const char *extra);

/* ---- mon_data.c: a snapshot of everything published ---- */
struct mon_daemon {
	char name[32];
	long pid, started, restarts;
	int loop;               /* restarting in a loop (mon_data_restarts) */
};
struct mon_usage {
	char name[256];
	int user;               /* 0: customer */
	long n1, n2;            /* user: msgs, rcpts; customer: daily, peak */
	long lim1, lim2;        /* 0: unlimited; -1: unknown */
};
struct mon_snap {
	long now;
	struct metrics_sample *s;       /* summed by series, sorted */
	size_t n;
	struct mon_daemon d[16];
	size_t nd;
	struct mon_usage *u;
	size_t nu;
	long suspended;
};
/* Read it all; 0, or -1 when out of memory. */
/* Before privileges drop: the shared rate store's client, if any. */
void mon_data_init(void);
int mon_snap_take(struct mon_snap *sn);
void mon_snap_free(struct mon_snap *sn);
/* Forget the users' usage (their names are addresses and AUTH users),
 * keeping the customers'. */
void mon_snap_drop_users(struct mon_snap *sn);
/* The sum of a family's series whose labels contain match ("" = all). */
uint64_t mon_snap_sum(const struct mon_snap *sn, enum metrics_family f,
		      const char *match);
/* Percent of a limit used; -1 when unlimited or unknown. */
int mon_usage_pct(long n, long lim);

/* ---- mon_expo.c, mon_derive.c ---- */
void mon_expo(struct mon_buf *b, const struct mon_snap *sn);
/* the destinations relay-send counts, with "other"; those deferring */
void mon_expo_destinations(struct mon_buf *b, const struct mon_snap *sn);
/* daemons, customers and users, queue age, the alerts */
void mon_expo_derived(struct mon_buf *b, const struct mon_snap *sn);

/* ---- mon_rate.c: throughput over a window ---- */
enum mon_rate_kind { MON_RATE_ACCEPTED, MON_RATE_SENT, MON_RATE_DEFERRED,
		     MON_RATE_BOUNCED, MON_RATE_REFUSED, MON_RATE_KINDS };
#define MON_RATE_STEP 10 /* seconds between samples */
/* Keep a sample of the counters (the main thread, every MON_RATE_STEP s),
 * and mail the alerts that are due (mon_alert.c) from the same snapshot. */
void mon_rate_sample(void);
/* d[kind] = how much each grew over (at most) window seconds; returns
 * the seconds actually covered (0: no sample yet). */
long mon_rate_window(const struct mon_snap *sn, long window, uint64_t *d);

/* ---- mon_page.c, mon_page_log.c ---- */
void mon_page(struct mon_buf *b, const struct mon_snap *sn);
/* The log search (lib/logsearch.h) as a page: the form and the lines. */
struct mon_log_query {
	const char *id, *from, *to, *ip, *since, *until;
};
/* A search's budget (man/relay-metrics.8, LIMITS): the newest
 * MON_LOG_BYTES of the log, for MON_LOG_SECONDS at most (relayctl log
 * has none).  mon_page_log says on the page what was not searched and
 * returns LOGSEARCH_CUT_* bits, for the header MON_LOG_CUT_HEADER. */
#define MON_LOG_BYTES (64LL << 20)
#define MON_LOG_SECONDS 5
#define MON_LOG_CUT_HEADER "X-Log-Search-Cut"
int mon_page_log(struct mon_buf *b, const struct mon_log_query *q);
void mon_page_log_form(struct mon_buf *b, const struct mon_log_query *q);
/* the destinations that defer or bounce most (mon_page_dest.c) */
void mon_page_destinations(struct mon_buf *b, const struct mon_snap *sn);
/* The page's head and foot, with title */
void mon_page_head(struct mon_buf *b, const char *title);
void mon_page_foot(struct mon_buf *b);

/* ---- mon_alert.c, mon_smtp.c: alerts as mail (metrics_alert_mail) ---- */
void mon_alert_mail(const struct mon_snap *sn);
/* 0 when the relay took the message; -1 (nothing logged) otherwise */
int mon_smtp_send(const char *to, const char *body);

/* settings of relay-metrics (relay.conf, lib/settings.c) */
#define MON_NEAR_PCT 80         /* a customer "near" a limit: the alert */

#endif
