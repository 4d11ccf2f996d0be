/* policy_decide.c: MAIL FROM, the decision of doc/BEHAVIOUR.md §2: identify the
 * customer, find an enabled rule of it that accepts the session (address,
 * AUTH, TLS), then check the sender under the rule's `senders` mode and
 * rewrite foreign and null senders when that is allowed.  Every step
 * leaves a trace line for `relayctl explain`. */
#include "policy_decide.h"

#include <stdio.h>
#include <string.h>

#include "abuse.h"
#include "policy_match.h"
#include "rate_limits.h"
#include "rulekeys.h"

/* How close a rule came: the reply for the closest miss tells the client
 * what to fix. */
enum miss { MISS_OTHER, MISS_AUTH, MISS_TLS };

struct rule {
	char name[POLICY_NAMEMAX], senders[16], auth[8];
	int tls, enabled;
};

static int load_rule(const struct policy_lookup *lk, const char *cust, int i,
		     struct rule *r)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	snprintf(key, sizeof key, "rule:%s:%d", cust, i);
	if (lk->get(lk->ctx, POLICY_RULES, key, val, sizeof val) < 0 ||
	    rk_get(val, "name", r->name, sizeof r->name) != 1 ||
	    rk_get(val, "senders", r->senders, sizeof r->senders) != 1 ||
	    rk_get(val, "auth", r->auth, sizeof r->auth) != 1)
		return -1;
	r->tls = rk_yes(val, "tls");
	r->enabled = rk_yes(val, "enabled");
	return 0;
}

static void deny_invalid(struct policy_verdict *v, const char *ip)
{
	policy_reply(v, POLICY_REJECT, 550, "5.7.1",
		     "Invalid credentials for relay [%s]. The IP address is "
		     "registered, but not for the domain this mail is sent "
		     "from; use SMTP AUTH or present one of your domains in "
		     "HELO/EHLO.", ip);
}

/* 1 when the user/customer is suspended (rules flag or override). */
static int suspended(const struct policy_lookup *lk, const char *kind,
		     const char *name, const char *val)
{
	return rk_yes(val, "suspended") || lk->suspended(lk->ctx, kind, name);
}

static long user_get(const struct policy_lookup *lk, const char *addr,
		     char *val, size_t n)
{
	char key[RK_KEYMAX];

	if (!*addr || strlen(addr) > ADDR_MAX)
		return -1;
	snprintf(key, sizeof key, "user:%s", addr);
	addr_lower(key);
	return lk->get(lk->ctx, POLICY_USERS, key, val, n);
}

/* A sender in the customer's own domains; 0 accepted, -1 refused. */
static int check_own_sender(const struct policy_lookup *lk,
			    struct policy_session *s, const char *cust,
			    const struct rule *r, const char *from,
			    struct policy_verdict *v, char *uval, size_t un)
{
	long ul = user_get(lk, from, uval, un);
	char ucust[POLICY_NAMEMAX] = "";

	if (ul >= 0)
		rk_get(uval, "customer", ucust, sizeof ucust);
	/* "user": the user (the operator's, or abuse monitoring's from
	 * sessions with AUTH) on every path; "sender": abuse monitoring's
	 * from sessions without AUTH, where the address is the client's
	 * word, so it refuses only that, never the user's AUTH */
	if (ul >= 0 && (suspended(lk, "user", from, uval) ||
			(!*s->user &&
			 lk->suspended(lk->ctx, ABUSE_KIND_SENDER, from)))) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Sender <%s>: the account is suspended.", from);
		return -1;
	}
	if (!strcmp(r->senders, "registered") &&
	    (ul < 0 || strcmp(ucust, cust) != 0)) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Sender <%s> refused by rule %s/%s "
			     "(senders=registered): not a registered user.",
			     from, cust, r->name);
		return -1;
	}
	if (ul >= 0)
		snprintf(s->rate_user, sizeof s->rate_user, "%s", from);
	else
		uval[0] = '\0';
	policy_trace(v, "sender <%s> is in customer %s's domains%s", from,
		     cust, ul >= 0 ? " and a registered user" : "");
	snprintf(v->from, sizeof v->from, "%s", from);
	return 0;
}

/* Sender check under the rule's mode (doc/BEHAVIOUR.md §2.3-2.4); 0 when accepted
 * with v->from set, -1 with the reply set.  Foreign (under senders=any)
 * and null senders need a customer found by AUTH or HELO, and become
 * postmaster@<that domain>. */
static int check_sender(const struct policy_lookup *lk,
			struct policy_session *s, const struct policy_ident *id,
			const struct rule *r, const char *from,
			struct policy_verdict *v, char *uval, size_t un)
{
	char fcust[POLICY_NAMEMAX] = "";
	size_t dl = strlen(id->domain);

	if (*from && policy_domain_customer(lk, addr_domain(from), fcust,
					    sizeof fcust) &&
	    !strcmp(fcust, id->cust))
		return check_own_sender(lk, s, id->cust, r, from, v, uval, un);
	uval[0] = '\0';
	if (*from && strcmp(r->senders, "any") != 0) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Sender <%s> refused by rule %s/%s (senders=%s): "
			     "%s is not a domain of customer %s.", from, id->cust,
			     r->name, r->senders, addr_domain(from), id->cust);
		return -1;
	}
	if (id->by == POLICY_BY_AUTH && !dl) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Sender <%s> refused: customer %s has no domain to "
			     "rewrite it to.", from, id->cust);
		return -1;
	}
	if ((id->by != POLICY_BY_AUTH && id->by != POLICY_BY_HELO) ||
	    dl + 11 >= sizeof v->from) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Sender <%s> is relayed only after SMTP AUTH or "
			     "with one of your domains in HELO/EHLO.", from);
		return -1;
	}
	memcpy(v->from, "postmaster@", 11);
	memcpy(v->from + 11, id->domain, dl + 1);
	v->rewritten = 1;
	policy_trace(v, "%s sender <%s> rewritten to <%s> (customer found by %s)",
		     *from ? "foreign" : "null", from, v->from,
		     id->by == POLICY_BY_AUTH ? "AUTH" : "HELO");
	return 0;
}

/* How the session fits rule r (number i of cust): 0 fits, else the
 * kind of miss; leaves a trace line either way. */
static int rule_fit(const struct policy_session *s, const char *cust, int i,
		    const struct rule *r, const struct policy_ipmatch *m,
		    int nm, struct policy_verdict *v, enum miss *miss)
{
	char id[2 * POLICY_NAMEMAX + 8];
	int ipok = 1, authok, tlsok, needip = strcmp(r->auth, "smtp") != 0;

	snprintf(id, sizeof id, "%s:%d", cust, i);
	if (needip) {
		ipok = 0;
		for (int k = 0; k < nm; k++)
			ipok |= !strcmp(m[k].rule, id);
	}
	authok = !strcmp(r->auth, "ip") || *s->user;
	tlsok = !r->tls || s->tls || s->plain_ok;
	policy_trace(v, "rule %s/%s (auth=%s tls=%s senders=%s): "
		     "address %s, AUTH %s, TLS %s", cust, r->name, r->auth,
		     r->tls ? "required" : "optional", r->senders,
		     !needip ? "not needed" : ipok ? "listed" : "not listed",
		     !strcmp(r->auth, "ip") ? "not needed" : authok ? "ok" : "missing",
		     !r->tls ? "not needed" : s->tls ? "ok" : tlsok
		     ? "waived (legacy_plain)" : "missing");
	if (ipok && authok && tlsok)
		return 0;
	if (ipok && !tlsok)
		*miss = MISS_TLS;
	else if (ipok && !authok && *miss < MISS_AUTH)
		*miss = MISS_AUTH;
	return -1;
}

static void miss_reply(struct policy_verdict *v, enum miss miss,
		       const char *ip)
{
	if (miss == MISS_TLS)
		policy_reply(v, POLICY_REJECT, 530, "5.7.0",
			     "Must issue a STARTTLS command first.");
	else if (miss == MISS_AUTH)
		policy_reply(v, POLICY_REJECT, 530, "5.7.0",
			     "Authentication required.");
	else
		deny_invalid(v, ip);
}

/* Try each rule of the customer in order; the first that accepts the
 * session and the sender wins.  Returns its index, or -1 with the reply
 * of the first sender refusal or else of the closest miss. */
static int pick_rule(const struct policy_lookup *lk, struct policy_session *s,
		     const struct policy_ident *ident, const char *custval,
		     const struct policy_ipmatch *m, int nm, const char *from,
		     struct rule *r, struct policy_verdict *v, char *uval,
		     size_t un)
{
	long n = rk_num(custval, "nrules", 0);
	enum miss miss = MISS_OTHER;
	struct {
		enum policy_action action;
		int code;
		char esc[sizeof v->esc], text[sizeof v->text];
	} ref = { POLICY_REJECT, 0, "", "" };

	for (int i = 0; i < n && i < 10000; i++) {
		if (load_rule(lk, ident->cust, i, r) < 0)
			continue;
		if (!r->enabled) {
			policy_trace(v, "rule %s/%s: disabled", ident->cust, r->name);
			continue;
		}
		if (rule_fit(s, ident->cust, i, r, m, nm, v, &miss) < 0)
			continue;
		if (check_sender(lk, s, ident, r, from, v, uval, un) == 0)
			return i;
		if (!ref.code) { /* the first sender refusal is the answer */
			ref.action = v->action;
			ref.code = v->code;
			memcpy(ref.esc, v->esc, sizeof ref.esc);
			memcpy(ref.text, v->text, sizeof ref.text);
		}
	}
	if (ref.code)
		policy_reply(v, ref.action, ref.code, ref.esc, "%s", ref.text);
	else
		miss_reply(v, miss, s->ip);
	return -1;
}

static const char *by_name(enum policy_by b)
{
	static const char *const n[] = { "nothing", "AUTH identity",
					 "HELO/EHLO name", "sender domain" };
	return n[b];
}

/* 1 when abuse monitoring suspended the device account acct. */
static int device_suspended(const struct policy_lookup *lk, const char *acct)
{
	char kind[16];
	const char *name;

	return abuse_split(acct, kind, sizeof kind, &name) == 0 &&
	       lk->suspended(lk->ctx, kind, name);
}

/* A device (no AUTH) that abuse monitoring suspended (lib/abuse.h
 * abuse_device): its own account; the address alone, which stands for
 * every device there (they could not be told apart); when the HELO did
 * not name the customer, any account of that address (the device may
 * type anything else there: the HELO is not a way out); and the key of
 * before HELOs were normalised (a suspension made then stays in force).
 * The customer's other devices and users go on.  0 when fine. */
static int check_device(const struct policy_lookup *lk,
			const struct policy_session *s,
			struct policy_verdict *v)
{
	char acct[ABUSE_KEY_MAX], ipkey[ABUSE_KEY_MAX], old[ABUSE_KEY_MAX];
	const char *hit = NULL;

	if (*s->user || abuse_device(acct, sizeof acct, s->ip, s->helo,
				     s->helo_named) < 0 ||
	    abuse_device(ipkey, sizeof ipkey, s->ip, "", 0) < 0)
		return 0;
	if (device_suspended(lk, acct))
		hit = acct;
	else if (device_suspended(lk, ipkey))
		hit = ipkey;
	else if (!s->helo_named && strlen(ipkey) + 3 < sizeof ipkey &&
		 device_suspended(lk, strcat(ipkey, "/*")))
		hit = ipkey;
	else if (abuse_device_typed(old, sizeof old, s->ip, s->helo) == 0 &&
		 device_suspended(lk, old))
		hit = old;
	if (!hit)
		return 0;
	policy_reply(v, POLICY_REJECT, 550, "5.7.1",
		     "The account %s is suspended.", hit); /* encoded */
	return -1;
}

/* Customer-level refusals: missing record, suspensions.  0 when fine. */
static int check_customer(const struct policy_lookup *lk,
			  const struct policy_session *s, const char *cust,
			  char *custval, size_t n, struct policy_verdict *v)
{
	char key[RK_KEYMAX], uval[RK_VALMAX];

	snprintf(key, sizeof key, "customer:%s", cust);
	if (lk->get(lk->ctx, POLICY_RULES, key, custval, n) < 0) {
		policy_reply(v, POLICY_TEMPFAIL, 451, "4.3.0",
			     "Relay rules unavailable, try again later.");
		return -1;
	}
	if (suspended(lk, "customer", cust, custval)) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "The account of customer %s is suspended.", cust);
		return -1;
	}
	if (*s->user && user_get(lk, s->user, uval, sizeof uval) >= 0 &&
	    suspended(lk, "user", s->user, uval)) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "The account %s is suspended.", s->user);
		return -1;
	}
	return check_device(lk, s, v);
}

/* 1 when the customer of match x has one of the ntop matches of the
 * longest prefix, m[0..ntop-1]. */
static int owns(const struct policy_ipmatch *m, int ntop,
		const struct policy_ipmatch *x)
{
	size_t xl = strcspn(x->rule, ":");

	for (int j = 0; j < ntop; j++)
		if (strcspn(m[j].rule, ":") == xl &&
		    !strncmp(m[j].rule, x->rule, xl))
			return 1;
	return 0;
}

/* 1 when one of the matches is a rule of customer cust. */
static int listed_for(const struct policy_ipmatch *m, int nm, const char *cust)
{
	size_t cl = strlen(cust);

	for (int k = 0; k < nm; k++)
		if (!strncmp(m[k].rule, cust, cl) && m[k].rule[cl] == ':')
			return 1;
	return 0;
}

/* The longest prefix decides which customer an address is registered to
 * (makecdb warns when two customers' ranges overlap).  Several customers
 * listing the same range of that length all own it: the customer
 * identified (AUTH, HELO, sender) picks among them.  Keep only the
 * owners' matches, whose rules may then all accept it; drop the wider
 * ranges of other customers.  Returns the new count. */
static int owner_matches(struct policy_verdict *v, struct policy_ipmatch *m,
			 int nm)
{
	int k, n = 0, ntop = 1;

	if (!nm) {
		policy_trace(v, "address not listed in any enabled rule");
		return 0;
	}
	while (ntop < nm && m[ntop].bits == m[0].bits)
		ntop++; /* sorted longest first; these stay where they are */
	for (k = 0; k < nm; k++) {
		int own = owns(m, ntop, &m[k]);
		policy_trace(v, "address in a /%d (IPv6 terms) of rule %s%s",
			     m[k].bits, m[k].rule,
			     own ? "" : ": another customer's wider range, ignored");
		if (own)
			m[n++] = m[k];
	}
	return n;
}

/* MAIL accepted under customer cust's rule: the session remembers the
 * sender (as v->from has it, rewritten or not) and its limits. */
static void mail_accept(struct policy_session *s, const char *from,
			const char *cust, const char *rule, const char *custval,
			const char *uval, struct policy_verdict *v)
{
	snprintf(v->rule, sizeof v->rule, "%s", rule);
	s->mail_ok = 1;
	s->null_sender = !*from;
	snprintf(s->from, sizeof s->from, "%s", v->from);
	snprintf(s->customer, sizeof s->customer, "%s", cust);
	snprintf(s->rule, sizeof s->rule, "%s", rule);
	rate_limits_rules(&s->lim, custval, *uval ? uval : NULL);
	policy_reply(v, POLICY_ACCEPT, 250, "2.1.0", "Sender <%s> ok (rule %s/%s)",
		     v->from, cust, rule);
}

void policy_decide_mail(const struct policy_lookup *lk,
			struct policy_session *s, const char *from,
			struct policy_verdict *v)
{
	struct policy_ipmatch m[RK_IP_RULES_MAX];
	struct policy_ident id;
	struct rule r;
	char custval[RK_VALMAX], uval[RK_VALMAX], canon[ADDR_MAX + 1];
	int nm;

	policy_session_reset(s);
	if (*from && addr_mailbox_check(from, 1) != ADDR_OK) {
		/* relay-smtpd checked it with the same function: only a
		 * client of this socket other than relay-smtpd gets here */
		policy_reply(v, POLICY_REJECT, 501, "5.1.7",
			     "Syntax error in mailbox address");
		return;
	}
	/* one mailbox, one form for the user, its limits and suspension
	 * (relay-smtpd sends it so; relayctl explain may not) */
	snprintf(canon, sizeof canon, "%s", from);
	addr_canonical(canon);
	from = canon;
	nm = s->addr_ok ? policy_ip_matches(lk, &s->addr, m, RK_IP_RULES_MAX)
			: 0;
	policy_trace(v, "client [%s] helo=%s auth=%s tls=%s sender=<%s>", s->ip,
		     *s->helo ? s->helo : "-", *s->user ? s->user : "-",
		     s->tls ? "yes" : "no", from);
	nm = owner_matches(v, m, nm);
	if (!*s->user && !nm) {
		policy_reply(v, POLICY_REJECT, 550, "5.7.0",
			     "Mail relay denied [%s].", s->ip);
		return;
	}
	policy_identify(lk, s, from, &id);
	if (id.by == POLICY_BY_NONE) {
		policy_trace(v, "no customer found by AUTH, HELO/EHLO or sender");
		deny_invalid(v, s->ip);
		return;
	}
	policy_trace(v, "customer %s found by %s (%s)", id.cust, by_name(id.by),
		     id.by == POLICY_BY_AUTH ? s->user : id.domain);
	snprintf(v->customer, sizeof v->customer, "%s", id.cust);
	s->helo_named = id.by == POLICY_BY_HELO;
	if (!*s->user && !listed_for(m, nm, id.cust)) {
		/* an address of other customers only: the client must prove
		 * it is this one's (doc/BEHAVIOUR.md §2.2), whatever AUTH
		 * rules this one has */
		policy_trace(v, "address registered to another customer, "
			     "not to %s, and no AUTH", id.cust);
		deny_invalid(v, s->ip);
		return;
	}
	if (check_customer(lk, s, id.cust, custval, sizeof custval, v) < 0 ||
	    pick_rule(lk, s, &id, custval, m, nm, from, &r, v, uval,
		      sizeof uval) < 0)
		return;
	mail_accept(s, from, id.cust, r.name, custval, uval, v);
}
