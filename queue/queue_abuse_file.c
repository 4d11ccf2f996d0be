/* queue_abuse_file.c: abuse/accounts and abuse/suspended (lib/abuse.h),
 * written by relay-queue alone, each replaced for good (lib/susp.h
 * susp_write_atomic: fsync'd, renamed, the folder fsync'd).  The
 * accounts file is the evidence relayctl shows and what a restarted
 * relay-queue starts from: a 24-hour count comes back as one bucket of
 * the hour of the start (an approximation: it leaves the window up to a
 * day late, never early).  The suspended file is what relay-policy
 * enforces: at start each of its lines is a suspended account, whatever
 * the accounts file says and however many accounts there are, so a
 * restart never lifts a suspension. */
#include "queue.h"
#include "abuse.h"
#include "log.h"
#include "susp.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* accounts is 0600: its user names and device addresses are for root's
 * relayctl alone (relay-metrics hides them from the unauthenticated);
 * suspended is 0644, for relay-policy. */
static int file_replace(const char *rel, const char *text, size_t len,
			mode_t mode)
{
	static long long last_warn;
	char path[PATH_MAX];

	settings_path(path, sizeof path, rel);
	if (susp_write_atomic(path, text, len, mode) == 0)
		return 0;
	if (queue_now() - last_warn >= 60) { /* retried every second */
		last_warn = queue_now();
		log_warn("abuse: cannot write %s: %s", path, strerror(errno));
	}
	return -1;
}

/* line after what *buf holds; a line that cannot be kept fails the
 * whole text (a file short of a line would lift a suspension). */
static void add_line(struct abuse_buf *b, const char *line)
{
	size_t n = strlen(line);
	char *p;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = (b->cap + n + 1) * 2;
		if (!(p = realloc(b->text, nc))) {
			b->failed = 1;
			return;
		}
		b->text = p;
		b->cap = nc;
	}
	memcpy(b->text + b->len, line, n + 1);
	b->len += n;
}

/* The hourly counts b[] as ABUSE_F_*_H says: ages from hour. */
static void hours_text(const unsigned *b, long long hour, char *out,
		       size_t n)
{
	size_t k = 0;

	out[0] = '\0';
	for (int age = 0; age < 24 && k < n; age++) {
		unsigned v = b[((hour - age) % 24 + 24) % 24];
		if (v)
			k += (size_t)snprintf(out + k, n - k, "%s%d:%u",
					      k ? "," : "", age, v);
	}
	if (!k)
		snprintf(out, n, "-");
}

static void samples_text(const struct abuse_acct *a, char *out, size_t n)
{
	size_t k = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < AB_SAMPLES && i < a->nsample; i++) {
		const char *s = a->samples[(a->nsample - 1 - i) % AB_SAMPLES];
		k += (size_t)snprintf(out + k, n - k, "%s%s", k ? "," : "", s);
		if (k >= n)
			break;
	}
}

/* " hour=H spam_hours=... ...\n" at out (over the line's "\n"): the
 * length added, or n when it does not fit. */
static int hours_line(const struct abuse_acct *a, char *out, size_t n)
{
	const struct { const char *f; const unsigned *b; } c[] = {
		{ ABUSE_F_SPAM_H, a->spam }, { ABUSE_F_SCANNED_H, a->scanned },
		{ ABUSE_F_DELIVERED_H, a->delivered },
		{ ABUSE_F_BOUNCED_H, a->bounced },
		{ ABUSE_F_REJECTED_H, a->rejected },
		{ ABUSE_F_BOUNCED_MSGS_H, a->bounced_msgs },
	};
	const struct { const char *f; const struct abuse_domain *l; } d[] = {
		{ ABUSE_F_REJECTED_BY, a->rej_by },
		{ ABUSE_F_BOUNCED_BY, a->bnc_by },
	};
	char h[ABUSE_REJECT_DOMAINS * (ABUSE_DOMAIN_MAX + 4)];
	size_t k = (size_t)snprintf(out, n, " %s=%u %s=%lld",
				    ABUSE_F_BOUNCED_MSGS,
				    queue_abuse_sum(a->bounced_msgs),
				    ABUSE_F_HOUR, a->hour);

	for (size_t i = 0; i < sizeof c / sizeof c[0] && k < n; i++) {
		hours_text(c[i].b, a->hour, h, sizeof h);
		k += (size_t)snprintf(out + k, n - k, " %s=%s", c[i].f, h);
	}
	for (size_t i = 0; i < sizeof d / sizeof d[0] && k < n; i++) {
		queue_abuse_domains_text(d[i].l, a->hour, h, sizeof h);
		k += (size_t)snprintf(out + k, n - k, " %s=%s", d[i].f, h);
	}
	queue_abuse_from_text(a, h, sizeof h);
	if (k < n)
		k += (size_t)snprintf(out + k, n - k, "%s", h);
	if (k < n)
		k += (size_t)snprintf(out + k, n - k, "\n");
	return k < n ? (int)k - 1 : (int)n;
}

void queue_abuse_text(const struct abuse_acct *a, size_t n,
		      struct abuse_text *t)
{
	char line[ABUSE_LINE_MAX], samples[AB_SAMPLES * 65];
	int l;

	memset(t, 0, sizeof *t);
	add_line(&t->accounts, ABUSE_MAGIC "\n");
	for (size_t i = 0; i < n; i++) {
		samples_text(&a[i], samples, sizeof samples);
		l = snprintf(line, sizeof line, "%s=%s %s=%s %s=%s %s=%s %s=%u %s=%u "
			 "%s=%u %s=%u %s=%u %s=%.2f %s=%lld %s=%lld %s=%lld "
			 "%s=%s %s=%s %s=%s %s=%lld\n",
			 ABUSE_F_ACCOUNT, a[i].key, ABUSE_F_CUSTOMER,
			 *a[i].customer ? a[i].customer : "-", ABUSE_F_STATE,
			 queue_abuse_state_name(a[i].state), ABUSE_F_REASON,
			 *a[i].reason ? a[i].reason : "-",
			 ABUSE_F_SPAM, queue_abuse_sum(a[i].spam),
			 ABUSE_F_SCANNED, queue_abuse_sum(a[i].scanned),
			 ABUSE_F_DELIVERED, queue_abuse_sum(a[i].delivered),
			 ABUSE_F_BOUNCED, queue_abuse_sum(a[i].bounced),
			 ABUSE_F_REJECTED, queue_abuse_sum(a[i].rejected),
			 ABUSE_F_BASELINE, a[i].baseline, ABUSE_F_SINCE,
			 a[i].since, ABUSE_F_ALERTED, a[i].alerted, ABUSE_F_SUSPENDED,
			 a[i].suspended, ABUSE_F_ACKED,
			 *a[i].acked_by ? a[i].acked_by : "-",
			 ABUSE_F_SAMPLES, *samples ? samples : "-",
			 ABUSE_F_SYMBOLS, *a[i].symbols ? a[i].symbols : "-",
			 ABUSE_F_MAILED, a[i].last_mail);
		if (l > 0 && (size_t)l < sizeof line)
			l += hours_line(&a[i], line + l - 1, sizeof line -
					(size_t)l + 1);
		if (l < 0 || (size_t)l >= sizeof line)
			t->accounts.failed = 1;
		add_line(&t->accounts, line);
		if (a[i].state != AB_SUSPENDED)
			continue;
		if (abuse_susp_line(line, sizeof line, a[i].key) < 0)
			t->suspended.failed = 1;
		add_line(&t->suspended, line);
	}
}

int queue_abuse_write(struct abuse_text *t, int susp)
{
	int rc = 0;

	/* suspended first: it is what relay-policy enforces */
	if (susp && (t->suspended.failed ||
		     file_replace(ABUSE_SUSPENDED, t->suspended.text ?
				  t->suspended.text : "", t->suspended.len,
				  0644) < 0))
		rc = -1;
	if (t->accounts.failed || file_replace(ABUSE_ACCOUNTS,
					       t->accounts.text,
					       t->accounts.len, 0600) < 0)
		rc = -1;
	free(t->accounts.text);
	free(t->suspended.text);
	memset(t, 0, sizeof *t);
	return rc;
}

/* One word "key=value" of a line into a (what the file keeps). */
static void load_word(struct abuse_acct *a, const char *k, const char *v)
{
	if (!strcmp(k, ABUSE_F_ACCOUNT))
		snprintf(a->key, sizeof a->key, "%s", v);
	else if (!strcmp(k, ABUSE_F_CUSTOMER) && strcmp(v, "-"))
		snprintf(a->customer, sizeof a->customer, "%s", v);
	else if (!strcmp(k, ABUSE_F_STATE))
		a->state = !strcmp(v, "suspended") ? AB_SUSPENDED :
			   !strcmp(v, "alerted") ? AB_ALERTED : AB_OK;
	else if (!strcmp(k, ABUSE_F_SPAM))
		a->spam[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_SCANNED))
		a->scanned[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_DELIVERED))
		a->delivered[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_BOUNCED))
		a->bounced[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_REJECTED))
		a->rejected[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_BOUNCED_MSGS))
		a->bounced_msgs[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_BASELINE))
		a->baseline = strtod(v, NULL);
	else if (!strcmp(k, ABUSE_F_SINCE))
		a->since = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_REASON) && strcmp(v, "-"))
		snprintf(a->reason, sizeof a->reason, "%s", v);
	else if (!strcmp(k, ABUSE_F_ALERTED))
		a->alerted = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_SUSPENDED))
		a->suspended = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_MAILED))
		a->last_mail = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_ACKED) && strcmp(v, "-"))
		snprintf(a->acked_by, sizeof a->acked_by, "%s", v);
	else if (!strcmp(k, ABUSE_F_SYMBOLS) && strcmp(v, "-"))
		snprintf(a->symbols, sizeof a->symbols, "%s", v);
}

/* A new slot at the end of *a (*n of *cap used), grown when full. */
static struct abuse_acct *acct_room(struct abuse_acct **a, size_t *n,
				    size_t *cap)
{
	struct abuse_acct *p;

	if (*n == *cap) {
		size_t nc = *cap + *cap / 8 + 16;
		if (!(p = realloc(*a, nc * sizeof *p)))
			return NULL;
		*a = p;
		*cap = nc;
	}
	memset(&(*a)[*n], 0, sizeof **a);
	return &(*a)[(*n)++];
}

/* The hourly counts of a line (ABUSE_F_HOUR and ABUSE_F_*_H). */
struct load_hours {
	long long hour;               /* 0: none, a file from before */
	const char *v[6];             /* spam, scanned, delivered, bounced,
					 rejected, bounced_msgs: the words'
					 values */
	const char *rej_by, *bnc_by;  /* ABUSE_F_REJECTED_BY's, _BOUNCED_ */
	const char *from_dev, *from_others; /* ABUSE_F_FROM_* */
};

static int hours_word(struct load_hours *h, const char *k, const char *v)
{
	static const char *const f[6] = {
		ABUSE_F_SPAM_H, ABUSE_F_SCANNED_H, ABUSE_F_DELIVERED_H,
		ABUSE_F_BOUNCED_H, ABUSE_F_REJECTED_H, ABUSE_F_BOUNCED_MSGS_H,
	};

	if (!strcmp(k, ABUSE_F_REJECTED_BY)) {
		h->rej_by = v;
		return 1;
	}
	if (!strcmp(k, ABUSE_F_BOUNCED_BY)) {
		h->bnc_by = v;
		return 1;
	}
	if (!strcmp(k, ABUSE_F_FROM_DEVICE)) {
		h->from_dev = v;
		return 1;
	}
	if (!strcmp(k, ABUSE_F_FROM_OTHERS)) {
		h->from_others = v;
		return 1;
	}
	if (!strcmp(k, ABUSE_F_HOUR)) {
		h->hour = strtoll(v, NULL, 10);
		return 1;
	}
	for (int i = 0; i < 6; i++)
		if (!strcmp(k, f[i])) {
			h->v[i] = v;
			return 1;
		}
	return 0;
}

/* "AGE:N,..." into b[], the bucket of AGE hours before hour. */
static void hours_load(unsigned *b, const char *v, long long hour)
{
	memset(b, 0, 24 * sizeof *b);
	while (v && *v && *v != '-') {
		char *e;
		long age = strtol(v, &e, 10);
		unsigned long n;
		if (*e != ':' || age < 0 || age > 23)
			return;
		n = strtoul(e + 1, &e, 10);
		b[((hour - age) % 24 + 24) % 24] = (unsigned)n;
		v = *e == ',' ? e + 1 : NULL;
	}
}

/* One line of abuse/accounts into r; 0, or -1 when it names no account.
 * With the hourly counts each comes back in its own hour; without (a
 * file from before), the sums count in the hour of the start. */
static int load_line(struct abuse_acct *r, char *line, long long now)
{
	struct load_hours h = { 0 };
	char *save = NULL;

	memset(r, 0, sizeof *r);
	r->hour = now / 3600;
	r->last_seen = r->since = now;
	for (char *w = strtok_r(line, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(w, '=');
		if (eq) {
			*eq = '\0';
			if (!hours_word(&h, w, eq + 1))
				load_word(r, w, eq + 1);
		}
	}
	if (h.hour > 0 && h.hour <= now / 3600 + 24) {
		r->hour = h.hour;
		hours_load(r->spam, h.v[0], h.hour);
		hours_load(r->scanned, h.v[1], h.hour);
		hours_load(r->delivered, h.v[2], h.hour);
		hours_load(r->bounced, h.v[3], h.hour);
		hours_load(r->rejected, h.v[4], h.hour);
		hours_load(r->bounced_msgs, h.v[5], h.hour);
		queue_abuse_domains_load(r->rej_by, h.rej_by, h.hour);
		queue_abuse_domains_load(r->bnc_by, h.bnc_by, h.hour);
		queue_abuse_from_load(r, h.from_dev, h.from_others, h.hour);
	}
	return r->key[0] ? 0 : -1;
}

/* abuse/accounts into *a: every account up to max, and every suspended
 * one past it.  0, or -1 when out of memory. */
static int load_accounts(struct abuse_acct **a, size_t *n, size_t *cap,
			 size_t max, long long now)
{
	char path[PATH_MAX], line[ABUSE_LINE_MAX];
	struct abuse_acct r, *slot;
	size_t dropped = 0;
	FILE *f;

	settings_path(path, sizeof path, ABUSE_ACCOUNTS);
	if (!(f = fopen(path, "re")))
		return 0;
	if (!fgets(line, sizeof line, f) || strncmp(line, ABUSE_MAGIC,
						    strlen(ABUSE_MAGIC))) {
		log_warn("abuse: %s: not an accounts file, ignored", path);
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof line, f)) {
		if (load_line(&r, line, now) < 0)
			continue;
		if (*n >= max && r.state != AB_SUSPENDED) {
			dropped++;
			continue;
		}
		if (!(slot = acct_room(a, n, cap))) {
			fclose(f);
			return -1;
		}
		*slot = r;
	}
	fclose(f);
	if (*n)
		log_info("abuse: %zu accounts read from %s", *n, path);
	if (dropped)
		log_warn("abuse: %zu accounts of %s past abuse_accounts_max = "
			 "%zu not followed (none of them suspended)", dropped,
			 path, max);
	return 0;
}

/* The account a line "kind name" of abuse/suspended suspends, made
 * suspended in *a (added when missing).  1 when that changed anything,
 * 0 when it was so, -1 when out of memory. */
static int load_suspended_line(struct abuse_acct **a, size_t *n,
			       size_t *cap, const char *line, size_t len,
			       long long now)
{
	char key[sizeof (*a)->key], kind[16];
	const char *sp = memchr(line, ' ', len), *name;
	struct abuse_acct *r = NULL;

	if (!sp || (size_t)(sp - line) >= sizeof kind || len >= sizeof key)
		return 0;
	snprintf(key, sizeof key, "%.*s:%.*s", (int)(sp - line), line,
		 (int)(len - (size_t)(sp - line) - 1), sp + 1);
	if (abuse_split(key, kind, sizeof kind, &name) < 0 || strchr(name, ' '))
		return 0;
	for (size_t i = 0; i < *n && !r; i++)
		if (!strcasecmp((*a)[i].key, key))
			r = &(*a)[i];
	if (r && r->state == AB_SUSPENDED)
		return 0;
	log_warn("abuse: account=%s suspended by %s (%s %s%s)", key,
		 ABUSE_SUSPENDED, ABUSE_ACCOUNTS, r ? "said " : "had nothing",
		 r ? queue_abuse_state_name(r->state) : "");
	if (!r) {
		if (!(r = acct_room(a, n, cap)))
			return -1;
		snprintf(r->key, sizeof r->key, "%s", key);
		r->hour = now / 3600;
		r->last_seen = r->since = now;
	}
	r->state = AB_SUSPENDED;
	if (!r->suspended)
		r->suspended = now;
	return 1;
}

/* Every line of abuse/suspended is a suspended account in *a.  The
 * number of accounts changed, or -1 when out of memory. */
static int load_suspended(struct abuse_acct **a, size_t *n, size_t *cap,
			  long long now)
{
	char path[PATH_MAX];
	struct susp s;
	int changed = 0, rc;

	settings_path(path, sizeof path, ABUSE_SUSPENDED);
	if (susp_init(&s, path) < 0)
		return -1;
	for (const char *p = s.data; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((rc = load_suspended_line(a, n, cap, p, len, now)) < 0) {
			susp_free(&s);
			return -1;
		}
		changed += rc;
		p = e ? e + 1 : NULL;
	}
	susp_free(&s);
	return changed;
}

int queue_abuse_load(struct abuse_acct **a, size_t *n, size_t *cap,
		     size_t max, long long now)
{
	*n = 0;
	if (load_accounts(a, n, cap, max, now) < 0)
		return -1;
	return load_suspended(a, n, cap, now);
}

int queue_abuse_listed(const char *account)
{
	char path[PATH_MAX], kind[16];
	const char *name;
	struct susp s;
	int hit;

	if (abuse_split(account, kind, sizeof kind, &name) < 0)
		return 0;
	settings_path(path, sizeof path, ABUSE_SUSPENDED);
	if (susp_init(&s, path) < 0)
		return -1;
	hit = susp_has(&s, kind, name);
	susp_free(&s);
	return hit;
}
