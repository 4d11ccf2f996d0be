/* policy_rcpt.c: RCPT TO decisions, the recipient forms refused for
 * relay, the rate-limit replies, and the reply/trace helpers.
 *
 * Recipient forms: an authorised client has no need of %-hacks, bang
 * paths, quoted local parts holding '@', source routes, IP literals or a
 * trailing dot, and each is a way to make a next hop relay further, so
 * they are refused (553 5.1.3) even for accepted senders, also when a
 * non-ASCII domain only maps onto one of them by IDNA. */
#include "policy_decide.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "idna.h"
#include "rulekeys.h"

void policy_verdict_init(struct policy_verdict *v)
{
	/* the trace (8 KiB, explain's alone) and the proof are strings:
	 * their first byte does; zeroing them whole was most of a request's
	 * memset, four requests a message */
	memset(v, 0, offsetof(struct policy_verdict, trace));
	v->trace[0] = '\0';
	v->tlen = 0;
	v->admit[0] = '\0';
	v->action = POLICY_ACCEPT;
}

void policy_reply(struct policy_verdict *v, enum policy_action a, int code,
		  const char *esc, const char *fmt, ...)
{
	va_list ap;

	v->action = a;
	v->code = code;
	snprintf(v->esc, sizeof v->esc, "%s", esc);
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof v->text, fmt, ap);
	va_end(ap);
	/* the text goes on the wire: no control bytes */
	for (char *p = v->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void policy_trace(struct policy_verdict *v, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* only explain reads it: a request of a session formats nothing */
	if (!v->tracing || v->tlen + 2 >= sizeof v->trace)
		return;
	va_start(ap, fmt);
	n = vsnprintf(v->trace + v->tlen, sizeof v->trace - v->tlen - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* peer text (HELO, addresses) ends up on an operator's terminal */
	for (char *p = v->trace + v->tlen; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	v->tlen += (size_t)n < sizeof v->trace - v->tlen - 1
			   ? (size_t)n
			   : sizeof v->trace - v->tlen - 2;
	v->trace[v->tlen++] = '\n';
	v->trace[v->tlen] = '\0';
}

void policy_session_init(struct policy_session *s, const char *ip)
{
	memset(s, 0, sizeof *s);
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	s->addr_ok = ipaddr_parse(ip, &s->addr) == 0;
}

void policy_session_reset(struct policy_session *s)
{
	s->mail_ok = s->null_sender = s->nrcpt = s->helo_named = 0;
	s->from[0] = s->customer[0] = s->rule[0] = s->rate_user[0] = '\0';
	memset(&s->lim, 0, sizeof s->lim);
}

/* 1 when the last label is all digits: no such top-level domain exists
 * (RFC 3696), and "1.2.3.4" would reach an address without its brackets
 * wherever a resolver answers NODATA and the name is taken as a host. */
static int numeric_tld(const char *d)
{
	const char *dot = strrchr(d, '.');
	const char *tld = dot ? dot + 1 : d;

	return strspn(tld, "0123456789") == strlen(tld);
}

/* The refusals of a recipient's domain d, NULL when none. */
static const char *domain_refusal(const char *d)
{
	if (*d == '[')
		return "IP address literal";
	if (d[strlen(d) - 1] == '.')
		return "trailing dot in the domain";
	if (!addr_domain_valid(d, 0))
		return "malformed domain";
	if (numeric_tld(d))
		return "numeric top-level domain";
	return NULL;
}

/* The domain as written, then as the DNS and relay-remote will see it:
 * UTS #46 maps look-alikes ("［1.2.3.4］", "127.0.0.１") onto the forms
 * refused.  A name without an A-label is left to relay-remote (a
 * bounce) or the next hop. */
static const char *domain_refusals(const char *d)
{
	char a[ADDR_DOMAIN_MAX + 1];
	const char *why = domain_refusal(d);

	if (!why && idna_alabel(d, a, sizeof a, NULL) == IDNA_OK)
		why = domain_refusal(a);
	return why;
}

const char *policy_rcpt_refusal(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@'), *why;
	size_t ln;

	if (!at || at == rcpt || !at[1])
		return "no local part or no domain";
	ln = (size_t)(at - rcpt);
	if (memchr(rcpt, '"', ln) || memchr(rcpt, '\\', ln))
		return "quoted local part";
	if (memchr(rcpt, '@', ln))
		return "'@' inside the local part";
	if (memchr(rcpt, '%', ln))
		return "'%' routing";
	if (memchr(rcpt, '!', ln))
		return "'!' routing";
	if (memchr(rcpt, ':', ln) || memchr(rcpt, ',', ln))
		return "source route";
	if ((why = domain_refusals(at + 1)))
		return why;
	if (addr_mailbox_check(rcpt, 1) != ADDR_OK)
		return "not a valid mailbox";
	return NULL;
}

void policy_decide_rcpt(const struct policy_lookup *lk,
			struct policy_session *s, const char *rcpt,
			struct policy_verdict *v)
{
	const char *why;

	(void)lk;
	if (!s->mail_ok) {
		policy_reply(v, POLICY_REJECT, 503, "5.5.1",
			     "Sender not accepted yet: MAIL first.");
		return;
	}
	if ((why = policy_rcpt_refusal(rcpt))) {
		policy_trace(v, "recipient <%s> refused: %s", rcpt, why);
		policy_reply(v, POLICY_REJECT, 553, "5.1.3",
			     "Recipient address not accepted for relay: %s.", why);
		return;
	}
	if (s->null_sender && s->nrcpt >= 1) {
		policy_reply(v, POLICY_REJECT, 550, "5.5.3",
			     "The null sender <> takes only one recipient.");
		return;
	}
	policy_trace(v, "recipient <%s> accepted", rcpt);
	policy_reply(v, POLICY_ACCEPT, 250, "2.1.5", "Recipient <%s> ok", rcpt);
}

void policy_rate_reply(enum rate_verdict r, struct policy_verdict *v)
{
	switch (r) {
	case RATE_OK:
		return;
	case RATE_USER_DAILY:
		policy_reply(v, POLICY_REJECT, 550, "5.4.5",
			     "Daily SMTP relay limit exceeded for user.");
		return;
	case RATE_CUST_DAILY:
		policy_reply(v, POLICY_REJECT, 550, "5.7.1",
			     "Daily SMTP relay limit exceeded for customer.");
		return;
	case RATE_CUST_PEAK:
		policy_reply(v, POLICY_TEMPFAIL, 450, "4.2.1",
			     "Peak SMTP relay limit exceeded for customer.");
		return;
	default:
		policy_reply(v, POLICY_TEMPFAIL, 451, "4.3.0",
			     "Rate counters unavailable, try again later.");
		return;
	}
}
