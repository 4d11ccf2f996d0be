/* remote_session.c: setting up an SMTP session upstream: the greeting,
 * EHLO (HELO when EHLO is refused), STARTTLS per the route's policy
 * (may: when offered; encrypt: required; verify: required with the chain
 * and the name checked), then AUTH when the route names credentials.
 * A tls_wrap route (implicit TLS, RFC 8314 3) does the handshake first,
 * under the same encrypt/verify terms, and the rest inside it.
 * Two trust stores: a fixed host (relayhost, a route's host), and an MX
 * host of a domain a rcpt route names, is checked against the system
 * store plus cf.tls_ca, the operator's CA for their own upstreams; any
 * other MX host, which a recipient's domain chose, against the system
 * store alone, as MTA-STS policy servers and TLS-RPT are. */
#include "remote.h"

#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "tls.h"

int remote_session_cmd(struct remote_conn *c, struct remote_reply *r,
		       const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	r->code = 0;
	snprintf(r->text, sizeof r->text, "write error");
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return -1;
	memcpy(line + n, "\r\n", 2);
	if (io_put(&c->io, line, (size_t)n + 2) < 0 || io_flush(&c->io) < 0)
		return -1;
	return remote_reply_read(&c->io, r);
}

static const struct {
	const char *kw;
	unsigned flag;
} session_exts[] = {
	{ "PIPELINING", REMOTE_EXT_PIPELINING },
	{ "SIZE", REMOTE_EXT_SIZE },
	{ "STARTTLS", REMOTE_EXT_STARTTLS },
	{ "8BITMIME", REMOTE_EXT_8BITMIME },
	{ "SMTPUTF8", REMOTE_EXT_SMTPUTF8 },
	{ "DSN", REMOTE_EXT_DSN },
	{ "CHUNKING", REMOTE_EXT_CHUNKING },
};

/* "AUTH PLAIN LOGIN" or the old "AUTH=LOGIN". */
static unsigned session_auth_ext(const char *args)
{
	unsigned f = 0;
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", args);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strcasecmp(w, "PLAIN") == 0)
			f |= REMOTE_EXT_AUTH_PLAIN;
		else if (strcasecmp(w, "LOGIN") == 0)
			f |= REMOTE_EXT_AUTH_LOGIN;
	}
	return f;
}

static void session_ext_line(struct remote_conn *c, const char *l, size_t n)
{
	char line[256];
	size_t k;

	if (n >= sizeof line)
		return;
	memcpy(line, l, n);
	line[n] = '\0';
	k = strcspn(line, " =");
	if (strncasecmp(line, "AUTH", k) == 0 && k == 4 && line[k]) {
		c->ext |= session_auth_ext(line + k + 1);
		return;
	}
	line[k] = '\0';
	for (size_t i = 0; i < sizeof session_exts / sizeof session_exts[0]; i++)
		if (strcasecmp(line, session_exts[i].kw) == 0)
			c->ext |= session_exts[i].flag;
	if (strcasecmp(line, "SIZE") == 0 && k < n)
		c->size_max = strtol(line + k + 1, NULL, 10);
}

void remote_session_ehlo_ext(struct remote_conn *c, const struct remote_reply *r)
{
	const char *p = strchr(r->text, '\n'); /* line 1 is the greeting */

	c->ext = 0;
	c->size_max = 0;
	while (p) {
		const char *l = p + 1, *e = strchr(l, '\n');
		session_ext_line(c, l, e ? (size_t)(e - l) : strlen(l));
		p = e;
	}
}

/* 1 when the reply to EHLO/HELO names the server as cf.hostname: the
 * relay is talking to itself (an MX that reaches it through an address
 * it cannot know as its own: NAT, a proxy).  Postfix's "replied to
 * HELO/EHLO with my own hostname". */
static int session_is_me(const struct remote_reply *r)
{
	size_t n = strcspn(r->text, " \n"), hl = strlen(cf.hostname);

	/* a name that is not this box's alone ("localhost", a bare host
	 * name from gethostname) is what misconfigured servers answer too */
	if (!strchr(cf.hostname, '.') ||
	    strncasecmp(cf.hostname, "localhost", 9) == 0)
		return 0;
	return hl && n == hl && strncasecmp(r->text, cf.hostname, hl) == 0;
}

/* EHLO, or HELO when EHLO gets a 5xx; -1 with e set.  mx: the host is
 * an MX (not the operator's fixed host): a server that answers with our
 * own hostname is this relay, a bounce (RFC 3463 5.4.6). */
static int session_hello(struct remote_conn *c, const struct remote_job *job,
			 int mx, struct remote_err *e)
{
	struct remote_reply r;
	char txt[REMOTE_TEXT_MAX];

	if (remote_session_cmd(c, &r, "EHLO %s", cf.hostname) == 0 &&
	    r.code == 250) {
		c->esmtp = 1;
		remote_session_ehlo_ext(c, &r);
	} else if (r.code >= 500 &&
		   remote_session_cmd(c, &r, "HELO %s", cf.hostname) == 0 &&
		   r.code == 250) {
		c->esmtp = 0;
		c->ext = 0;
	}
	if (r.code == 250 && mx && session_is_me(&r)) {
		remote_err_set(e, 'B', 554, "5.4.6 mail for %s loops back to "
			       "myself (%s[%s] answered EHLO with this relay's "
			       "hostname)", job->domain, c->host, c->ip);
		return -1;
	}
	if (r.code == 250)
		return 0;
	remote_reply_line(&r, txt, sizeof txt);
	remote_err_set(e, r.code >= 500 ? 'B' : 'T', r.code,
		       "%s said after EHLO/HELO: %s", c->host, txt);
	return -1;
}

static SSL_CTX *ctx_public; /* the system store */
static SSL_CTX *ctx_fixed;  /* the system store and cf.tls_ca: hosts
			     the operator named */

int remote_session_tls_init(char *err, size_t errsz)
{
	if (!ctx_public && !(ctx_public = tls_client_ctx_plus(NULL, err, errsz)))
		return -1;
	if (!ctx_fixed)
		ctx_fixed = *cf.tls_ca ? tls_client_ctx_plus(cf.tls_ca, err, errsz)
				       : ctx_public;
	return ctx_fixed ? 0 : -1;
}

SSL_CTX *remote_session_ctx_public(void)
{
	return ctx_public;
}

/* DANE or an enforced MTA-STS policy: no message without TLS. */
static int session_sec_required(const struct remote_job *job)
{
	enum remote_sec_kind k = job->sec.kind;
	return k == REMOTE_SEC_DANE || k == REMOTE_SEC_DANE_TLS ||
	       k == REMOTE_SEC_STS;
}

static const char *session_sec_name(const struct remote_job *job)
{
	return job->sec.kind == REMOTE_SEC_STS ? "MTA-STS: " :
	       job->sec.kind == REMOTE_SEC_NONE ||
	       job->sec.kind == REMOTE_SEC_STS_TESTING ? "" : "DANE: ";
}

/* MTA-STS testing: what enforce would have refused, in the log only. */
static void session_sts_testing(struct remote_conn *c,
				const struct remote_job *job, const char *why)
{
	char dom[3 * REMOTE_NAME_MAX], mx[3 * REMOTE_NAME_MAX], w[768];

	if (job->sec.kind != REMOTE_SEC_STS_TESTING)
		return;
	if (!c->rpt_fail) /* the TLS-RPT type, when not set more precisely */
		c->rpt_fail = tlsrpt_verify_type(tls_client_last_verify());
	log_info("%s: mta-sts=testing domain=%s mx=%s would fail: %s",
		 job->qid, log_field(dom, sizeof dom, job->domain,
				     strlen(job->domain)),
		 log_field(mx, sizeof mx, c->host, strlen(c->host)),
		 log_field(w, sizeof w, why, strlen(why)));
}

/* The handshake as job->sec asks: DANE's TLSA records, a verified
 * certificate (tls=verify, AUTH, MTA-STS enforce), a check only reported
 * (MTA-STS testing), or none. */
static int session_handshake(struct remote_conn *c,
			     const struct remote_job *job, SSL_CTX *ctx,
			     int verify, char *err, size_t errsz)
{
	/* an address literal is checked (and never sent as SNI) as an IP */
	const char *name = remote_dns_is_literal(c->host) ? c->ip : c->host;
	enum remote_sec_kind k = job->sec.kind;
	char why[256];

	if (k == REMOTE_SEC_DANE) {
		if (tls_client_start_dane(&c->io, ctx, name, job->sec.tlsa,
					  job->sec.ntlsa, err, errsz) < 0)
			return -1;
		c->tls_verified = 1;
		return 0;
	}
	if (k == REMOTE_SEC_STS)
		verify = TLS_VERIFY_PEER;
	else if (k == REMOTE_SEC_STS_TESTING && verify == TLS_VERIFY_NONE)
		verify = TLS_VERIFY_REPORT;
	if (tls_client_start(&c->io, ctx, name, verify, err, errsz) < 0)
		return -1;
	c->tls_verified = verify == TLS_VERIFY_PEER;
	if (verify == TLS_VERIFY_REPORT && !tls_verify_result(&c->io, why,
							      sizeof why))
		session_sts_testing(c, job, why);
	return 0;
}

/* c->tlsdesc: the version and cipher, and what set the terms (DANE,
 * MTA-STS) or how TLS began when not by STARTTLS ("implicit"). */
static void session_describe(struct remote_conn *c,
			     const struct remote_job *job)
{
	size_t n;

	tls_describe(&c->io, c->tlsdesc, sizeof c->tlsdesc);
	n = strlen(c->tlsdesc);
	if (job->sec.kind == REMOTE_SEC_DANE || job->sec.kind == REMOTE_SEC_STS)
		snprintf(c->tlsdesc + n, sizeof c->tlsdesc - n, " %s",
			 job->sec.kind == REMOTE_SEC_DANE ? "dane" : "mta-sts");
	else if (job->tls_wrap)
		snprintf(c->tlsdesc + n, sizeof c->tlsdesc - n, " implicit");
}

/* The store for job's next hop: tls_ca only for a host the operator
 * named or the MX of a domain they routed by name, never for a name an
 * unnamed recipient's domain published. */
static SSL_CTX *session_tls_ctx(const struct remote_job *job,
				struct remote_err *e)
{
	char err[256];

	if (remote_session_tls_init(err, sizeof err) < 0) {
		remote_err_set(e, 'T', 451, "4.7.5 TLS setup failed: %s", err);
		return NULL;
	}
	return remote_job_operator_hop(job) ? ctx_fixed : ctx_public;
}

/* STARTTLS and the second EHLO. */
static enum remote_sess session_tls(struct remote_conn *c,
				    const struct remote_job *job,
				    struct remote_err *e)
{
	struct remote_reply r;
	char err[256], txt[REMOTE_TEXT_MAX];
	SSL_CTX *ctx = session_tls_ctx(job, e);
	/* credentials go only to a server whose certificate verifies,
	 * unless the route says auth_tls=unverified */
	int for_auth = job->auth[0] && !job->auth_unverified;
	int verify = job->tls == REMOTE_TLS_VERIFY || for_auth;
	/* plaintext after a failure: only where nothing asks for TLS */
	int may_plain = job->tls == REMOTE_TLS_MAY && !session_sec_required(job);

	if (!ctx)
		return REMOTE_SESS_FAIL;
	if (remote_session_cmd(c, &r, "STARTTLS") < 0 || r.code != 220) {
		remote_reply_line(&r, txt, sizeof txt);
		remote_err_set(e, 'T', r.code, "4.7.5 %s%s refused STARTTLS: %s",
			       session_sec_name(job), c->host, txt);
		c->rpt_fail = "starttls-not-supported";
		session_sts_testing(c, job, "STARTTLS refused");
		return may_plain && r.code ? REMOTE_SESS_PLAIN
					   : REMOTE_SESS_FAIL;
	}
	if (session_handshake(c, job, ctx, verify, err, sizeof err) < 0) {
		remote_err_set(e, 'T', 421, "4.7.5 %sTLS with %s[%s] failed: %s%s",
			       session_sec_name(job), c->host, c->ip, err,
			       for_auth ? " (AUTH needs a verified certificate, "
					  "see auth_tls)" : "");
		c->rpt_fail = job->sec.kind == REMOTE_SEC_DANE
				      ? "validation-failure"
				      : tlsrpt_verify_type(tls_client_last_verify());
		session_sts_testing(c, job, err);
		/* plaintext would not carry the AUTH either */
		return may_plain && !job->auth[0] ? REMOTE_SESS_PLAIN
						  : REMOTE_SESS_FAIL;
	}
	session_describe(c, job);
	return session_hello(c, job, 0, e) < 0 ? REMOTE_SESS_FAIL : REMOTE_SESS_OK;
}

/* Implicit TLS: the handshake on the fresh connection, before any SMTP.
 * A failure (a plain-text server answers the ClientHello with its
 * greeting, a certificate that does not verify) ends the connection:
 * there is no plain text to fall back to.  -1 with e set. */
static int session_wrap(struct remote_conn *c, const struct remote_job *job,
			struct remote_err *e)
{
	char err[256];
	SSL_CTX *ctx = session_tls_ctx(job, e);
	int for_auth = job->auth[0] && !job->auth_unverified;
	int verify = job->tls == REMOTE_TLS_VERIFY || for_auth;

	if (!ctx)
		return -1;
	if (session_handshake(c, job, ctx, verify, err, sizeof err) < 0) {
		remote_err_set(e, 'T', 421, "4.7.5 implicit TLS with %s[%s] "
			       "failed: %s%s", c->host, c->ip, err,
			       for_auth ? " (AUTH needs a verified "
					  "certificate, see auth_tls)" : "");
		return -1;
	}
	session_describe(c, job);
	return 0;
}

/* After the greeting and EHLO: STARTTLS as job->tls and job->sec ask
 * (none when plain, the retry in plain text under "may"). */
static enum remote_sess session_starttls(struct remote_conn *c,
					 const struct remote_job *job,
					 int plain, struct remote_err *e)
{
	if (!plain && (c->ext & REMOTE_EXT_STARTTLS))
		return session_tls(c, job, e);
	if (job->tls != REMOTE_TLS_MAY || session_sec_required(job)) {
		remote_err_set(e, 'T', 421,
			       "4.7.4 %sTLS is required but %s[%s] does not offer "
			       "STARTTLS", session_sec_name(job), c->host, c->ip);
		c->rpt_fail = "starttls-not-supported";
		return REMOTE_SESS_FAIL;
	}
	if (!plain) {
		c->rpt_fail = "starttls-not-supported";
		session_sts_testing(c, job, "STARTTLS not offered");
	}
	return REMOTE_SESS_OK;
}

enum remote_sess remote_session_open(struct remote_conn *c,
				     const struct remote_job *job, int plain,
				     struct remote_err *e)
{
	struct remote_reply r;
	char txt[REMOTE_TEXT_MAX];
	enum remote_sess s;

	if (job->tls_wrap && session_wrap(c, job, e) < 0)
		return REMOTE_SESS_FAIL;
	if (remote_reply_read(&c->io, &r) < 0 || r.code != 220) {
		/* even a 5xx greeting only says this host will not talk now
		 * (Postfix's smtp_skip_5xx_greeting): try others, defer */
		remote_reply_line(&r, txt, sizeof txt);
		remote_err_set(e, 'T', r.code,
			       "4.4.0 %s greeted: %s", c->host, txt);
		return REMOTE_SESS_FAIL;
	}
	if (session_hello(c, job, !job->host[0], e) < 0)
		return REMOTE_SESS_FAIL;
	/* inside implicit TLS a STARTTLS offered is not taken (RFC 8314 3) */
	if (!job->tls_wrap &&
	    (s = session_starttls(c, job, plain, e)) != REMOTE_SESS_OK)
		return s;
	if (job->auth[0] && remote_auth_run(c, job, e) < 0)
		return REMOTE_SESS_FAIL;
	return REMOTE_SESS_OK;
}
