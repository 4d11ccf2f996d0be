/* queue_abuse_mail.c: the mails of abuse monitoring.  An alert or a
 * suspension is mailed to the customer's admin= (relay.rules) through
 * the relay itself: relay-queue writes the message into the queue as it
 * writes any other (queue_inject_write, then the commit thread), with
 * the null sender (a failure is never bounced) and the info field
 * abuse=alert|suspend, and relay-send delivers it like any mail.  It
 * is not scanned and not counted against the customer's limits (it never
 * passes relay-policy).  The main thread makes them; the jobs are freed
 * by the tick once the commit has answered (queue_abuse_mail_reap). */
#include "queue.h"
#include "abuse.h"
#include "addr.h"
#include "date822.h"
#include "log.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct queue_job *mail_jobs; /* given to the commit, not yet freed */

/* One mail to an admin address at most every MAIL_ADMIN_GAP seconds:
 * the accounts that come due in between wait and go together in the
 * next (a device with many accounts must not flood its admin). */
#define MAIL_ADMIN_GAP 300
#define MAIL_ADMINS 64         /* admin addresses remembered */

/* The customer's admin= from rules.cdb into out; 0, or -1 when none. */
static int mail_admin(const char *customer, char *out, size_t n)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	if (!*customer)
		return -1;
	snprintf(key, sizeof key, "customer:%s", customer);
	if (rcdb_gets(queue_rules(), key, val, sizeof val) < 0 ||
	    rk_get(val, RK_CUST_ADMIN, out, n) != 1 ||
	    addr_mailbox_check(out, 0) != ADDR_OK)
		return -1;
	return 0;
}

static void mail_time(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What comes of the account next, one sentence. */
static void mail_outlook(const struct abuse_acct *a, char *out, size_t n)
{
	char until[64];

	if (a->mail_due & AB_MAIL_SUSPEND) {
		snprintf(out, n, "Now suspended: the relay refuses its mail "
			 "(550 5.7.1) until the relay's operator lifts it "
			 "(relayctl abuse release).");
	} else if (!strncmp(a->key, ABUSE_KIND_OVERFLOW ":",
			    strlen(ABUSE_KIND_OVERFLOW) + 1)) {
		snprintf(out, n, "The customer's new accounts beyond its share "
			 "of the relay's, counted together: never suspended "
			 "by the relay, ask its operator.");
	} else {
		mail_time(a->alerted + cf.abuse_grace, until, sizeof until);
		snprintf(out, n, "If this goes on, it will be suspended at %s "
			 "(UTC); the customer's other accounts keep relaying.",
			 until);
	}
}

/* The evidence of one account, its block of the mail (CRLF line
 * ends), malloc'd. */
static char *mail_block(const struct abuse_acct *a)
{
	char samples[AB_SAMPLES * 65] = "", outlook[256], *m = NULL;
	size_t k = 0;

	for (unsigned i = 0; i < AB_SAMPLES && i < a->nsample; i++)
		k += (size_t)snprintf(samples + k, sizeof samples - k, " %s",
				      a->samples[(a->nsample - 1 - i) % AB_SAMPLES]);
	mail_outlook(a, outlook, sizeof outlook);
	if (asprintf(&m,
		     "%s: %s\r\n"
		     "  customer:      %s (%s)\r\n"
		     "  spam verdicts: %u in 24 hours (threshold %ld)\r\n"
		     "  scanned:       %u in 24 hours\r\n"
		     "  refused as spam or by policy by the receivers: %u "
		     "(threshold %ld)\r\n"
		     "  bounced: %u recipients, %u counting each message "
		     "and domain once, from %u domains;\r\n"
		     "  delivered: %u (bounce threshold %ld%%)\r\n"
		     "  samples:      %s\r\n"
		     "  symbols:       %s\r\n"
		     "  %s\r\n\r\n",
		     a->mail_due & AB_MAIL_SUSPEND ? "account suspended" :
		     "abuse alert", a->key, a->customer, a->reason,
		     queue_abuse_sum(a->spam), cf.abuse_spam_max,
		     queue_abuse_sum(a->scanned), queue_abuse_sum(a->rejected),
		     cf.abuse_reject_max, queue_abuse_sum(a->bounced),
		     queue_abuse_sum(a->bounced_msgs),
		     queue_abuse_domains_count(a->bnc_by, a->hour),
		     queue_abuse_sum(a->delivered), cf.abuse_bounce_pct,
		     *samples ? samples : " -", *a->symbols ? a->symbols : "-",
		     outlook) < 0)
		return NULL;
	return m;
}

/* The message text (CRLF line ends): one block per account, malloc'd. */
static char *mail_text(const struct abuse_acct *a, size_t n,
		       const char *admin, long long now)
{
	char date[64], subject[ABUSE_KEY_MAX + 128], *m = NULL, *body = NULL;
	int suspend = 0;

	for (size_t i = 0; i < n; i++) {
		char *b = mail_block(&a[i]), *more = NULL;
		if (!b || asprintf(&more, "%s%s", body ? body : "", b) < 0)
			more = NULL;
		free(b);
		free(body);
		if (!(body = more))
			return NULL;
		suspend |= (a[i].mail_due & AB_MAIL_SUSPEND) != 0;
	}
	if (n == 1)
		snprintf(subject, sizeof subject, "%s: %s (customer %s)",
			 suspend ? "account suspended" : "abuse alert",
			 a[0].key, a[0].customer);
	else
		snprintf(subject, sizeof subject, "abuse: %zu accounts%s "
			 "(customer %s%s)", n, suspend ? ", suspensions among "
			 "them" : "", a[0].customer, n > 1 ? " and others" : "");
	date822_format(now, date, sizeof date);
	if (asprintf(&m,
		     "From: relaybox abuse monitor <postmaster@%s>\r\n"
		     "To: <%s>\r\n"
		     "Subject: [relaybox] %s\r\n"
		     "Date: %s\r\n"
		     "Message-ID: <abuse.%lld.%s@%s>\r\n"
		     "Auto-Submitted: auto-generated\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n"
		     "\r\n"
		     "The relay %s has seen mail that looks like abuse from\r\n"
		     "%s of your customers' accounts. At most one such mail goes\r\n"
		     "to an address every %d seconds: what came in between is\r\n"
		     "in the next.\r\n\r\n%s",
		     cf.hostname, admin, subject, date, now,
		     suspend ? "suspend" : "alert", cf.hostname, cf.hostname,
		     n == 1 ? "one" : "these", MAIL_ADMIN_GAP, body) < 0)
		m = NULL;
	free(body);
	return m;
}

/* The envelope: null sender, the admin, abuse=alert|suspend. */
static int mail_env(struct queue_job *j, const char *admin, int suspend)
{
	size_t n = strlen(admin);

	j->envcap = n + 64;
	if (!(j->env = malloc(j->envcap)))
		return -1;
	j->envlen = (size_t)snprintf(j->env, j->envcap, "Iabuse=%s%cF%cT%s%c%c",
				     suspend ? "suspend" : "alert", 0, 0, admin,
				     0, 0);
	return 0;
}

/* When each admin address was last mailed (the newest MAIL_ADMINS). */
static struct {
	char addr[ADDR_MAX + 1];
	long long last;
} mailed[MAIL_ADMINS];

static long long admin_last(const char *addr)
{
	for (size_t i = 0; i < MAIL_ADMINS; i++)
		if (!strcasecmp(mailed[i].addr, addr))
			return mailed[i].last;
	return 0;
}

static void admin_mark(const char *addr, long long now)
{
	size_t old = 0;

	for (size_t i = 0; i < MAIL_ADMINS; i++) {
		if (!strcasecmp(mailed[i].addr, addr)) {
			old = i;
			break;
		}
		if (mailed[i].last < mailed[old].last)
			old = i;
	}
	snprintf(mailed[old].addr, sizeof mailed[old].addr, "%s", addr);
	mailed[old].last = now;
}

size_t queue_abuse_mail_pick(struct abuse_acct *a, size_t n, long long now,
			     struct abuse_acct *out, size_t max,
			     char *admin, size_t an)
{
	char adm[ADDR_MAX + 1];
	size_t k = 0;

	admin[0] = '\0';
	for (size_t i = 0; i < n && k < max; i++) {
		if (!a[i].mail_due)
			continue;
		if (mail_admin(a[i].customer, adm, sizeof adm) < 0) {
			log_warn("abuse: customer %s has no admin= in "
				 "relay.rules: the %s of %s is not mailed",
				 *a[i].customer ? a[i].customer : "-",
				 a[i].mail_due & AB_MAIL_SUSPEND ? "suspension"
				 : "alert", a[i].key);
			a[i].mail_due = 0;
			a[i].last_mail = now;
			continue;
		}
		if (*admin ? strcasecmp(adm, admin) != 0
			   : now - admin_last(adm) < MAIL_ADMIN_GAP)
			continue; /* another's turn, or mailed a moment ago */
		if (!*admin)
			snprintf(admin, an, "%s", adm);
		out[k++] = a[i];
		a[i].mail_due = 0;
		a[i].last_mail = now;
	}
	if (k)
		admin_mark(admin, now);
	return k;
}

void queue_abuse_mail(const struct abuse_acct *a, size_t n,
		      const char *admin, long long now)
{
	char *text = mail_text(a, n, admin, now);
	struct queue_job *j = calloc(1, sizeof *j);
	int suspend = 0;

	for (size_t i = 0; i < n; i++)
		suspend |= (a[i].mail_due & AB_MAIL_SUSPEND) != 0;
	if (!text || !j) {
		free(text);
		free(j);
		return;
	}
	queue_job_init(j, -1, -1);
	if (queue_spool_add(&j->sp, text, strlen(text)) < 0 ||
	    mail_env(j, admin, suspend) < 0 || queue_inject_write(j) < 0) {
		log_warn("abuse: the %s mail to <%s> was not queued: %s",
			 suspend ? "suspension" : "alert", admin, j->r.text);
		queue_job_free(j);
		free(j);
	} else {
		for (size_t i = 0; i < n; i++)
			log_info("abuse: %s of %s mailed to <%s> qid=%s",
				 a[i].mail_due & AB_MAIL_SUSPEND ? "suspension"
				 : "alert", a[i].key, admin, j->q.qid);
		j->incommit = 1;
		j->owner = mail_jobs; /* the reap list (the commit uses next) */
		mail_jobs = j;
		queue_commit_add(j, 0);
	}
	free(text);
}

void queue_abuse_mail_reap(void)
{
	struct queue_job **pp = &mail_jobs;

	while (*pp) {
		struct queue_job *j = *pp;
		if (!queue_commit_done(j, 0)) {
			pp = (struct queue_job **)&j->owner;
			continue;
		}
		*pp = j->owner;
		queue_job_free(j);
		free(j);
	}
}
