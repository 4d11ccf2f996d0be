/* mon_alert.c: the alerts as mail to the operator (metrics_alert_mail),
 * optional.  At each sample (every MON_RATE_STEP s, mon_main.c) the
 * conditions of the relay_alert_* gauges are evaluated on the same
 * snapshot; the ones firing that were not mailed within
 * metrics_alert_mail_every seconds go out together in one message,
 * through the relay itself (mon_smtp.c), so the operator's own rules
 * decide, log and count it like any mail.  A condition counts as mailed
 * only once the relay took the message: one it refused or that could
 * not be sent is tried again at a later sample, the first retry at the
 * next one, each later one twice as late, never later than
 * metrics_alert_mail_every.  At most MON_ALERT_KEYS conditions are
 * remembered; a full table mails nothing new until an entry ages out. */
#include "mon.h"
#include "log.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MON_ALERT_KEYS 64

static struct {
	char key[200];
	long sent;
} mailed[MON_ALERT_KEYS];

/* The entries due() marked for the message being made: unmarked again
 * when it is not sent. */
static int round_slot[MON_ALERT_KEYS];
static int round_n;
/* After failed sends: how many in a row, and no try before retry_at. */
static int failures;
static long retry_at;

/* 1 when key may be mailed now (and it is then marked as mailed). */
static int due(const char *key, long now)
{
	int free_slot = -1;

	for (int i = 0; i < MON_ALERT_KEYS; i++) {
		if (mailed[i].sent && now - mailed[i].sent >=
				      cf.metrics_alert_mail_every)
			mailed[i].sent = 0;  /* aged out */
		if (mailed[i].sent && !strcmp(mailed[i].key, key))
			return 0;
		if (!mailed[i].sent && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return 0;
	snprintf(mailed[free_slot].key, sizeof mailed[0].key, "%s", key);
	mailed[free_slot].sent = now;
	round_slot[round_n++] = free_slot;
	return 1;
}

/* The line, when its condition (key: stable while it lasts) is due. */
static void add(struct mon_buf *body, const char *key, const char *line,
		long now)
{
	if (due(key, now))
		mon_printf(body, "%s\n", line);
}

static void customers(struct mon_buf *b, const struct mon_snap *sn)
{
	char key[200], line[240], name[128];

	for (size_t i = 0; i < sn->nu; i++) {
		const struct mon_usage *u = &sn->u[i];
		for (int w = 0; w < 2 && !u->user; w++) {
			long n = w ? u->n2 : u->n1, lim = w ? u->lim2 : u->lim1;
			if (mon_usage_pct(n, lim) < MON_NEAR_PCT)
				continue;
			mon_clean(name, sizeof name, u->name);
			snprintf(key, sizeof key, "customer %s %d", name, w);
			snprintf(line, sizeof line, "customer %s: %ld of its %s "
				 "limit %ld", name, n, w ? "10-minute" : "daily",
				 lim);
			add(b, key, line, sn->now);
		}
	}
}

static void destinations(struct mon_buf *b, const struct mon_snap *sn)
{
	char key[200], name[METRICS_LABELS_MAX];

	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		long since = (long)s->value;
		if (s->family != METRIC_DEST_DEFERRING || since <= 0 ||
		    sn->now - since <= cf.metrics_alert_defer)
			continue;
		snprintf(key, sizeof key, "destination %s deferring for "
			 "longer than %lds", mon_clean(name, sizeof name,
						      s->labels),
			 cf.metrics_alert_defer);
		add(b, key, key, sn->now);
	}
}

static void queue_and_daemons(struct mon_buf *b, const struct mon_snap *sn)
{
	char key[200], line[240];

	for (size_t i = 0; i < sn->n; i++)
		if (sn->s[i].family == METRIC_QUEUE_OLDEST &&
		    (long)sn->s[i].value > 0 &&
		    sn->now - (long)sn->s[i].value > cf.metrics_alert_queue) {
			snprintf(key, sizeof key, "oldest queued message "
				 "older than %lds", cf.metrics_alert_queue);
			add(b, key, key, sn->now);
		}
	for (size_t i = 0; i < sn->nd; i++)
		if (sn->d[i].loop) {
			snprintf(key, sizeof key, "daemon %s", sn->d[i].name);
			snprintf(line, sizeof line, "%s restarting in a loop "
				 "(%ld restarts)", sn->d[i].name,
				 sn->d[i].restarts);
			add(b, key, line, sn->now);
		}
}

/* The message was not sent: its conditions are not mailed, and the next
 * try waits MON_RATE_STEP, doubled at each failure in a row, at most
 * metrics_alert_mail_every. */
static void not_sent(long now)
{
	long wait = MON_RATE_STEP;

	for (int i = 0; i < round_n; i++)
		mailed[round_slot[i]].sent = 0;
	for (int i = 0; i < failures && wait < cf.metrics_alert_mail_every; i++)
		wait *= 2;
	if (wait > cf.metrics_alert_mail_every)
		wait = cf.metrics_alert_mail_every;
	failures++;
	retry_at = now + wait;
	log_warn("alert mail to=<%s> not sent (the relay refused it or is "
		 "not reachable); trying again in %ld s", cf.metrics_alert_mail,
		 wait);
}

void mon_alert_mail(const struct mon_snap *sn)
{
	struct mon_buf body = { 0 };

	if (!*cf.metrics_alert_mail || sn->now < retry_at)
		return;
	round_n = 0;
	customers(&body, sn);
	destinations(&body, sn);
	queue_and_daemons(&body, sn);
	if (body.len && !body.failed &&
	    mon_smtp_send(cf.metrics_alert_mail, body.s) == 0)
		failures = 0;
	else if (round_n)
		not_sent(sn->now);
	free(body.s);
}
