/* remote_mx.c: where a job goes.  A fixed host (a route or relayhost)
 * is tried alone on its port; otherwise the MX records of the domain in
 * preference order, equal preferences shuffled (RFC 5321 5.1), the
 * domain itself when it has no MX (the implicit MX), and nothing at all
 * for a null MX (RFC 7505).  An MX record that names an address is not
 * used (RFC 5321 5.1).  An internationalised domain is looked up by its
 * A-label (RFC 6531 3.2). */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idna.h"
#include "log.h"
#include "settings.h"

void remote_mx_order(struct remote_mx *mx, size_t n,
		     unsigned (*rnd)(void *arg), void *arg)
{
	/* insertion sort: n is small and the sort is stable */
	for (size_t i = 1; i < n; i++) {
		struct remote_mx t = mx[i];
		size_t j = i;
		for (; j > 0 && mx[j - 1].pref > t.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = t;
	}
	/* Fisher-Yates inside each run of equal preference */
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && mx[hi].pref == mx[lo].pref; hi++)
			;
		for (size_t i = hi - 1; i > lo; i--) {
			size_t j = lo + rnd(arg) % (i - lo + 1);
			struct remote_mx t = mx[i];
			mx[i] = mx[j];
			mx[j] = t;
		}
	}
}

int remote_mx_null(struct remote_mx *mx, size_t *n)
{
	size_t o = 0, nulls = 0;

	for (size_t i = 0; i < *n; i++) {
		if (mx[i].name[0] == '\0') {
			nulls++;
			continue;
		}
		mx[o++] = mx[i];
	}
	*n = o;
	return nulls > 0 && o == 0;
}

static unsigned mx_rand(void *arg)
{
	(void)arg;
	return (unsigned)random();
}

/* Drop the records whose exchange is an address ("192.0.2.1",
 * "[192.0.2.1]"), each with a warning: RFC 5321 5.1 wants a domain name
 * there, and Postfix does not use them either.  The address is never
 * connected to: a domain's DNS does not choose an address outright. */
static void mx_drop_numeric(const struct remote_job *job, struct remote_mx *mx,
			    size_t *n)
{
	char dom[3 * REMOTE_NAME_MAX], name[3 * REMOTE_NAME_MAX];
	size_t o = 0;

	for (size_t i = 0; i < *n; i++) {
		if (!remote_dns_is_literal(mx[i].name)) {
			mx[o++] = mx[i];
			continue;
		}
		log_warn("%s: numeric domain name in MX record of %s: %s: "
			 "not used (an MX names a host, RFC 5321 5.1)", job->qid,
			 log_field(dom, sizeof dom, job->domain,
				   strlen(job->domain)),
			 log_field(name, sizeof name, mx[i].name,
				   strlen(mx[i].name)));
	}
	*n = o;
}

/* The MX answer turned into targets, or -1 with results set. */
static int mx_lookup(struct remote_job *job, struct remote_target *t,
		     size_t max, size_t *n)
{
	struct remote_mx mx[REMOTE_MX_MAX];
	size_t nmx = 0;
	enum dns_status s = remote_dns_mx_sec(job->domain, mx, REMOTE_MX_MAX,
					      &nmx, &job->mx_secure);

	if (s == DNS_NXDOMAIN) {
		remote_job_fail_pending(job, 'B', 550,
		    "5.1.2 domain not found (NXDOMAIN)");
		return -1;
	}
	if (s == DNS_TEMP) {
		remote_job_fail_pending(job, 'T', 451,
		    "4.4.3 DNS lookup of the MX failed temporarily");
		return -1;
	}
	if (s == DNS_BADDATA) { /* never the implicit MX (RFC 5321 5.1) */
		remote_job_fail_pending(job, 'T', 451,
		    "4.4.3 malformed MX records in the DNS answer");
		return -1;
	}
	if (s == DNS_NODATA) { /* implicit MX: the domain itself */
		nmx = 1;
		mx[0].pref = 0;
		snprintf(mx[0].name, sizeof mx[0].name, "%s", job->domain);
	} else if (remote_mx_null(mx, &nmx)) {
		remote_job_fail_pending(job, 'B', 556,
		    "5.1.10 domain accepts no mail (null MX)");
		return -1;
	} else if (mx_drop_numeric(job, mx, &nmx), nmx == 0) {
		/* as malformed records: deferred, never the domain's A */
		remote_job_fail_pending(job, 'T', 451,
		    "4.4.3 no usable MX record: they name addresses, not "
		    "hosts (RFC 5321 5.1)");
		return -1;
	}
	remote_mx_order(mx, nmx, mx_rand, NULL);
	for (size_t i = 0; i < nmx && *n < max; i++) {
		snprintf(t[*n].name, sizeof t[*n].name, "%s", mx[i].name);
		t[*n].pref = mx[i].pref;
		t[(*n)++].port = cf.smtp_port;
	}
	return 0;
}

/* The job's domain replaced by its A-label, the name the DNS holds:
 * the MX lookup, MTA-STS, DANE and TLS-RPT all go by it from here on
 * (the RCPT keeps the address as written).  -1 with results set when
 * it has none: a name IDNA refuses never gets one (5.1.2, a bounce). */
static int mx_domain_alabel(struct remote_job *job)
{
	char a[REMOTE_NAME_MAX], text[200];
	const char *why;
	enum idna_status st = idna_alabel(job->domain, a, sizeof a, &why);

	if (st == IDNA_OK) {
		snprintf(job->domain, sizeof job->domain, "%s", a);
		return 0;
	}
	snprintf(text, sizeof text, "%s domain name has no A-label (IDNA: %s)",
		 st == IDNA_TEMP ? "4.3.0" : "5.1.2", why);
	remote_job_fail_pending(job, st == IDNA_TEMP ? 'T' : 'B',
				st == IDNA_TEMP ? 451 : 550, text);
	return -1;
}

int remote_mx_targets(struct remote_job *job, struct remote_target *t,
		      size_t max, size_t *n)
{
	size_t hl = strlen(job->host);

	*n = 0;
	if (job->host[0]) {
		/* "[name]" (qmail/Postfix: no MX lookup) is just the name */
		if (hl > 2 && job->host[0] == '[' && job->host[hl - 1] == ']' &&
		    !remote_dns_is_literal(job->host))
			snprintf(t[0].name, sizeof t[0].name, "%.*s",
				 (int)(hl - 2), job->host + 1);
		else
			snprintf(t[0].name, sizeof t[0].name, "%s", job->host);
		t[0].port = job->port ? job->port : cf.smtp_port;
		t[0].pref = 0;
		*n = 1;
		return 0;
	}
	if (mx_domain_alabel(job) < 0)
		return -1;
	return mx_lookup(job, t, max, n);
}
