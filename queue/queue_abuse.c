/* queue_abuse.c: abuse monitoring, per account (lib/abuse.h).  The scan
 * threads report each verdict (queue_abuse_scanned); once a second the
 * main thread's tick moves the 24-hour windows, decides, writes the
 * files and sends the mails:
 *   ok -> alerted     spam verdicts in 24 h reach abuse_spam_max: a log
 *                     line, the metric hook, a mail to the customer's
 *                     admin= (at most one per abuse_alert_every)
 *   alerted -> suspended   still over when abuse_grace has passed since
 *                     the alert: abuse/suspended names it, relay-policy
 *                     refuses its next MAIL; a mail says so
 *   alerted -> ok     no longer over when the grace has passed
 *   suspended -> ok   only by `relayctl abuse release` (an operator)
 * (a sender: account whose one device alerts on the same evidence does
 * not alert too: queue_abuse_sender.c; the thresholds: queue_abuse_over.c)
 * The state is relay-queue's alone (one writer), kept in memory, written
 * to abuse/accounts when it changed and read back at start with every
 * line of abuse/suspended, so a restart forgets no suspension.  At most
 * abuse_accounts_max accounts (more only for suspensions read at start):
 * a new one takes the place of the quietest account in state ok; a
 * customer holds a quarter at most, its new accounts beyond that (or
 * when no slot is free) count in its overflow account (ab_get).  The
 * files are written by the main thread alone (the tick and relayctl's
 * requests), after ab_mu is let go: a scan thread never waits for an
 * fsync. */
#include "queue.h"
#include "abuse.h"
#include "addr.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t ab_mu = PTHREAD_MUTEX_INITIALIZER;
static struct abuse_acct *ab;  /* ab_cap slots, ab_n used */
static size_t ab_n, ab_cap;
static int ab_dirty, ab_susp_dirty;

static const char *const state_names[] = { "ok", "alerted", "suspended" };

const char *queue_abuse_state_name(int st)
{
	return st >= 0 && st <= AB_SUSPENDED ? state_names[st] : "ok";
}

/* Slots for the customers' overflow accounts beyond abuse_accounts_max
 * (one a customer at most, so as many as customers run over at once). */
static size_t ab_reserve(void)
{
	return (size_t)cf.abuse_accounts_max / 8;
}

/* The slot of account key (case ignored, as relay-policy's lookup of a
 * suspension: a key of an older version may have capitals), or NULL. */
static struct abuse_acct *ab_find(const char *key)
{
	for (size_t i = 0; i < ab_n; i++)
		if (!strcasecmp(ab[i].key, key))
			return &ab[i];
	return NULL;
}

/* A new slot for key among the first max (evicting the quietest ok
 * account when they are taken); NULL when none can be had. */
static struct abuse_acct *ab_new(const char *key, size_t max, long long now)
{
	size_t i, victim = (size_t)-1;

	if (ab_n < max) {
		i = ab_n++;
	} else {
		for (i = 0; i < ab_n; i++)
			if (ab[i].state == AB_OK && (victim == (size_t)-1 ||
			    ab[i].last_seen < ab[victim].last_seen))
				victim = i;
		if (victim == (size_t)-1)
			return NULL;
		i = victim;
	}
	memset(&ab[i], 0, sizeof ab[i]);
	snprintf(ab[i].key, sizeof ab[i].key, "%s", key);
	ab[i].hour = now / 3600;
	ab[i].since = now;
	return &ab[i];
}

static int ab_is_overflow(const struct abuse_acct *a)
{
	return !strncmp(a->key, ABUSE_KIND_OVERFLOW ":",
			strlen(ABUSE_KIND_OVERFLOW) + 1);
}

/* How many slots customer holds. */
static size_t ab_held(const char *customer)
{
	size_t k = 0;

	for (size_t i = 0; i < ab_n; i++)
		k += !strcmp(ab[i].customer, customer);
	return k;
}

/* The slot of account key of customer, made when missing.  A customer
 * holds at most a quarter of abuse_accounts_max: beyond that, or when
 * every slot is alerted or suspended, its new accounts count together
 * in "overflow:<customer>" (lib/abuse.h), so that no device can blind
 * the monitoring of the others and no signal is dropped; NULL only
 * when even that cannot be had (more customers over at once than the
 * reserve). */
static struct abuse_acct *ab_get(const char *key, const char *customer,
				 long long now)
{
	size_t max = (size_t)cf.abuse_accounts_max;
	struct abuse_acct *a = ab_find(key);
	char over[ABUSE_KEY_MAX];
	size_t l;

	if (a)
		return a;
	if ((!*customer || ab_held(customer) < max / 4) &&
	    (a = ab_new(key, max, now)))
		return a;
	l = (size_t)snprintf(over, sizeof over, "%s:", ABUSE_KIND_OVERFLOW);
	if (!*customer || abuse_encode(over + l, sizeof over - l, customer,
				       strlen(customer)) < 0)
		return NULL;
	if ((a = ab_find(over)) || !(a = ab_new(over, max + ab_reserve(), now)))
		return a;
	snprintf(a->customer, sizeof a->customer, "%s", customer);
	log_warn("abuse: customer %s has more accounts than a quarter of "
		 "abuse_accounts_max = %ld, or no slot is free: %s and its "
		 "other new ones count together as %s", customer,
		 cf.abuse_accounts_max, key, over);
	return a;
}

int queue_abuse_start(void)
{
	struct abuse_acct *a;
	size_t max = (size_t)cf.abuse_accounts_max + ab_reserve(), n = 0;
	size_t cap = max;
	int changed;

	if (!(a = calloc(cap, sizeof *a)) ||
	    (changed = queue_abuse_load(&a, &n, &cap, max, queue_now())) < 0) {
		free(a);
		return -1;
	}
	for (size_t i = 0; i < n; i++) /* the hours while it was down */
		queue_abuse_advance(&a[i], queue_now());
	pthread_mutex_lock(&ab_mu);
	ab = a;
	ab_n = n;
	ab_cap = cap;
	ab_dirty = changed > 0;
	pthread_mutex_unlock(&ab_mu);
	return 0;
}

/* One account's share of a scan verdict (under ab_mu); device: the
 * message's device when key is its sender: account. */
static void ab_scanned(const char *key, const char *device,
		       const struct qfile *q, const char *customer, int spam,
		       const char *symbols, long long now)
{
	static long long last_full;
	struct abuse_acct *a = ab_get(key, customer, now);

	if (!a) {
		if (now - last_full >= 60) {
			last_full = now;
			log_warn("abuse: every one of abuse_accounts_max = %ld "
				 "accounts and the overflow reserve is alerted "
				 "or suspended: %s not followed",
				 cf.abuse_accounts_max, key);
		}
		return;
	}
	queue_abuse_advance(a, now);
	a->last_seen = now;
	a->scanned[a->hour % 24]++;
	snprintf(a->customer, sizeof a->customer, "%s", customer);
	if (spam) {
		queue_abuse_from_device(a, device, a->hour);
		a->spam[a->hour % 24]++;
		snprintf(a->samples[a->nsample++ % AB_SAMPLES],
			 sizeof a->samples[0], "%s", q->qid);
		snprintf(a->symbols, sizeof a->symbols, "%s", symbols);
	}
	ab_dirty = 1;
}

/* A verdict of the content scan for the message j (a scan thread): it
 * counts for each of the message's accounts (lib/abuse.h). */
void queue_abuse_scanned(const struct queue_job *j, int spam,
			 const char *symbols)
{
	const struct qfile *q = &j->q;
	const char *c = qfile_get_info(q, ADMIT_WIRE_CUSTOMER);
	char keys[ABUSE_ACCOUNTS_MAX][ABUSE_KEY_MAX];
	long long now = queue_now();
	int n;

	if (!ab || (n = abuse_accounts(keys, qfile_get_info(q, ADMIT_WIRE_AUTH),
				       qfile_get_info(q, ADMIT_WIRE_REGISTERED),
				       qfile_get_info(q, ADMIT_WIRE_IP),
				       qfile_get_info(q, ADMIT_WIRE_HELO),
				       qfile_get_info(q, ADMIT_WIRE_HELO_NAMED)
				       != NULL)) < 0)
		return;
	pthread_mutex_lock(&ab_mu);
	for (int i = 0; i < n; i++)
		ab_scanned(keys[i], i ? keys[0] : NULL, q, c ? c : "", spam,
			   symbols, now);
	pthread_mutex_unlock(&ab_mu);
}

/* relay-send's signal: it counts for its account (lib/abuse.h). */
void queue_abuse_delivery(const struct abuse_signal *s)
{
	long long now = queue_now();
	const char *cust = s->customer && !strpbrk(s->customer, " =")
			   ? s->customer : "";
	struct abuse_acct *a;
	unsigned msgs;

	if (!ab || !s->account || strlen(s->account) >= ABUSE_KEY_MAX ||
	    strchr(s->account, ' ') || s->rejected > s->bounced)
		return;
	pthread_mutex_lock(&ab_mu);
	if ((a = ab_get(s->account, cust, now))) {
		queue_abuse_advance(a, now);
		a->last_seen = now;
		a->delivered[a->hour % 24] += s->delivered;
		a->bounced[a->hour % 24] += s->bounced;
		a->rejected[a->hour % 24] += s->rejected;
		queue_abuse_domains_add(a->rej_by, s->rejected_domains, a->hour);
		/* one bounce per message and domain: the bounce ratio's
		 * (relay-send's count: the list names 8 at most) */
		msgs = queue_abuse_domains_add(a->bnc_by, s->bounced_domains,
					       a->hour);
		if (s->bounced_msgs >= 0)
			msgs = (unsigned)s->bounced_msgs;
		a->bounced_msgs[a->hour % 24] += msgs < s->bounced ? msgs
								  : s->bounced;
		if (s->bounced)
			queue_abuse_from_device(a, s->device, a->hour);
		if (*cust)
			snprintf(a->customer, sizeof a->customer, "%s", cust);
		if (s->rejected && s->qid && !strpbrk(s->qid, " ,="))
			snprintf(a->samples[a->nsample++ % AB_SAMPLES],
				 sizeof a->samples[0], "%s", s->qid);
		ab_dirty = 1;
	}
	pthread_mutex_unlock(&ab_mu);
}

/* relay_abuse_events_total{event=alert|suspend|release}: per event,
 * not per account (an account is not a bounded label set). */
static void ab_metric(const char *event)
{
	char l[METRICS_LABELS_MAX];
	metrics_add(METRIC_ABUSE_EVENTS, 1,
		    metrics_labels(l, sizeof l, "event", event, NULL));
}

static void ab_alert(struct abuse_acct *a, long long now)
{
	a->state = AB_ALERTED;
	a->alerted = now;
	a->acked_by[0] = '\0';
	log_warn("abuse: alert account=%s customer=%s reason=%s spam_24h=%u "
		 "rejected_24h=%u bounced_24h=%u delivered_24h=%u "
		 "rejecting_domains=%u bounced_msgs_24h=%u "
		 "bouncing_domains=%u this_hour=%u baseline_per_hour=%.1f "
		 "suspended_at=%lld samples=%s symbols=%s", a->key,
		 *a->customer ? a->customer : "-", a->reason,
		 queue_abuse_sum(a->spam), queue_abuse_sum(a->rejected),
		 queue_abuse_sum(a->bounced), queue_abuse_sum(a->delivered),
		 queue_abuse_domains_count(a->rej_by, a->hour),
		 queue_abuse_sum(a->bounced_msgs),
		 queue_abuse_domains_count(a->bnc_by, a->hour),
		 queue_abuse_volume(a, a->hour), a->baseline,
		 now + cf.abuse_grace,
		 a->samples[(a->nsample + AB_SAMPLES - 1) % AB_SAMPLES],
		 *a->symbols ? a->symbols : "-");
	ab_metric("alert");
	a->mail_due |= AB_MAIL_ALERT;
}

/* One account's decision (the tick, under ab_mu); 1 when it changed. */
static int ab_decide(struct abuse_acct *a, long long now)
{
	const char *why;
	int over;

	queue_abuse_advance(a, now);
	why = queue_abuse_over(a, now);
	over = *why != '\0' && !queue_abuse_carried(a, ab, ab_n, now);
	if (a->state == AB_OK && over) {
		snprintf(a->reason, sizeof a->reason, "%s", why);
		ab_alert(a, now);
		return 1;
	}
	/* an overflow account names no one to suspend: alerted it stays */
	if (a->state != AB_ALERTED || now - a->alerted < cf.abuse_grace ||
	    (over && ab_is_overflow(a))) {
		if (a->state == AB_ALERTED && !*a->acked_by && over &&
		    cf.abuse_alert_every > 0 &&
		    now - a->last_mail >= cf.abuse_alert_every)
			a->mail_due |= AB_MAIL_ALERT; /* a reminder */
		return 0;
	}
	if (!over) {
		a->state = AB_OK;
		log_info("abuse: cleared account=%s customer=%s (under every "
			 "threshold when abuse_grace ended)", a->key,
			 *a->customer ? a->customer : "-");
		return 1;
	}
	a->state = AB_SUSPENDED;
	a->suspended = now;
	snprintf(a->reason, sizeof a->reason, "%s", why);
	log_warn("abuse: suspended account=%s customer=%s reason=%s "
		 "spam_24h=%u rejected_24h=%u bounced_24h=%u alerted=%lld "
		 "(still over after abuse_grace = %ld s)", a->key,
		 *a->customer ? a->customer : "-", why,
		 queue_abuse_sum(a->spam), queue_abuse_sum(a->rejected),
		 queue_abuse_sum(a->bounced), a->alerted, cf.abuse_grace);
	ab_metric("suspend");
	a->mail_due |= AB_MAIL_SUSPEND;
	ab_susp_dirty = 1;
	return 1;
}

/* Write the files when they changed (main thread; the text made under
 * ab_mu, the writes after it); a file not written is tried again at the
 * next tick.  0, or -1 when abuse/suspended was due and not written. */
static int ab_flush(int force_susp)
{
	struct abuse_text t;
	int susp, rc;

	pthread_mutex_lock(&ab_mu);
	susp = ab_susp_dirty || force_susp;
	if (!ab_dirty && !susp) {
		pthread_mutex_unlock(&ab_mu);
		return 0;
	}
	queue_abuse_text(ab, ab_n, &t);
	ab_dirty = ab_susp_dirty = 0;
	pthread_mutex_unlock(&ab_mu);
	if ((rc = queue_abuse_write(&t, susp)) < 0) {
		pthread_mutex_lock(&ab_mu);
		ab_dirty = 1;
		ab_susp_dirty |= susp;
		pthread_mutex_unlock(&ab_mu);
	}
	return rc;
}

/* Once a second, from the main thread. */
void queue_abuse_tick(void)
{
	long long now = queue_now();
	static struct abuse_acct due[32]; /* one mail's, main thread only */
	char admin[ADDR_MAX + 1];
	size_t ndue;

	if (!ab)
		return;
	queue_abuse_mail_reap();
	pthread_mutex_lock(&ab_mu);
	for (size_t i = 0; i < ab_n; i++)
		ab_dirty |= ab_decide(&ab[i], now);
	ndue = queue_abuse_mail_pick(ab, ab_n, now, due, sizeof due /
				     sizeof due[0], admin, sizeof admin);
	ab_dirty |= ndue > 0; /* last_mail kept: no reminder at a restart */
	pthread_mutex_unlock(&ab_mu);
	ab_flush(0);
	if (ndue)
		queue_abuse_mail(due, ndue, admin, now);
}

void queue_abuse_stop(void)
{
	if (ab)
		ab_flush(0);
}

/* The login relayctl names, made one word, into who. */
static void ab_who(char *who, size_t n, const char *by)
{
	snprintf(who, n, "%s", by && *by ? by : "?");
	for (char *p = who; *p; p++)
		if (*p <= ' ' || *p == '=' || *p > '~')
			*p = '_';
}

/* Lift account a (under ab_mu): a new episode to count. */
static void ab_release(struct abuse_acct *a, const char *who,
		       unsigned long uid)
{
	ab_susp_dirty |= a->state == AB_SUSPENDED;
	a->state = AB_OK;
	memset(a->spam, 0, sizeof a->spam);
	memset(a->rejected, 0, sizeof a->rejected);
	memset(a->bounced, 0, sizeof a->bounced);
	memset(a->bounced_msgs, 0, sizeof a->bounced_msgs);
	memset(a->rej_by, 0, sizeof a->rej_by);
	memset(a->bnc_by, 0, sizeof a->bnc_by);
	a->from_dev = 0;
	a->from_others = 0;
	snprintf(a->acked_by, sizeof a->acked_by, "%s/uid%lu", who, uid);
	ab_dirty = 1;
}

/* relayctl's release: the account lifted in memory (when followed) and
 * abuse/suspended rewritten whatever the state was, so that a line the
 * memory did not know of goes too; success only once the file no longer
 * names the account (relay-policy follows the file). */
static void ab_ctl_release(const char *account, const char *who,
			   unsigned long uid, struct queue_result *r)
{
	struct abuse_acct *a = NULL;
	const char *was = "not followed";
	int listed = queue_abuse_listed(account);

	pthread_mutex_lock(&ab_mu);
	for (size_t i = 0; i < ab_n && !a; i++)
		if (!strcmp(ab[i].key, account))
			a = &ab[i];
	if (a) {
		was = queue_abuse_state_name(a->state);
		/* the senders it carried: the same evidence, dealt with */
		for (size_t i = 0; i < ab_n; i++)
			if (ab[i].state == AB_OK && queue_abuse_sent_by(&ab[i], a))
				ab_release(&ab[i], who, uid);
		ab_release(a, who, uid);
	}
	pthread_mutex_unlock(&ab_mu);
	if (!a && listed <= 0) {
		snprintf(r->text, sizeof r->text, "no such account");
		return;
	}
	if (ab_flush(1) < 0 || queue_abuse_listed(account) != 0) {
		log_warn("abuse: release of account=%s by=%s uid=%lu not done: "
			 "%s still names it (tried again every second)",
			 account, who, uid, ABUSE_SUSPENDED);
		r->status = EXIT_TEMP;
		r->reason = QREASON_NONE;
		snprintf(r->text, sizeof r->text, "%.100s is still refused: %s "
			 "could not be rewritten", account, ABUSE_SUSPENDED);
		return;
	}
	log_warn("abuse: released account=%s state=%s by=%s uid=%lu",
		 account, was, who, uid);
	ab_metric("release");
	r->status = EXIT_DONE;
	r->reason = QREASON_NONE;
	snprintf(r->text, sizeof r->text, "released %.100s by %s (uid %lu)",
		 account, who, uid);
}

/* relayctl's ack or release (root, over queue.sock); the verdict in r. */
void queue_abuse_ctl(const char *action, const char *account,
		     const char *by, unsigned long uid, struct queue_result *r)
{
	struct abuse_acct *a = NULL;
	int release = action && !strcmp(action, ABUSE_WIRE_RELEASE);
	char who[64];

	memset(r, 0, sizeof *r);
	r->status = EXIT_PERM;
	r->reason = QREASON_REQUEST;
	/* the login relayctl names, then the uid the kernel names */
	ab_who(who, sizeof who, by);
	if (!action || (!release && strcmp(action, ABUSE_WIRE_ACK)) ||
	    !account || !ab || strlen(account) >= sizeof ab->key ||
	    strpbrk(account, " \n")) {
		snprintf(r->text, sizeof r->text, "bad abuse request");
		return;
	}
	if (release) {
		ab_ctl_release(account, who, uid, r);
		return;
	}
	pthread_mutex_lock(&ab_mu);
	for (size_t i = 0; i < ab_n && !a; i++)
		if (!strcasecmp(ab[i].key, account))
			a = &ab[i];
	if (!a) {
		snprintf(r->text, sizeof r->text, "no such account");
	} else {
		log_warn("abuse: acknowledged account=%s state=%s by=%s "
			 "uid=%lu", a->key, queue_abuse_state_name(a->state),
			 who, uid);
		snprintf(a->acked_by, sizeof a->acked_by, "%s/uid%lu", who, uid);
		ab_dirty = 1;
		r->status = EXIT_DONE;
		r->reason = QREASON_NONE;
		snprintf(r->text, sizeof r->text, "acknowledged %.100s by %s "
			 "(uid %lu)", a->key, who, uid);
	}
	pthread_mutex_unlock(&ab_mu);
	ab_flush(0);
}
