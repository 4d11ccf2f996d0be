/* smtp_verbs.c: the simple verbs: HELO, EHLO, RSET, NOOP, QUIT, VRFY,
 * HELP, and those not implemented (EXPN, TURN, ETRN).  MAIL/RCPT are in smtp_mail.c, DATA in smtp_txn.c, BDAT in
 * smtp_bdat.c. */
#include "smtp_session.h"
#include "log.h"
#include "settings.h"
#include "wire_policy.h"

#include <stdio.h>
#include <string.h>

/* A HELO name goes into the log, the envelope and Received:; one with
 * a space, a control byte or DEL is no host name and could not be
 * queued (relay-queue refuses such an info field).  8-bit bytes are
 * taken, as devices send them: the log and relay-queue's Received:
 * write them escaped. */
static int helo_name_ok(const char *arg, size_t max)
{
	size_t n = strlen(arg);

	if (n == 0 || n >= max)
		return 0;
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

/* Shared by HELO and EHLO: 0 when policy accepted the name. */
static int helo_check(struct smtp_session *s, const char *arg,
		      const char *verb)
{
	struct kv req;
	int rc;

	if (!helo_name_ok(arg, sizeof s->helo)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		smtp_session_error(s);
		return -1;
	}
	/* policy always accepts a HELO name (it only remembers it): the
	 * frame goes out with the next request, no round trip of its own */
	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_HELO);
	kv_add(&req, WIRE_POLICY_HELO, arg);
	rc = smtp_policy_tell(&s->policy, &req, 1);
	kv_free(&req);
	if (rc < 0) {
		smtp_session_policy_lost(s);
		return -1;
	}
	/* a new HELO/EHLO ends any transaction (RFC 5321 4.1.4) */
	smtp_session_reset_tx(s, 1);
	strcpy(s->helo, arg);
	s->helo_seen = 1;
	return 0;
}

void smtp_verb_helo(struct smtp_session *s, char *arg)
{
	if (helo_check(s, arg, "HELO") < 0)
		return;
	s->esmtp = 0;
	smtp_reply(s, "250 %s", cf.hostname);
}

void smtp_verb_ehlo(struct smtp_session *s, char *arg)
{
	const char *ext[16];
	char size[40];
	size_t n = 0;

	if (helo_check(s, arg, "EHLO") < 0)
		return;
	s->esmtp = 1;
	snprintf(size, sizeof size, "SIZE %ld", cf.message_size_max);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "CHUNKING";
	ext[n++] = "DSN";
	if (cf.tls_cert[0] && !s->tls)
		ext[n++] = "STARTTLS";
	if (s->tls)
		ext[n++] = "AUTH PLAIN LOGIN";
	smtp_reply(s, "250-%s", cf.hostname);
	for (size_t i = 0; i < n; i++)
		smtp_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', ext[i]);
}

void smtp_verb_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_session_reset_tx(s, 1);
	smtp_reply(s, "250 2.0.0 Ok");
}

void smtp_verb_noop(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "250 2.0.0 Ok");
}

void smtp_verb_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	/* relay-policy hears of the let-go transaction before the client
	 * hears 221: a client that reconnects at once then finds the
	 * recipients it had reserved free again */
	smtp_session_reset_tx(s, 1);
	smtp_reply(s, "221 2.0.0 %s Bye", cf.hostname);
	s->quit = 1;
	s->outcome = "quit";
}

void smtp_verb_vrfy(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
		      "and attempt delivery");
}

/* EXPN (base protocol), TURN and ETRN: known, not implemented (RFC 5321
 * 4.2.4: 502, not 500).  Counted as an error as an unknown verb is, so
 * they are no way round errors_max. */
void smtp_verb_unimplemented(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "502 5.5.1 Command not implemented");
	smtp_session_error(s);
}

void smtp_verb_help(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
		      "QUIT VRFY HELP STARTTLS AUTH BDAT");
}
