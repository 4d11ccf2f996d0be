/* policy_decide.h: the relay decision of doc/BEHAVIOUR.md §2 as a pure function of
 * the session facts and the rules (through struct policy_lookup).  Shared
 * by the daemon's phases and by explain; it keeps no state of its own. */
#ifndef POLICY_DECIDE_H
#define POLICY_DECIDE_H

#include <stddef.h>

#include "addr.h"
#include "admit.h"
#include "ipaddr.h"
#include "policy_db.h"
#include "rate.h"

#define POLICY_NAMEMAX 64
#define POLICY_TRACEMAX 8192

enum policy_action { POLICY_ACCEPT, POLICY_REJECT, POLICY_TEMPFAIL };

/* How the customer was found (doc/BEHAVIOUR.md §2.2, in this order). */
enum policy_by { POLICY_BY_NONE, POLICY_BY_AUTH, POLICY_BY_HELO,
		 POLICY_BY_SENDER };

/* What policy knows of one SMTP session. */
struct policy_session {
	char ip[64];
	struct ipaddr addr;
	int addr_ok;
	char helo[256];
	char user[ADDR_MAX + 1];  /* AUTH identity verified by policy, or "" */
	int tls;
	int plain_ok;             /* a legacy device with legacy_plain: a
				   * rule's tls=yes is waived (legacy.h) */
	/* the transaction, set by a MAIL that was accepted */
	int mail_ok, null_sender, nrcpt;
	int helo_named;           /* the customer was found by the HELO */
	char from[ADDR_MAX + 1];  /* the envelope sender after any rewrite */
	char customer[POLICY_NAMEMAX], rule[POLICY_NAMEMAX];
	char rate_user[ADDR_MAX + 1]; /* envelope sender when a registered user */
	struct rate_limits lim;
};

struct policy_verdict {
	enum policy_action action;
	int code;
	char esc[16];
	char text[512];
	char from[ADDR_MAX + 1];  /* mail: the envelope sender to use */
	int rewritten;
	char customer[POLICY_NAMEMAX], rule[POLICY_NAMEMAX];
	int tracing;              /* explain: policy_trace writes the trace */
	/* trace, tlen and admit stay last: policy_verdict_init zeroes what
	 * comes before trace and sets these three itself (8 KiB a request) */
	char trace[POLICY_TRACEMAX]; /* explain: lines ending in '\n' */
	size_t tlen;
	char admit[ADMIT_PROOF_MAX]; /* data: the proof for relay-queue */
};

/* Set ip (and addr when it parses) in a fresh session. */
void policy_session_init(struct policy_session *s, const char *ip);
/* Forget the transaction (RSET, new MAIL, after commit). */
void policy_session_reset(struct policy_session *s);

/* MAIL FROM: from is the mailbox, "" for <>.  On accept the transaction
 * is set in s (customer, rule, rewritten sender, limits). */
void policy_decide_mail(const struct policy_lookup *lk,
			struct policy_session *s, const char *from,
			struct policy_verdict *v);
/* RCPT TO, before rate limits (the caller applies rate_rcpt on accept
 * and then counts s->nrcpt). */
void policy_decide_rcpt(const struct policy_lookup *lk,
			struct policy_session *s, const char *rcpt,
			struct policy_verdict *v);
/* Map a rate verdict to its reply (RATE_OK leaves v alone). */
void policy_rate_reply(enum rate_verdict r, struct policy_verdict *v);

/* Reply and trace helpers; policy_trace adds a line to v's trace only
 * when v->tracing (explain), and is nothing otherwise. */
void policy_reply(struct policy_verdict *v, enum policy_action a, int code,
		  const char *esc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void policy_trace(struct policy_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void policy_verdict_init(struct policy_verdict *v);

/* Recipient forms refused for relay (%, !, quoted @, IP literals, trailing
 * dot, no domain): the reason, or NULL when the address is plain. */
const char *policy_rcpt_refusal(const char *rcpt);

#endif
