/* remote_deliver.c: one job.  The hosts from remote_mx_targets are tried
 * in order; for each, a cached connection when one matches, else each of
 * its addresses (at most REMOTE_TRIES_MAX connection attempts per job).
 * A failure before the transaction (connect, greeting, EHLO, TLS, AUTH)
 * moves on to the next address or host; once a transaction ran, its
 * replies are the results.  When nothing worked the recipients get the
 * most useful failure seen: temporary ones win over permanent ones, since
 * another try may reach a host that is down now. */
#include "remote.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ipaddr.h"
#include "listen_addr.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"

static void deliver_merge(struct remote_err *last, const struct remote_err *e)
{
	if (!last->code || e->status == 'T' || last->status == 'B')
		*last = *e;
}

static void deliver_relay(struct remote_job *job, const struct remote_conn *c)
{
	snprintf(job->relay, sizeof job->relay, "%s[%s]:%ld", c->host, c->ip,
		 c->port);
	snprintf(job->tlsdesc, sizeof job->tlsdesc, "%s",
		 c->tlsdesc[0] ? c->tlsdesc : "none");
}

/* Run the transaction on c; -1 when a cached c was dead (c is gone).
 * c is kept in job->keep, cached only after the result is sent
 * (remote_deliver_keep): no other job runs meanwhile. */
static int deliver_on(struct remote_job *job, struct remote_conn *c,
		      struct remote_qfile *q, int cached)
{
	deliver_relay(job, c);
	if (remote_txn_run(c, job, q, cached) == REMOTE_TXN_STALE) {
		remote_conn_close(c, 0);
		return -1;
	}
	remote_deliver_keep(job); /* one transaction a job: none there */
	job->keep = c;
	return 0;
}

/* TLS-RPT: the result of the first session with a host that DANE or
 * MTA-STS governed (a plaintext retry under testing is not another). */
static void deliver_tlsrpt(struct remote_job *job, const struct remote_conn *c,
			   enum remote_sess s)
{
	struct tlsrpt_rec *r;

	/* a failure that was not about TLS (greeting, EHLO) is no result */
	if (!cf.tls_rpt || job->sec.kind == REMOTE_SEC_NONE ||
	    (s != REMOTE_SESS_OK && !c->rpt_fail) ||
	    job->nrpt >= sizeof job->rpt / sizeof job->rpt[0])
		return;
	r = &job->rpt[job->nrpt];
	snprintf(r->domain, sizeof r->domain, "%s", job->domain);
	snprintf(r->policy, sizeof r->policy, "%s",
		 job->sec.kind == REMOTE_SEC_DANE ||
		 job->sec.kind == REMOTE_SEC_DANE_TLS ? "tlsa" : "sts");
	snprintf(r->result, sizeof r->result, "%s",
		 c->rpt_fail ? c->rpt_fail : "success");
	snprintf(r->mx, sizeof r->mx, "%s", c->host);
	snprintf(r->ip, sizeof r->ip, "%s", c->ip);
	r->detail[0] = '\0';
	if (strcmp(r->policy, "sts") == 0) { /* the policy, for the report */
		size_t o = (size_t)snprintf(r->detail, sizeof r->detail, "%s,%ld",
					    sts_mode_name(job->sts.mode),
					    job->sts.max_age);
		/* the patterns that fit whole: a cut one would be a wrong name */
		for (const char *m = sts_mx_next(&job->sts, NULL);
		     m && o + 1 + strlen(m) < sizeof r->detail;
		     m = sts_mx_next(&job->sts, m))
			o += (size_t)snprintf(r->detail + o, sizeof r->detail - o,
					      ",%s", m);
	}
	job->nrpt++;
}

/* Connect and set up the session; under tls=may a failed handshake is
 * retried once in plaintext on a new connection. */
static struct remote_conn *deliver_connect(struct remote_job *job,
					   const struct remote_ip *ip,
					   const struct remote_target *t,
					   struct remote_err *last)
{
	struct remote_err e;
	int plain = 0;

	char ipbuf[64];

	/* relay= names the last host tried, even when it did not answer */
	remote_ip_format(ip, ipbuf, sizeof ipbuf);
	snprintf(job->relay, sizeof job->relay, "%.255s[%.63s]:%ld", t->name, ipbuf,
		 t->port);
	for (int round = 0; round < 2; round++) {
		struct remote_conn *c = remote_conn_open(ip, t->name, t->port, &e);
		if (!c)
			break;
		deliver_relay(job, c);
		remote_conn_key(c->key, sizeof c->key, t->name, t->port, job);
		enum remote_sess s = remote_session_open(c, job, plain, &e);
		if (round == 0)
			deliver_tlsrpt(job, c, s);
		if (s == REMOTE_SESS_OK)
			return c;
		remote_conn_close(c, s == REMOTE_SESS_FAIL && e.code != 421);
		if (s != REMOTE_SESS_PLAIN)
			break;
		char txt[3 * REMOTE_TEXT_MAX];
		log_warn("%s: %s; retrying without TLS", job->qid,
			 log_field(txt, sizeof txt, e.text, strlen(e.text)));
		plain = 1;
	}
	deliver_merge(last, &e);
	return NULL;
}

/* A cached connection to any of the most preferred hosts: equal
 * preferences are shuffled per job, and a connection to one of them is as
 * good as a new one to another (backup MXs are not taken this way). */
static int deliver_cached(struct remote_job *job, const struct remote_target *t,
			  size_t n, struct remote_qfile *q)
{
	char key[sizeof ((struct remote_conn *)0)->key];

	/* each host's own DANE or MTA-STS terms first: deliver_target */
	if (remote_sec_applies(job) &&
	    (job->sts_on || (dns_trust_ad() && job->mx_secure)))
		return 0;
	for (size_t i = 0; i < n && t[i].pref == t[0].pref; i++) {
		struct remote_conn *c;
		remote_conn_key(key, sizeof key, t[i].name, t[i].port, job);
		if ((c = remote_cache_take(key, job->seq)) &&
		    deliver_on(job, c, q, 1) == 0)
			return 1;
	}
	return 0;
}

/* A host whose name has no address (NXDOMAIN, or no A/AAAA record).
 * An MX host: the domain's own records say so, a bounce.  A fixed next
 * hop (relayhost, a route's host=) is the operator's setting or their
 * DNS, not the recipients' fault: deferred until it is mended (as
 * Postfix does for a relayhost), with a warning naming the setting. */
static void deliver_noaddr(const struct remote_job *job,
			   const struct remote_target *t, enum dns_status s,
			   struct remote_err *e)
{
	const char *why = s == DNS_NXDOMAIN ? "NXDOMAIN" : "no address record";
	char name[3 * REMOTE_NAME_MAX], via[3 * sizeof job->via];

	if (!job->host[0]) {
		remote_err_set(e, 'B', 550, "5.1.2 host %s not found", t->name);
		return;
	}
	/* "route:rcpt:example.org" as relay.rules writes it */
	log_field(via, sizeof via, job->via[0] ? job->via : "its route",
		  strlen(job->via[0] ? job->via : "its route"));
	if (strncmp(via, "route:", 6) == 0)
		for (char *p = via; (p = strchr(p, ':')); p++)
			*p = ' ';
	log_warn("%s: next hop %s set by %s not found (%s): deferred, not "
		 "bounced; check the setting", job->qid,
		 log_field(name, sizeof name, t->name, strlen(t->name)), via,
		 why);
	remote_err_set(e, 'T', 451, "4.4.4 next hop %s not found (%s)",
		       t->name, why);
}

/* 1 when the MX host t is this relay: one of its addresses reaches one
 * of our listeners on t's port; relay-remote would hand the message to
 * relay-smtpd again and again until hops_max.  e is set, relay= names
 * the host.  (Behind NAT the EHLO reply tells: remote_session.c.) */
static int deliver_self(struct remote_job *job, const struct remote_target *t,
			const struct remote_ip *ip, size_t n,
			struct remote_err *e)
{
	char ipbuf[64];

	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		remote_ip_sockaddr(&ip[i], t->port, &ss);
		if (!listen_addr_is_self(&ss))
			continue;
		remote_ip_format(&ip[i], ipbuf, sizeof ipbuf);
		snprintf(job->relay, sizeof job->relay, "%.255s[%.63s]:%ld",
			 t->name, ipbuf, t->port);
		remote_err_set(e, 'B', 554, "5.4.6 mail for %s loops back to "
			       "myself (MX %s is this relay)", job->domain,
			       t->name);
		return 1;
	}
	return 0;
}

/* remote_private_addresses = refuse: the addresses of an MX host that a
 * recipient's domain chose are dropped when they are loopback, private
 * or link-local (lib/ipaddr.h), each with a log line: any sender could
 * otherwise have this relay connect into the network it sits in.  A hop
 * the operator chose is theirs to trust (remote_private_refused).  The
 * domain's MTA-STS policy host and TLS-RPT https: rua are held to the
 * same rule (remote_sts_fetch.c).
 * 1 when none is left, e set; 0 with ip[0..*n) the ones to try. */
static int deliver_private(struct remote_job *job,
			   const struct remote_target *t, struct remote_ip *ip,
			   size_t *n, struct remote_err *e)
{
	char ipbuf[64], name[3 * REMOTE_NAME_MAX], dom[3 * REMOTE_NAME_MAX];
	size_t o = 0;

	if (!remote_private_refused(job))
		return 0;
	for (size_t i = 0; i < *n; i++) {
		struct ipaddr a;
		remote_ip_format(&ip[i], ipbuf, sizeof ipbuf);
		if (ipaddr_parse(ipbuf, &a) == 0 && !ipaddr_is_private(&a)) {
			ip[o++] = ip[i];
			continue;
		}
		log_warn("%s: MX host %s of %s is at %s, a private address: "
			 "not used (remote_private_addresses = refuse)",
			 job->qid, log_field(name, sizeof name, t->name,
					     strlen(t->name)),
			 log_field(dom, sizeof dom, job->domain,
				   strlen(job->domain)), ipbuf);
		snprintf(job->relay, sizeof job->relay, "%.255s[%.63s]:%ld",
			 t->name, ipbuf, t->port);
		remote_err_set(e, 'B', 554, "5.4.4 mail for %s would go to a "
			       "private address (MX host %s, %s): refused by "
			       "this relay", job->domain, t->name, ipbuf);
	}
	*n = o;
	return o == 0;
}

/* 1 when a transaction ran on this target (results are set), 0 to try
 * the next, -1 when t is this relay: RFC 5321 5.1 drops it and every
 * less preferred MX (they would send the mail back here). */
static int deliver_target(struct remote_job *job, const struct remote_target *t,
			  struct remote_qfile *q, struct remote_err *last,
			  int *tries)
{
	struct remote_ip ip[REMOTE_ADDR_MAX];
	struct remote_conn *c;
	struct remote_err e;
	char key[sizeof c->key];
	size_t n = 0;
	enum dns_status s;

	/* what DANE or MTA-STS ask of this host: part of the cache key */
	if (remote_sec_target(job, t, &e) < 0) {
		deliver_merge(last, &e);
		return 0;
	}
	remote_conn_key(key, sizeof key, t->name, t->port, job);
	if ((c = remote_cache_take(key, job->seq)) &&
	    deliver_on(job, c, q, 1) == 0)
		return 1;
	s = remote_dns_addrs(t->name, ip, REMOTE_ADDR_MAX, &n);
	if (s != DNS_OK) {
		if (s == DNS_TEMP)
			remote_err_set(&e, 'T', 451, "4.4.3 address lookup of "
				       "%s failed temporarily", t->name);
		else if (s == DNS_BADDATA) /* a DNS failure, not "no host" */
			remote_err_set(&e, 'T', 451, "4.4.3 malformed address "
				       "records for %s", t->name);
		else
			deliver_noaddr(job, t, s, &e);
		deliver_merge(last, &e);
		return 0;
	}
	if (!job->host[0] && deliver_self(job, t, ip, n, &e)) {
		deliver_merge(last, &e);
		return -1;
	}
	if (deliver_private(job, t, ip, &n, &e)) {
		deliver_merge(last, &e);
		return 0;
	}
	for (size_t i = 0; i < n && *tries < REMOTE_TRIES_MAX; i++) {
		/* a new attempt late in the budget could be cut off mid-way */
		if (time(NULL) - job->started > remote_worker_budget() / 2) {
			remote_err_set(&e, 'T', 451, "4.4.7 delivery attempts "
				       "took too long");
			deliver_merge(last, &e);
			return 0;
		}
		++*tries;
		c = deliver_connect(job, &ip[i], t, last);
		if (c) {
			deliver_on(job, c, q, 0);
			return 1;
		}
	}
	return 0;
}

static int deliver_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* relay_remote_tls_total{version=}: per job, "none" without TLS */
static void deliver_count_tls(const struct remote_job *job)
{
	char v[32], l[METRICS_LABELS_MAX];
	size_t n = strcspn(job->tlsdesc, " ");

	snprintf(v, sizeof v, "%.*s", (int)n, job->tlsdesc);
	if (!*v || !strcmp(v, "-"))
		snprintf(v, sizeof v, "none");
	metrics_add(METRIC_REMOTE_TLS, 1,
		    metrics_labels(l, sizeof l, "version", v, NULL));
}

/* One line per recipient.  Recipients of a job mostly share one result:
 * the part after to=<> is formatted again only when it changes. */
static void deliver_log(const struct remote_job *job)
{
	static const struct {
		char st;
		const char *word;
	} words[] = { { 'D', "sent" }, { 'T', "deferred" }, { 'B', "bounced" } };
	char text[3 * REMOTE_TEXT_MAX], to[3 * ADDR_MAX + 1];
	char tail[3 * REMOTE_TEXT_MAX + sizeof job->relay + sizeof job->tlsdesc + 64];
	const struct remote_rcpt *prev = NULL;

	deliver_count_tls(job);
	for (size_t i = 0; i < job->nrcpt; i++) {
		const struct remote_rcpt *r = &job->rcpt[i];
		const char *w = "deferred";
		if (!prev || prev->status != r->status || prev->code != r->code ||
		    strcmp(prev->text, r->text) != 0) {
			for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
				if (words[k].st == r->status)
					w = words[k].word;
			log_field(text, sizeof text, r->text, strlen(r->text));
			snprintf(tail, sizeof tail, "relay=%s tls=%s status=%s (%d %s)",
				 job->relay, job->tlsdesc, w, r->code, text);
			prev = r;
		}
		log_field(to, sizeof to, r->addr, strlen(r->addr));
		log_info("%s: to=<%s> %s", job->qid, to, tail);
	}
}

/* The hook remote_txn_next: the job relay-send has queued behind this
 * one, when its MAIL/RCPT/DATA can go out with this message's dot.  Only
 * for a fixed host (an MX route would need its lookups first) with the
 * same connection key, on a connection with PIPELINING and room for one
 * more transaction under conn_cache_max, and for a message that needs
 * no check against the server (SIZE, SMTPUTF8). */

/* The job's queue file: the descriptor relay-send sent with it (relay-
 * remote itself has no access to the queue), else its name (a job
 * written by hand, for a file relay-remote may read). */
static int deliver_qfile_open(struct remote_job *job, char *err, size_t n)
{
	int fd = job->qfd;

	if (fd < 0)
		return remote_qfile_open(&job->q, job->file, err, n);
	job->qfd = -1;
	return remote_qfile_open_fd(&job->q, fd, err, n);
}

static struct remote_job *deliver_next(struct remote_conn *c,
				       const struct remote_job *job)
{
	struct remote_job *nx = remote_worker_peek();
	struct remote_target t;
	char key[sizeof c->key], err[256];
	size_t n = 0;
	int utf8 = 0;

	(void)job;
	if (!nx || !nx->host[0] || !(c->ext & REMOTE_EXT_PIPELINING) ||
	    c->broken || cf.conn_cache_max <= 0 || cf.conn_cache_idle <= 0 ||
	    c->msgs + 2 > cf.conn_cache_max ||
	    remote_mx_targets(nx, &t, 1, &n) < 0 || n != 1)
		return NULL;
	remote_conn_key(key, sizeof key, t.name, t.port, nx);
	if (strcmp(key, c->key) != 0)
		return NULL;
	if (!nx->q_open) {
		if (deliver_qfile_open(nx, err, sizeof err) < 0)
			return NULL; /* its own turn reports it */
		nx->q_open = 1;
	}
	for (size_t i = 0; i < nx->nrcpt; i++)
		utf8 |= !deliver_ascii(nx->rcpt[i].addr);
	/* not what would need SMTPUTF8 (pipelined commands never ask for
	 * it), nor what remote_txn_run would refuse before MAIL */
	if (utf8 || !deliver_ascii(nx->q.sender) ||
	    remote_qfile_smtputf8(&nx->q) ||
	    (!(c->ext & REMOTE_EXT_8BITMIME) && remote_qfile_8bit(&nx->q)) ||
	    (c->size_max > 0 && nx->q.body_size > c->size_max))
		return NULL;
	return nx;
}

/* The domain's MTA-STS policy, then the hosts in order. */
static void deliver_targets(struct remote_job *job,
			    const struct remote_target *t, size_t nt,
			    struct remote_err *last)
{
	int tries = 0;

	remote_sec_job(job);
	if (deliver_cached(job, t, nt, &job->q))
		return;
	for (size_t i = 0; i < nt && remote_job_pending(job); i++)
		if (deliver_target(job, &t[i], &job->q, last, &tries) != 0)
			break;
}

/* Credentials go only to a host the operator named (relayhost, a
 * route's host): never to the MX hosts a recipient's domain chose, even
 * when a rules.cdb from before makecdb refused such a route asks for it.
 * 1 after deferring every recipient. */
static int deliver_auth_to_mx(struct remote_job *job)
{
	char dom[3 * REMOTE_NAME_MAX], txt[REMOTE_TEXT_MAX];

	if (!job->auth[0] || job->host[0])
		return 0;
	log_field(dom, sizeof dom, job->domain, strlen(job->domain));
	log_warn("%s: refusing auth=%s for the MX hosts of %s: credentials go "
		 "only to a fixed host (run makecdb: such a route is an error)",
		 job->qid, job->auth, dom);
	snprintf(txt, sizeof txt, "4.3.5 refusing auth=%s for the MX hosts of "
		 "a domain: credentials go only to a fixed host", job->auth);
	remote_job_fail_pending(job, 'T', 451, txt);
	return 1;
}

void remote_deliver_job(struct remote_job *job)
{
	struct remote_target t[REMOTE_MX_MAX];
	struct remote_err last = { 'T', 0, "" };
	char err[512];
	size_t nt = 0;

	job->started = time(NULL);
	remote_txn_next = deliver_next;
	if (!job->q_open && deliver_qfile_open(job, err, sizeof err) < 0) {
		log_warn("%s: %s", job->qid, err);
		remote_job_fail_pending(job, 'T', 451, "4.3.0 cannot read the "
					"queue file");
	} else {
		job->q_open = 1;
		if (!deliver_auth_to_mx(job) &&
		    remote_mx_targets(job, t, REMOTE_MX_MAX, &nt) == 0)
			deliver_targets(job, t, nt, &last);
		if (remote_job_pending(job))
			remote_job_fail_pending(job, last.code ? last.status : 'T',
						last.code ? last.code : 451,
						last.code ? last.text
							  : "4.4.0 no host to try");
		remote_qfile_close(&job->q);
		job->q_open = 0;
	}
	deliver_log(job);
}

void remote_deliver_keep(struct remote_job *job)
{
	if (job->keep)
		remote_cache_put(job->keep);
	job->keep = NULL;
}
