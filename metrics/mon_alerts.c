/* mon_alerts.c: daemons, queue age, customers, users and suspended
 * accounts in /metrics, each alert condition as a 0/1 gauge beside the
 * numbers it is made of (conf/relay-alerts.yml has the matching rules). */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void gauge(struct mon_buf *b, const char *name, const char *labels,
		  long long v)
{
	mon_expo_sample(b, name, "", labels, "");
	mon_printf(b, "%lld\n", v);
}

static void daemons(struct mon_buf *b, const struct mon_snap *sn)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "relay_daemon_up", "gauge", "1 when the daemon runs" },
		{ "relay_daemon_restarts_total", "counter",
		  "starts of the daemon after its first (this relay-master run)" },
		{ "relay_daemon_uptime_seconds", "gauge",
		  "seconds since the daemon last started, 0 when down" },
		{ "relay_alert_daemon_restart_loop", "gauge",
		  "1 when the daemon restarted 3 times or more in 10 minutes" },
	};
	char l[METRICS_LABELS_MAX];

	for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
		mon_expo_head(b, fam[k].name, fam[k].type, fam[k].help);
		for (size_t i = 0; i < sn->nd; i++) {
			const struct mon_daemon *d = &sn->d[i];
			long long v = k == 0 ? d->pid != 0 : k == 1 ? d->restarts :
				      k == 2 ? (d->pid ? sn->now - d->started : 0)
					     : d->loop;
			metrics_labels(l, sizeof l, "daemon", d->name, NULL);
			gauge(b, fam[k].name, l, v);
		}
	}
}

static void queue_age(struct mon_buf *b, const struct mon_snap *sn)
{
	const struct metrics_sample *s = NULL;
	long long age = 0;

	for (size_t i = 0; i < sn->n; i++)
		if (sn->s[i].family == METRIC_QUEUE_OLDEST)
			s = &sn->s[i];
	if (s && (long long)s->value > 0)
		age = sn->now - (long long)s->value;
	mon_expo_head(b, "relay_queue_oldest_message_age_seconds", "gauge",
		      "age of the oldest message in the queue, 0 when empty");
	gauge(b, "relay_queue_oldest_message_age_seconds", "", age);
	mon_expo_head(b, "relay_alert_queue_old", "gauge",
		      "1 when the oldest message is older than "
		      "metrics_alert_queue seconds");
	gauge(b, "relay_alert_queue_old", "", age > cf.metrics_alert_queue);
}

/* The customers: per window their usage, limit, headroom and alert. */
static void customers(struct mon_buf *b, const struct mon_snap *sn)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "relay_customer_recipients", "recipients counted in the window" },
		{ "relay_customer_limit", "the customer's limit for the window "
		  "(absent when unlimited)" },
		{ "relay_customer_headroom", "recipients left under the limit" },
		{ "relay_alert_customer_near_limit", "1 when the customer used "
		  "80% or more of the window's limit" },
	};
	char l[METRICS_LABELS_MAX], name[256];

	for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
		mon_expo_head(b, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; i < sn->nu; i++) {
			const struct mon_usage *u = &sn->u[i];
			for (int w = 0; w < 2 && !u->user; w++) {
				long n = w ? u->n2 : u->n1;
				long lim = w ? u->lim2 : u->lim1;
				int pct = mon_usage_pct(n, lim);
				if (k && lim <= 0)
					continue;
				metrics_labels(l, sizeof l, "customer",
					       mon_clean(name, sizeof name, u->name),
					       "window", w ? "10m" : "24h", NULL);
				gauge(b, fam[k].name, l, k == 0 ? n : k == 1 ? lim :
				      k == 2 ? lim - n : pct >= MON_NEAR_PCT);
			}
		}
	}
}

static int user_cmp(const void *a, const void *b)
{
	const struct mon_usage *x = *(const struct mon_usage *const *)a;
	const struct mon_usage *y = *(const struct mon_usage *const *)b;
	return x->n2 != y->n2 ? (x->n2 < y->n2 ? 1 : -1)
			      : strcmp(x->name, y->name);
}

/* The metrics_top users with the most recipients in 24 h. */
static void users(struct mon_buf *b, const struct mon_snap *sn)
{
	const struct mon_usage **v = calloc(sn->nu + 1, sizeof *v);
	/* the whole name (an address of up to 254 bytes, printable ASCII
	 * after mon_clean, each byte at most 2 once escaped), not the
	 * bound of a published slot's labels */
	char name[256], l[2 * sizeof name + 32];
	size_t n = 0;

	if (!v)
		return;
	for (size_t i = 0; i < sn->nu; i++)
		if (sn->u[i].user)
			v[n++] = &sn->u[i];
	qsort(v, n, sizeof *v, user_cmp);
	mon_expo_head(b, "relay_user_usage", "gauge", "the busiest users' "
		      "messages and unique recipients in 24 h");
	for (size_t i = 0; i < n && i < (size_t)cf.metrics_top; i++) {
		mon_clean(name, sizeof name, v[i]->name);
		metrics_labels(l, sizeof l, "user", name, "kind", "messages",
			       NULL);
		gauge(b, "relay_user_usage", l, v[i]->n1);
		metrics_labels(l, sizeof l, "user", name, "kind", "recipients",
			       NULL);
		gauge(b, "relay_user_usage", l, v[i]->n2);
	}
	free(v);
}

void mon_expo_derived(struct mon_buf *b, const struct mon_snap *sn)
{
	daemons(b, sn);
	queue_age(b, sn);
	customers(b, sn);
	users(b, sn);
	mon_expo_head(b, "relay_suspended_accounts", "gauge",
		      "users and customers suspended by relayctl suspend");
	gauge(b, "relay_suspended_accounts", "", sn->suspended);
}
