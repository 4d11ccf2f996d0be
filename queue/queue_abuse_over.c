/* queue_abuse_over.c: an account's 24-hour windows and the thresholds
 * that alert it (relay.conf's abuse_*; doc/BEHAVIOUR.md 4.7): pure
 * functions of one account, called under queue_abuse.c's lock. */
#include "queue.h"
#include "abuse.h"
#include "settings.h"

unsigned queue_abuse_volume(const struct abuse_acct *a, long long hour)
{
	return a->delivered[hour % 24] + a->bounced[hour % 24];
}

/* The hourly buckets up to now's hour (emptied as hours pass), and the
 * baseline moved by each hour that closes: an exponential average with
 * weight 1/24, the hours without a signal counting 0. */
void queue_abuse_advance(struct abuse_acct *a, long long now)
{
	long long h = now / 3600;

	if (h <= a->hour)
		return;
	for (long long k = a->hour; k < h && k < a->hour + 24 * 30; k++)
		a->baseline += ((k == a->hour ? queue_abuse_volume(a, k) : 0) -
				a->baseline) / 24;
	for (long long k = a->hour + 1; k <= h && k <= a->hour + 24; k++) {
		a->spam[k % 24] = a->scanned[k % 24] = 0;
		a->delivered[k % 24] = a->bounced[k % 24] = 0;
		a->rejected[k % 24] = a->bounced_msgs[k % 24] = 0;
	}
	a->hour = h;
}

unsigned queue_abuse_sum(const unsigned *b)
{
	unsigned s = 0;
	for (int i = 0; i < 24; i++)
		s += b[i];
	return s;
}

/* The bounces, once per message and domain, against those and the
 * recipients delivered, from abuse_reject_domains domains at least:
 * one receiving domain alone never reaches it (it could bounce every
 * recipient of an innocent sender on purpose). */
static int ab_bounce_over(const struct abuse_acct *a)
{
	unsigned b = queue_abuse_sum(a->bounced_msgs);
	unsigned d = queue_abuse_sum(a->delivered);

	return cf.abuse_bounce_min > 0 && b >= (unsigned)cf.abuse_bounce_min &&
	       (unsigned long long)b * 100 >=
	       (unsigned long long)cf.abuse_bounce_pct * (b + d) &&
	       queue_abuse_domains_count(a->bnc_by, a->hour) >=
	       (unsigned)cf.abuse_reject_domains;
}

/* What makes the account over a threshold now ("" when nothing). */
const char *queue_abuse_over(const struct abuse_acct *a, long long now)
{
	unsigned cur = queue_abuse_volume(a, a->hour);
	unsigned spam = queue_abuse_sum(a->spam);
	unsigned rej = queue_abuse_sum(a->rejected);

	if (cf.abuse_spam_max > 0 && spam >= (unsigned)cf.abuse_spam_max)
		return "spam";
	/* one receiving domain alone never reaches it: it could refuse an
	 * innocent sender's mail on purpose */
	if (cf.abuse_reject_max > 0 && rej >= (unsigned)cf.abuse_reject_max &&
	    queue_abuse_domains_count(a->rej_by, a->hour) >=
	    (unsigned)cf.abuse_reject_domains)
		return "rejected";
	if (ab_bounce_over(a))
		return "bounced";
	if (cf.abuse_volume_min > 0 && now - a->since >= 86400 &&
	    cur >= (unsigned)cf.abuse_volume_min &&
	    cur >= (double)cf.abuse_volume_factor * a->baseline)
		return "volume";
	return "";
}
