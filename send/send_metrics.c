/* send_metrics.c: what relay-send publishes for relay-metrics
 * (lib/metrics.h): each recipient's result, by result and by destination
 * (the recipient's domain, at most max_series of them, the rest as
 * "other"), how long a final result took, since when a destination has
 * been deferring, and the queue by state once a second. */
#include "send.h"
#include "metrics.h"
#include "utf8.h"

#include <ctype.h>
#include <string.h>

/* The recipient's domain, lowercased, for a label; a long one is cut
 * between two characters (an IDN's U-label is UTF-8). */
static void rcpt_domain(const char *rcpt, char *buf, size_t n)
{
	const char *at = strrchr(rcpt, '@');
	size_t len;

	at = at ? at + 1 : rcpt;
	len = utf8_cut(at, n - 1);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)at[i]);
	buf[len] = '\0';
}

static const char *result_word(char st)
{
	return st == 'D' ? "sent" : st == 'B' ? "bounced" : "deferred";
}

/* Since when the destination has deferred with no success since: set at
 * its first deferral, 0 again at a success.  A destination past the
 * family's bound is not tracked (its deferrals still count as other). */
static void dest_deferring(const char *dom, char st, long long now)
{
	char l[METRICS_LABELS_MAX];

	metrics_labels(l, sizeof l, "destination", dom, NULL);
	if (st == 'D')
		metrics_set(METRIC_DEST_DEFERRING, 0, l);
	else if (st == 'T' && metrics_get(METRIC_DEST_DEFERRING, l) == 0)
		metrics_set(METRIC_DEST_DEFERRING, now, l);
}

void send_metrics_start(void)
{
	static const char st[] = { 'D', 'T', 'B' };
	char l[METRICS_LABELS_MAX];

	for (size_t i = 0; i < sizeof st; i++)
		metrics_add(METRIC_DEST_DELIVERIES, 0,
			    metrics_labels(l, sizeof l, "destination", "other",
					   "result", result_word(st[i]), NULL));
}

void send_metrics_result(const struct send_msg *m, size_t i, char st,
			 long long now)
{
	char dom[64], l[METRICS_LABELS_MAX];
	const char *word = result_word(st);

	metrics_add(METRIC_DELIVERIES, 1,
		    metrics_labels(l, sizeof l, "result", word, NULL));
	rcpt_domain(m->q.rcpt[i], dom, sizeof dom);
	if (metrics_add(METRIC_DEST_DELIVERIES, 1,
			metrics_labels(l, sizeof l, "destination", dom,
				       "result", word, NULL)) < 0)
		metrics_add(METRIC_DEST_DELIVERIES, 1,
			    metrics_labels(l, sizeof l, "destination", "other",
					   "result", word, NULL));
	dest_deferring(dom, st, now);
	if (st != 'T')
		metrics_observe(METRIC_DELIVERY_DELAY,
				(double)(now - m->q.arrival), "");
}

/* Messages by state: delivering (a job in flight), deferred (a recipient
 * tried and due again), waiting (never tried yet); and the oldest.  At
 * the end of a pass, at most once a second (a look at every message).
 * Returns 0 when it skipped this pass's look: the caller owes one a
 * second later, or the gauges could show a state up to a minute old. */
int send_metrics_queue(const struct send_msgs *ms, long long now)
{
	static long long last;
	long long n[3] = { 0, 0, 0 }, oldest = 0;

	if (now == last)
		return 0;
	last = now;
	for (size_t i = 0; i < ms->n; i++) {
		const struct send_msg *m = ms->v[i];
		int tried = 0;
		if (m->gone)
			continue;
		for (size_t k = 0; k < m->q.nrcpt && !tried; k++)
			tried = m->st.r[k].status == 'T';
		n[m->nbusy ? 0 : tried ? 1 : 2]++;
		if (!oldest || m->q.arrival < oldest)
			oldest = m->q.arrival;
	}
	metrics_set(METRIC_QUEUE_STATE, n[0], "state=\"delivering\"");
	metrics_set(METRIC_QUEUE_STATE, n[1], "state=\"deferred\"");
	metrics_set(METRIC_QUEUE_STATE, n[2], "state=\"waiting\"");
	metrics_set(METRIC_QUEUE_OLDEST, oldest, "");
	return 1;
}
