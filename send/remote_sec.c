/* remote_sec.c: DANE (RFC 7672) and MTA-STS (RFC 8461) for deliveries to
 * MX hosts: what TLS each host must give before a message goes.
 *
 * Only an MX route under the default tls=may gets either: a fixed host
 * (a smarthost, relayhost) or a route that names its own tls= keeps it,
 * the operator's word winning over both.  DANE needs dnssec = trust_ad
 * and an MX answer the resolver validated (the AD bit); the MX host's
 * addresses and its TLSA records (_25._tcp.<mx>) must come in validated
 * answers too.
 * Where DANE applies, MTA-STS does not (RFC 8461 2). */
#include "remote.h"

#include <arpa/nameser.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "settings.h"

int remote_sec_applies(const struct remote_job *job)
{
	return !job->host[0] && job->tls == REMOTE_TLS_MAY;
}

void remote_sec_job(struct remote_job *job)
{
	job->sts_on = 0;
	if (remote_sec_applies(job) && cf.mta_sts)
		job->sts_on = remote_sts_get(job->domain,
					     remote_private_refused(job),
					     &job->sts);
}

/* One TLSA record: usage, selector, matching type, then the data. */
static int sec_tlsa_rr(ns_msg *msg, ns_rr *rr, void *arg)
{
	struct remote_sec *s = arg;
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t len = ns_rr_rdlen(*rr);
	struct tls_tlsa *t;

	(void)msg;
	if (len < 4 || len - 3 > TLS_TLSA_DATA_MAX || s->ntlsa >= REMOTE_TLSA_MAX)
		return 0; /* counted: a record is there, if not usable */
	t = &s->tlsa[s->ntlsa];
	t->usage = rd[0];
	t->selector = rd[1];
	t->mtype = rd[2];
	t->len = len - 3;
	memcpy(t->data, rd + 3, t->len);
	if (tls_tlsa_usable(t))
		s->ntlsa++;
	return 0;
}

static int sec_any_rr(ns_msg *msg, ns_rr *rr, void *arg)
{
	(void)msg;
	(void)rr;
	(void)arg;
	return 0;
}

/* RFC 7672 2.2.2: DANE only for a host whose addresses are validated
 * too (an insecure CNAME or zone on the way means no DANE). */
static int sec_addr_secure(const char *host)
{
	int secure = 0;

	if (dns_query_sec(host, ns_t_a, sec_any_rr, NULL, &secure) == DNS_OK)
		return secure;
	return dns_query_sec(host, ns_t_aaaa, sec_any_rr, NULL, &secure) ==
		       DNS_OK && secure;
}

/* DANE for t: 1 when it applies (job->sec set), 0 when not, -1 with e
 * when the TLSA lookup failed (the host is not tried: it may have
 * records we cannot see now). */
static int sec_dane(struct remote_job *job, const struct remote_target *t,
		    struct remote_err *e)
{
	char name[REMOTE_NAME_MAX + 16];
	struct remote_sec *s = &job->sec;
	int secure = 0;
	enum dns_status st;

	if (!dns_trust_ad() || !job->mx_secure || !sec_addr_secure(t->name))
		return 0;
	snprintf(name, sizeof name, "_%ld._tcp.%s", t->port, t->name);
	s->ntlsa = 0;
	st = dns_query_sec(name, ns_t_tlsa, sec_tlsa_rr, s, &secure);
	if (st == DNS_TEMP) {
		remote_err_set(e, 'T', 451, "4.7.5 DANE: TLSA lookup of %s "
			       "failed temporarily", name);
		return -1;
	}
	if (st != DNS_OK || !secure)
		return 0;
	s->kind = s->ntlsa ? REMOTE_SEC_DANE : REMOTE_SEC_DANE_TLS;
	return 1;
}

int remote_sec_target(struct remote_job *job, const struct remote_target *t,
		      struct remote_err *e)
{
	char dom[3 * REMOTE_NAME_MAX], mx[3 * REMOTE_NAME_MAX];
	int d;

	job->sec.kind = REMOTE_SEC_NONE;
	if (!remote_sec_applies(job))
		return 0;
	if ((d = sec_dane(job, t, e)) != 0)
		return d < 0 ? -1 : 0;
	if (!job->sts_on || job->sts.mode == STS_NONE)
		return 0;
	log_field(dom, sizeof dom, job->domain, strlen(job->domain));
	log_field(mx, sizeof mx, t->name, strlen(t->name));
	if (sts_mx_match(&job->sts, t->name)) {
		job->sec.kind = job->sts.mode == STS_ENFORCE
					? REMOTE_SEC_STS : REMOTE_SEC_STS_TESTING;
		return 0;
	}
	if (job->sts.mode == STS_TESTING) {
		log_info("%s: mta-sts=testing domain=%s mx=%s would fail: "
			 "MX not in the policy", job->qid, dom, mx);
		job->sec.kind = REMOTE_SEC_STS_TESTING;
		return 0;
	}
	remote_err_set(e, 'T', 451, "4.7.5 MTA-STS: MX %s is not in the "
		       "policy of %s", t->name, job->domain);
	log_info("%s: mta-sts=enforce domain=%s mx=%s refused: MX not in "
		 "the policy", job->qid, dom, mx);
	return -1;
}
