/* policy_phase.c: the request phases of the smtpd <-> policy protocol
 * (ARCHITECTURE.md), dispatched through a table.  Session state lives in
 * the connection, so smtpd can never claim an identity that policy did
 * not verify itself.  One log line per decision. */
#include "policy_server.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "legacy.h"
#include "log.h"
#include "metrics.h"
#include "rate_store.h"
#include "settings.h"
#include "wire_policy.h"

static const char *const action_names[] = {
	WIRE_POLICY_ACTION_ACCEPT, WIRE_POLICY_ACTION_REJECT,
	WIRE_POLICY_ACTION_TEMPFAIL
};

static void reply(struct kv *rep, const struct policy_verdict *v)
{
	kv_add(rep, WIRE_POLICY_ACTION, action_names[v->action]);
	if (v->code) {
		kv_addf(rep, WIRE_POLICY_CODE, "%d", v->code);
		kv_add(rep, WIRE_POLICY_ESC, v->esc);
		kv_add(rep, WIRE_POLICY_TEXT, v->text);
	}
}

/* relay_policy_decisions_total{phase=,code=,esc=} */
static void count_decision(const char *phase, const struct policy_verdict *v)
{
	char code[16], l[METRICS_LABELS_MAX];

	snprintf(code, sizeof code, "%d", v->code);
	metrics_add(METRIC_POLICY_DECISIONS, 1,
		    metrics_labels(l, sizeof l, "phase", phase, "code", code,
				   "esc", v->esc, NULL));
}

static void log_decision(const struct policy_conn *c, const char *phase,
			 const struct policy_verdict *v)
{
	char ip[3 * 64];

	log_field(ip, sizeof ip, c->s.ip, strlen(c->s.ip));
	log_info("ip=%s phase=%s customer=%s rule=%s action=%s code=%d", ip,
		 phase, *v->customer ? v->customer : "-",
		 *v->rule ? v->rule : "-", action_names[v->action], v->code);
	count_decision(phase, v);
}

typedef int (*phase_fn)(struct policy_srv *, struct policy_conn *,
			const struct kv_msg *, struct policy_verdict *);

static int ph_connect(struct policy_srv *srv, struct policy_conn *c,
		      const struct kv_msg *m, struct policy_verdict *v)
{
	char ip[64];

	(void)v;
	policy_session_init(&c->s, policy_peer_session_ip(srv, c,
			    kv_get_or(m, WIRE_POLICY_IP, ""), ip, sizeof ip));
	c->s.tls = !strcmp(kv_get_or(m, WIRE_POLICY_TLS, "0"), "1");
	c->s.plain_ok = cf.legacy_plain && legacy_client(c->s.ip);
	rate_store_txn_reset(c->txn);
	policy_admit_reset(c);
	return 0; /* an unknown address may still AUTH: decide later */
}

static int ph_helo(struct policy_srv *srv, struct policy_conn *c,
		   const struct kv_msg *m, struct policy_verdict *v)
{
	(void)srv;
	(void)v;
	snprintf(c->s.helo, sizeof c->s.helo, "%s",
		 kv_get_or(m, WIRE_POLICY_HELO, ""));
	return 0;
}

/* RFC 3207 4.2: after STARTTLS forget what the client said before it
 * (HELO name, any transaction); the client must EHLO again. */
static int ph_tls(struct policy_srv *srv, struct policy_conn *c,
		  const struct kv_msg *m, struct policy_verdict *v)
{
	(void)srv;
	(void)v;
	c->s.tls = !strcmp(kv_get_or(m, WIRE_POLICY_TLS, "1"), "1");
	c->s.helo[0] = '\0';
	c->s.user[0] = '\0';
	rate_store_txn_reset(c->txn);
	policy_session_reset(&c->s);
	policy_admit_reset(c);
	return 0;
}

/* An AUTH's verdict: r 1 good, 0 bad, -1 the check failed. */
static void auth_verdict(struct policy_conn *c, int r, struct policy_verdict *v)
{
	if (r == 1) {
		snprintf(c->s.user, sizeof c->s.user, "%s", c->auth.user);
		policy_reply(v, POLICY_ACCEPT, 235, "2.7.0",
			     "Authentication successful");
	} else if (r == 0) {
		policy_reply(v, POLICY_REJECT, 535, "5.7.8",
			     "Username and Password not accepted.");
	} else {
		policy_reply(v, POLICY_TEMPFAIL, 454, "4.7.0",
			     "Temporary authentication failure.");
	}
}

/* A cache hit is answered here; a check in a child later
 * (policy_phase_auth_done). */
static int ph_auth(struct policy_srv *srv, struct policy_conn *c,
		   const struct kv_msg *m, struct policy_verdict *v)
{
	const char *user = kv_get_or(m, WIRE_POLICY_USER, "");

	if (!policy_auth_authz_ok(kv_get_or(m, WIRE_POLICY_AUTHZ, ""), user)) {
		policy_auth_refuse(c->s.ip, user, (long)time(NULL));
		auth_verdict(c, 0, v);
		return 0;
	}
	policy_db_refresh(&srv->db);
	switch (policy_auth_start(&c->auth, &srv->db.lk, c->s.ip, user,
				  kv_get_or(m, WIRE_POLICY_PASS, ""), (long)time(NULL))) {
	case AUTH_STARTED:
		return 1;
	case AUTH_OK:
		auth_verdict(c, 1, v);
		return 0;
	case AUTH_THROTTLED:
		auth_verdict(c, 0, v);
		return 0;
	default:
		auth_verdict(c, -1, v);
		return 0;
	}
}

/* Without rules.cdb (not compiled yet, unreadable) nobody can be told
 * yes, but a permanent refusal would bounce good mail: answer 451. */
static int rules_missing(struct policy_srv *srv, struct policy_verdict *v)
{
	if (srv->db.rules.fd >= 0)
		return 0;
	policy_reply(v, POLICY_TEMPFAIL, 451, "4.3.0",
		     "Relay rules not available, try again later.");
	log_warn("%s missing or unreadable: answering 451",
		 srv->db.rules.path);
	return 1;
}

static int ph_mail(struct policy_srv *srv, struct policy_conn *c,
		   const struct kv_msg *m, struct policy_verdict *v)
{
	policy_db_refresh(&srv->db);
	rate_store_txn_reset(c->txn);
	policy_session_reset(&c->s);
	policy_admit_reset(c);
	if (!rules_missing(srv, v))
		policy_decide_mail(&srv->db.lk, &c->s, kv_get_or(m, WIRE_POLICY_FROM, ""),
				   v);
	return 0;
}

static int ph_rcpt(struct policy_srv *srv, struct policy_conn *c,
		   const struct kv_msg *m, struct policy_verdict *v)
{
	const char *rcpt = kv_get_or(m, WIRE_POLICY_RCPT, "");

	policy_decide_rcpt(&srv->db.lk, &c->s, rcpt, v);
	snprintf(v->customer, sizeof v->customer, "%s", c->s.customer);
	snprintf(v->rule, sizeof v->rule, "%s", c->s.rule);
	if (v->action != POLICY_ACCEPT)
		return 0;
	/* never relay uncounted mail: no counters, no 250 -- unless relay.conf
	 * says rate_accounting = no (the benchmark's "off") */
	if (cf.rate_accounting) {
		enum rate_verdict r = RATE_FULL;
		if (srv->rate_ok &&
		    rate_store_rcpt_start(c->txn, *c->s.rate_user ?
					  c->s.rate_user : NULL, c->s.customer,
					  rcpt, &c->s.lim, (long)time(NULL), c,
					  &r)) {
			snprintf(c->wait_rcpt, sizeof c->wait_rcpt, "%s", rcpt);
			c->store_wait = 1;
			return 1; /* policy_phase_rcpt_done answers */
		}
		policy_rate_reply(r, v);
	}
	if (v->action == POLICY_ACCEPT) {
		c->s.nrcpt++;
		policy_admit_rcpt(c, rcpt);
		policy_admit_issue(srv, c, v); /* DATA's proof, ahead */
	}
	return 0;
}

static int ph_data(struct policy_srv *srv, struct policy_conn *c,
		   const struct kv_msg *m, struct policy_verdict *v)
{
	(void)m;
	if (!c->s.mail_ok || !c->s.nrcpt)
		policy_reply(v, POLICY_REJECT, 503, "5.5.1",
			     "No valid recipients.");
	policy_admit_issue(srv, c, v);
	return 0;
}

static int ph_commit(struct policy_srv *srv, struct policy_conn *c,
		     const struct kv_msg *m, struct policy_verdict *v)
{
	(void)v;
	/* only a message relay-queue took with this session's proof counts:
	 * a commit of anything else would burn a customer's quota */
	if (policy_admit_commit(srv, c, kv_get_or(m, WIRE_POLICY_QID, ""),
				kv_get(m, ADMIT_WIRE_RECEIPT))) {
		if (c->s.mail_ok && cf.rate_accounting)
			rate_store_commit(c->txn, (long)time(NULL));
	} else {
		rate_store_txn_reset(c->txn);
	}
	policy_session_reset(&c->s);
	policy_admit_reset(c);
	return 0;
}

static int ph_reset(struct policy_srv *srv, struct policy_conn *c,
		    const struct kv_msg *m, struct policy_verdict *v)
{
	(void)srv;
	(void)m;
	(void)v;
	rate_store_txn_reset(c->txn);
	policy_session_reset(&c->s);
	policy_admit_reset(c);
	return 0;
}

/* A dry run for relayctl: no session state, no counting.  The AUTH user
 * given is taken as verified. */
static int ph_explain(struct policy_srv *srv, struct policy_conn *c,
		      const struct kv_msg *m, struct policy_verdict *v)
{
	struct policy_session s;
	const char *rcpt = kv_get_or(m, WIRE_POLICY_RCPT, "");

	v->tracing = 1;
	policy_db_refresh(&srv->db);
	policy_session_init(&s, kv_get_or(m, WIRE_POLICY_IP, ""));
	snprintf(c->s.ip, sizeof c->s.ip, "%s", s.ip); /* for the log line */
	snprintf(s.helo, sizeof s.helo, "%s", kv_get_or(m, WIRE_POLICY_HELO, ""));
	snprintf(s.user, sizeof s.user, "%s", kv_get_or(m, WIRE_POLICY_USER, ""));
	s.tls = !strcmp(kv_get_or(m, WIRE_POLICY_TLS, "0"), "1");
	s.plain_ok = cf.legacy_plain && legacy_client(s.ip);
	if (*s.user)
		policy_trace(v, "AUTH as %s taken as verified (dry run)", s.user);
	if (rules_missing(srv, v))
		return 0;
	policy_decide_mail(&srv->db.lk, &s, kv_get_or(m, WIRE_POLICY_FROM, ""), v);
	if (v->action == POLICY_ACCEPT && *rcpt) {
		policy_trace(v, "MAIL: %d %s %s", v->code, v->esc, v->text);
		policy_decide_rcpt(&srv->db.lk, &s, rcpt, v);
	}
	return 0;
}

static const struct {
	const char *name;
	phase_fn fn;
} phases[] = {
	{ WIRE_POLICY_PHASE_CONNECT, ph_connect },
	{ WIRE_POLICY_PHASE_HELO, ph_helo },
	{ WIRE_POLICY_PHASE_TLS, ph_tls },
	{ WIRE_POLICY_PHASE_AUTH, ph_auth },
	{ WIRE_POLICY_PHASE_MAIL, ph_mail },
	{ WIRE_POLICY_PHASE_RCPT, ph_rcpt },
	{ WIRE_POLICY_PHASE_DATA, ph_data },
	{ WIRE_POLICY_PHASE_COMMIT, ph_commit },
	{ WIRE_POLICY_PHASE_RESET, ph_reset },
	{ WIRE_POLICY_PHASE_EXPLAIN, ph_explain },
};

static void add_extras(struct kv *rep, const char *phase,
		       const struct policy_conn *c,
		       const struct policy_verdict *v)
{
	policy_admit_reply(c, v, rep);
	if (!strcmp(phase, WIRE_POLICY_PHASE_AUTH) && v->action == POLICY_ACCEPT)
		kv_add(rep, WIRE_POLICY_USER, c->s.user);
	if (!strcmp(phase, WIRE_POLICY_PHASE_MAIL) && v->action == POLICY_ACCEPT) {
		kv_add(rep, WIRE_POLICY_FROM, v->from);
		kv_add(rep, WIRE_POLICY_CUSTOMER, v->customer);
	}
	if (!strcmp(phase, WIRE_POLICY_PHASE_EXPLAIN)) {
		kv_add(rep, WIRE_POLICY_CUSTOMER, v->customer);
		kv_add(rep, WIRE_POLICY_RULE, v->rule);
		kv_add(rep, WIRE_POLICY_FROM, v->from);
		for (const char *p = v->trace; *p;) {
			const char *e = strchr(p, '\n');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			kv_addn(rep, WIRE_POLICY_TRACE, p, n);
			p += n + (e != NULL);
		}
	}
}

int policy_phase_handle(struct policy_srv *srv, struct policy_conn *c,
			char *payload, size_t len, struct kv *rep)
{
	static struct kv_msg m;
	static struct policy_verdict v;
	const char *phase;
	size_t i;

	if (kv_parse(&m, payload, len) < 0 || !(phase = kv_get(&m, WIRE_POLICY_PHASE)))
		return -1;
	for (i = 0; i < sizeof phases / sizeof phases[0]; i++)
		if (!strcmp(phase, phases[i].name))
			break;
	if (i == sizeof phases / sizeof phases[0])
		return -1;
	policy_verdict_init(&v);
	if (phases[i].fn(srv, c, &m, &v) == 1)
		return 1;
	/* smtpd's requests whose answer is always accept (ARCHITECTURE.md):
	 * nobody reads it, so none is written */
	if (!strcmp(kv_get_or(&m, WIRE_POLICY_NOREPLY, ""), "1"))
		return 1;
	reply(rep, &v);
	add_extras(rep, phase, c, &v);
	if (!strcmp(phase, WIRE_POLICY_PHASE_MAIL) ||
	    !strcmp(phase, WIRE_POLICY_PHASE_RCPT) ||
	    !strcmp(phase, WIRE_POLICY_PHASE_AUTH) ||
	    !strcmp(phase, WIRE_POLICY_PHASE_EXPLAIN))
		log_decision(c, phase, &v);
	return 0;
}

void policy_phase_auth_done(struct policy_srv *srv, struct policy_conn *c,
			    struct kv *rep)
{
	static struct policy_verdict v;

	(void)srv;
	policy_verdict_init(&v);
	auth_verdict(c, policy_auth_finish(&c->auth, (long)time(NULL)), &v);
	reply(rep, &v);
	add_extras(rep, WIRE_POLICY_PHASE_AUTH, c, &v);
	log_decision(c, WIRE_POLICY_PHASE_AUTH, &v);
}

void policy_phase_rcpt_done(struct policy_srv *srv, struct policy_conn *c,
			    enum rate_verdict r, struct kv *rep)
{
	static struct policy_verdict v;

	/* the same decision again (the session has not changed), then the
	 * store's verdict on it */
	policy_verdict_init(&v);
	policy_decide_rcpt(&srv->db.lk, &c->s, c->wait_rcpt, &v);
	snprintf(v.customer, sizeof v.customer, "%s", c->s.customer);
	snprintf(v.rule, sizeof v.rule, "%s", c->s.rule);
	policy_rate_reply(r, &v);
	if (v.action == POLICY_ACCEPT) {
		c->s.nrcpt++;
		policy_admit_rcpt(c, c->wait_rcpt);
		policy_admit_issue(srv, c, &v);
	}
	reply(rep, &v);
	add_extras(rep, WIRE_POLICY_PHASE_RCPT, c, &v);
	log_decision(c, WIRE_POLICY_PHASE_RCPT, &v);
}
