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
#include <time.h>

static struct queue_job *mail_jobs; /* given to the commit, not yet freed */

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

/* The message text (CRLF line ends), malloc'd. */
static char *mail_text(const struct abuse_acct *a, const char *admin,
		       int suspend, long long now)
{
	char date[64], until[64], samples[AB_SAMPLES * 65] = "", *m = NULL;
	size_t k = 0;

	date822_format(now, date, sizeof date);
	mail_time(a->alerted + cf.abuse_grace, until, sizeof until);
	for (unsigned i = 0; i < AB_SAMPLES && i < a->nsample; i++)
		k += (size_t)snprintf(samples + k, sizeof samples - k, " %s",
				      a->samples[(a->nsample - 1 - i) % AB_SAMPLES]);
	if (asprintf(&m,
		     "From: relaybox abuse monitor <postmaster@%s>\r\n"
		     "To: <%s>\r\n"
		     "Subject: [relaybox] %s: %s (customer %s)\r\n"
		     "Date: %s\r\n"
		     "Message-ID: <abuse.%lld.%s@%s>\r\n"
		     "Auto-Submitted: auto-generated\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n"
		     "\r\n"
		     "The relay %s has seen mail that looks like abuse from an\r\n"
		     "account of customer %s (%s).\r\n\r\n"
		     "  account:       %s\r\n"
		     "  spam verdicts: %u in 24 hours (threshold %ld)\r\n"
		     "  scanned:       %u in 24 hours\r\n"
		     "  refused as spam or by policy by the receivers: %u "
		     "(threshold %ld)\r\n"
		     "  bounced: %u, delivered: %u (bounce threshold %ld%%)\r\n"
		     "  samples:      %s\r\n"
		     "  symbols:       %s\r\n\r\n"
		     "%s\r\n",
		     cf.hostname, admin, suspend ? "account suspended" :
		     "abuse alert", a->key, a->customer, date, now,
		     suspend ? "suspend" : "alert", cf.hostname, cf.hostname,
		     a->customer, a->reason, a->key, queue_abuse_sum(a->spam),
		     cf.abuse_spam_max, queue_abuse_sum(a->scanned),
		     queue_abuse_sum(a->rejected), cf.abuse_reject_max,
		     queue_abuse_sum(a->bounced), queue_abuse_sum(a->delivered),
		     cf.abuse_bounce_pct,
		     *samples ? samples : " -", *a->symbols ? a->symbols : "-",
		     suspend ? "The account is now suspended: the relay refuses its mail\r\n"
			       "(550 5.7.1). Once the device or account is clean, ask the\r\n"
			       "relay's operator to lift it (relayctl abuse release)." :
			       "If this goes on, the account will be suspended at") < 0)
		return NULL;
	if (!suspend) {
		char *more = NULL;
		if (asprintf(&more, "%s\r\n%s (UTC); the other accounts of the "
			     "customer keep relaying.\r\n", m, until) < 0)
			more = NULL;
		free(m);
		m = more;
	}
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

void queue_abuse_mail(const struct abuse_acct *a, long long now)
{
	int suspend = (a->mail_due & AB_MAIL_SUSPEND) != 0;
	char admin[ADDR_MAX + 1], *text;
	struct queue_job *j;

	if (mail_admin(a->customer, admin, sizeof admin) < 0) {
		log_warn("abuse: customer %s has no admin= in relay.rules: the "
			 "%s of %s is not mailed", *a->customer ? a->customer : "-",
			 suspend ? "suspension" : "alert", a->key);
		return;
	}
	text = mail_text(a, admin, suspend, now);
	j = calloc(1, sizeof *j);
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
		log_info("abuse: %s of %s mailed to <%s> qid=%s",
			 suspend ? "suspension" : "alert", a->key, admin,
			 j->q.qid);
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
