/* smtp_mail.c: MAIL FROM and RCPT TO: syntax here (lib/addr.c and
 * smtp_cmd.c), every decision by relay-policy. */
#include "smtp_session.h"
#include "smtp_cmd.h"
#include "log.h"
#include "settings.h"
#include "wire_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* lib/addr.h statuses as replies; the second field is for MAIL (sender
 * codes 5.1.7/5.1.8), the third for RCPT (5.1.3/5.1.2). */
static const struct {
	enum addr_status st;
	int code;
	const char *esc_mail, *esc_rcpt;
} addr_replies[] = {
	{ ADDR_SYNTAX, 501, "5.1.7", "5.1.3" },
	{ ADDR_TOOLONG, 501, "5.1.7", "5.1.3" },
	{ ADDR_ROUTE, 553, "5.1.7", "5.1.3" },
	{ ADDR_NODOMAIN, 553, "5.1.7", "5.1.3" },
	{ ADDR_BADDOMAIN, 553, "5.1.8", "5.1.2" },
	{ ADDR_8BIT, 553, "5.6.7", "5.6.7" },
	{ ADDR_NULL, 501, "5.1.7", "5.1.3" },
	{ ADDR_UNSAFE, 553, "5.1.7", "5.1.3" },
	{ ADDR_BADUTF8, 553, "5.6.7", "5.6.7" },
};

static void addr_refuse(struct smtp_session *s, enum addr_status st,
			int is_rcpt)
{
	for (size_t i = 0; i < sizeof addr_replies / sizeof addr_replies[0]; i++)
		if (addr_replies[i].st == st) {
			smtp_reply(s, "%d %s %s", addr_replies[i].code,
				   is_rcpt ? addr_replies[i].esc_rcpt
					   : addr_replies[i].esc_mail,
				   addr_status_text(st));
			smtp_session_error(s);
			return;
		}
	smtp_reply(s, "501 5.5.4 Syntax error in address");
	smtp_session_error(s);
}

/* Parse "FROM:<path> params" (kw "FROM:") or "TO:...": 0 with the mailbox
 * in out and *rest at the parameters, -1 after replying. */
static int path_arg(struct smtp_session *s, const char *arg, int is_rcpt,
		    char *out, size_t outsz, const char **rest)
{
	const char *p = smtp_cmd_after(arg, is_rcpt ? "TO:" : "FROM:");
	enum addr_status st;

	if (!p) {
		smtp_reply(s, "501 5.5.4 Syntax: %s", is_rcpt ?
			   "RCPT TO:<address>" : "MAIL FROM:<address>");
		smtp_session_error(s);
		return -1;
	}
	/* 8-bit is judged after the parameters (SMTPUTF8 comes last) */
	st = addr_parse_path(p, !is_rcpt, 1, out, outsz, rest);
	if (st != ADDR_OK) {
		addr_refuse(s, st, is_rcpt);
		return -1;
	}
	return 0;
}

/* After HELO no extension was offered, so no parameter is one this
 * session implements (RFC 5321 4.1.1.11: 555): 1 after refusing one. */
static int params_without_ehlo(struct smtp_session *s, const char *rest)
{
	if (s->esmtp || !*rest)
		return 0;
	smtp_reply(s, "555 5.5.4 Parameters need EHLO, not HELO");
	smtp_session_error(s);
	return 1;
}

/* Policy's verdict on MAIL; 0 when the transaction may start. */
static int mail_policy(struct smtp_session *s, const char *from, long size)
{
	struct smtp_verdict v;
	struct kv req;
	int rc;

	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_MAIL);
	kv_add(&req, WIRE_POLICY_FROM, from);
	kv_addf(&req, WIRE_POLICY_SIZE, "%ld", size < 0 ? 0 : size);
	rc = smtp_session_decide(s, &req, &v, 550, "5.7.1", "Sender refused");
	kv_free(&req);
	if (rc < 0)
		return -1;
	smtp_policy_defaults(&v, 250, "2.1.0", "Ok");
	snprintf(s->from, sizeof s->from, "%s", v.has_from ? v.from : from);
	s->null_sender = !*from;
	snprintf(s->customer, sizeof s->customer, "%s", v.customer);
	smtp_reply_verdict(s, &v);
	return 0;
}

void smtp_mail_from(struct smtp_session *s, char *arg)
{
	char from[ADDR_MAX + 1], reply[128];
	struct smtp_mail_params p;
	const char *rest;

	if (!s->helo_seen || s->in_mail) {
		smtp_reply(s, "503 5.5.1 Error: %s", s->in_mail ?
			   "nested MAIL command" : "send HELO/EHLO first");
		smtp_session_error(s);
		return;
	}
	if (path_arg(s, arg, 0, from, sizeof from, &rest) < 0 ||
	    params_without_ehlo(s, rest))
		return;
	if (smtp_cmd_mail_params(rest, cf.message_size_max, &p, reply,
				 sizeof reply)) {
		smtp_reply(s, "%s", reply);
		smtp_session_error(s);
		return;
	}
	if (!p.smtputf8 && smtp_cmd_has_8bit(from)) {
		addr_refuse(s, ADDR_8BIT, 0);
		return;
	}
	if (mail_policy(s, from, p.size) < 0)
		return;
	s->in_mail = 1;
	s->smtputf8 = p.smtputf8;
	s->body8 = p.body8;
	s->dsn_ret = p.ret;
	memcpy(s->dsn_envid, p.envid, sizeof s->dsn_envid);
}

/* Policy's verdict on one recipient; 0 when accepted. */
static int rcpt_policy(struct smtp_session *s, const char *rcpt)
{
	struct smtp_verdict v;
	struct kv req;
	int rc;

	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_RCPT);
	kv_add(&req, WIRE_POLICY_RCPT, rcpt);
	rc = smtp_session_decide(s, &req, &v, 550, "5.7.1", "Recipient refused");
	kv_free(&req);
	if (rc < 0)
		return -1;
	if (v.admit.proof[0]) /* covers this recipient and those before */
		s->admit = v.admit;
	smtp_policy_defaults(&v, 250, "2.1.5", "Ok");
	smtp_reply_verdict(s, &v);
	return 0;
}

/* Room for one more recipient, made before asking policy so that an
 * accepted recipient is never lost to a failed allocation. */
static char *rcpt_reserve(struct smtp_session *s, const char *rcpt)
{
	char **nr = realloc(s->rcpt, (s->nrcpt + 1) * sizeof *nr);
	if (!nr)
		return NULL;
	s->rcpt = nr;
	nr = realloc(s->rcpt_dsn, (s->nrcpt + 1) * sizeof *nr);
	if (!nr)
		return NULL;
	s->rcpt_dsn = nr;
	return strdup(rcpt);
}

/* The recipient's DSN parameters as the envelope carries them, or NULL
 * (none given); *bad set when memory ran out. */
static char *rcpt_dsn_text(const struct smtp_rcpt_params *p, int *bad)
{
	struct dsn_rcpt r = { p->notify, p->orcpt[0] ? p->orcpt : NULL };
	char buf[DSN_RCPT_TEXT], *t;

	if (!r.notify && !r.orcpt)
		return NULL;
	t = strdup(dsn_rcpt_format(&r, buf));
	*bad = !t;
	return t;
}

/* 1 when two mailboxes name the same recipient: the local part as
 * written (it may be case-sensitive at its host), the domain in any case. */
static int rcpt_same(const char *a, const char *b)
{
	const char *da = addr_domain(a), *db = addr_domain(b);

	return da - a == db - b && !memcmp(a, b, (size_t)(da - a)) &&
	       !strcasecmp(da, db);
}

/* 1 when this transaction already holds rcpt with the same DSN
 * parameters: a client's repeat is delivered and counted once. */
static int rcpt_repeated(const struct smtp_session *s, const char *rcpt,
			 const char *dsn)
{
	for (size_t i = 0; i < s->nrcpt; i++)
		if (rcpt_same(s->rcpt[i], rcpt) &&
		    !strcmp(s->rcpt_dsn[i] ? s->rcpt_dsn[i] : "",
			    dsn ? dsn : ""))
			return 1;
	return 0;
}

/* RCPT TO:<Postmaster> without a domain (RFC 5321 4.1.1.3, the local
 * part in any case): 1 when arg is that. */
static int rcpt_bare_postmaster(const char *arg)
{
	const char *p = smtp_cmd_after(arg, "TO:");

	if (!p)
		return 0;
	while (*p == ' ')
		p++;
	p = smtp_cmd_after(p, "<Postmaster>");
	return p && (*p == '\0' || *p == ' ');
}

void smtp_mail_rcpt(struct smtp_session *s, char *arg)
{
	char rcpt[ADDR_MAX + 1], reply[128], *copy, *dsn;
	struct smtp_rcpt_params p;
	const char *rest;
	int bad = 0;

	if (!s->in_mail || s->bdat) {
		smtp_reply(s, "503 5.5.1 Error: %s", s->bdat ?
			   "RCPT after BDAT" : "need MAIL command");
		smtp_session_error(s);
		return;
	}
	if (rcpt_bare_postmaster(arg)) {
		/* RFC 5321 4.5.1 wants it accepted and delivered here, but
		 * this relay delivers nothing locally and relays only to a
		 * domain: refused as before (counted as an error, as the
		 * "no domain" it got), now saying why */
		smtp_reply(s, "550 5.1.1 <Postmaster>: this relay has no local "
			      "mailboxes (name a domain)");
		smtp_session_error(s);
		return;
	}
	if (path_arg(s, arg, 1, rcpt, sizeof rcpt, &rest) < 0 ||
	    params_without_ehlo(s, rest))
		return;
	if (smtp_cmd_rcpt_params(rest, &p, reply, sizeof reply)) {
		smtp_reply(s, "%s", reply);
		smtp_session_error(s);
		return;
	}
	if (!s->smtputf8 && smtp_cmd_has_8bit(rcpt)) {
		addr_refuse(s, ADDR_8BIT, 1);
		return;
	}
	if (!s->smtputf8 && p.orcpt_utf8) {
		smtp_reply(s, "553 5.6.7 ORCPT in UTF-8 needs SMTPUTF8 on MAIL "
			      "FROM");
		smtp_session_error(s);
		return;
	}
	dsn = rcpt_dsn_text(&p, &bad);
	if (!bad && rcpt_repeated(s, rcpt, dsn)) {
		free(dsn);
		smtp_reply(s, "250 2.1.5 Ok (repeated recipient, kept once)");
		return;
	}
	if ((long)s->nrcpt >= cf.rcpt_max) {
		/* not an error: the client sends the rest in a new transaction */
		free(dsn);
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	copy = rcpt_reserve(s, rcpt);
	if (!copy || bad) {
		free(copy);
		free(dsn);
		smtp_session_close421(s, "4.3.0", "Out of memory");
		return;
	}
	if (rcpt_policy(s, rcpt) < 0) {
		free(copy);
		free(dsn);
		return;
	}
	s->rcpt_dsn[s->nrcpt] = dsn;
	s->rcpt[s->nrcpt++] = copy;
}
