/* policy_admit.c: relay-policy's side of queue admission (lib/admit.h):
 * the proof given with an accepted DATA, over what policy itself knows
 * of the session (client IP, HELO, the AUTH identity it verified, the
 * customer and sender it decided, the sender again when it is a
 * registered user and there is no AUTH, whether the client's sender was
 * <> before the rewrite, the recipients it accepted, in order), and the
 * check of relay-queue's receipt before a commit counts.
 * Without a key (relay-policy not started by relay-master) there are no
 * proofs and a commit counts on relay-smtpd's word, as before. */
#include "policy_server.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"

void policy_admit_reset(struct policy_conn *c)
{
	admit_rcpt_start(c->rcpts);
	c->admitted = 0;
}

void policy_admit_rcpt(struct policy_conn *c, const char *rcpt)
{
	admit_rcpt_add(c->rcpts, rcpt);
}

/* The sender when it is a registered user and there is no AUTH, in
 * users.cdb's (lower) case: one account however the client spells it. */
static const char *registered(const struct policy_conn *c,
			      char out[ADDR_MAX + 1])
{
	snprintf(out, ADDR_MAX + 1, "%s", *c->s.user ? "" : c->s.rate_user);
	addr_lower(out);
	return out;
}

/* The HELO named the customer: abuse monitoring's device key keeps it
 * (lib/abuse.h abuse_device). */
static const char *helo_named(const struct policy_conn *c)
{
	return c->s.helo_named ? ADMIT_WIRE_YES : "";
}

/* The client's MAIL FROM was <>: policy rewrote it (policy_decide.c),
 * the message is a bounce all the same. */
static const char *null_sender(const struct policy_conn *c)
{
	return c->s.null_sender ? ADMIT_WIRE_YES : "";
}

void policy_admit_issue(struct policy_srv *srv, struct policy_conn *c,
			struct policy_verdict *v)
{
	char reg[ADDR_MAX + 1];
	struct admit_txn t;

	if (!srv->key.ok || v->action != POLICY_ACCEPT)
		return;
	t.epoch = srv->epoch;
	/* one number a transaction: each accepted RCPT's proof (and DATA's)
	 * covers the recipients so far under the same seq, so relay-queue
	 * takes one of them at most, and seqs go by messages, not by
	 * recipients (relay-queue's replay window is 2^20 seqs) */
	t.seq = c->admitted ? c->admit_seq : ++srv->seq;
	t.ms = admit_now_ms();
	t.ip = c->s.ip;
	t.helo = c->s.helo;
	t.auth = c->s.user;
	t.customer = c->s.customer;
	t.registered = registered(c, reg);
	t.helo_named = helo_named(c);
	t.from = c->s.from;
	t.null_sender = null_sender(c);
	memcpy(t.rcpts, c->rcpts, sizeof t.rcpts);
	admit_proof(&srv->key, &t, v->admit);
	c->admitted = 1;
	c->admit_seq = t.seq;
}

void policy_admit_reply(const struct policy_conn *c,
			const struct policy_verdict *v, struct kv *rep)
{
	char reg[ADDR_MAX + 1];

	if (!v->admit[0])
		return;
	kv_add(rep, ADMIT_WIRE_PROOF, v->admit);
	kv_add(rep, ADMIT_WIRE_IP, c->s.ip);
	kv_add(rep, ADMIT_WIRE_HELO, c->s.helo);
	kv_add(rep, ADMIT_WIRE_AUTH, c->s.user);
	kv_add(rep, ADMIT_WIRE_CUSTOMER, c->s.customer);
	kv_add(rep, ADMIT_WIRE_REGISTERED, registered(c, reg));
	kv_add(rep, ADMIT_WIRE_HELO_NAMED, helo_named(c));
	kv_add(rep, ADMIT_WIRE_NULL_SENDER, null_sender(c));
}

int policy_admit_commit(struct policy_srv *srv, struct policy_conn *c,
			const char *qid, const char *receipt)
{
	int ok;

	if (!srv->key.ok)
		return 1;
	ok = c->admitted && admit_receipt_ok(&srv->key, srv->epoch,
					     c->admit_seq, qid, receipt);
	c->admitted = 0;
	if (!ok) {
		char q[80];
		log_clean(q, sizeof q, qid, strlen(qid));
		log_warn("%s: commit without relay-queue's receipt for this "
			 "session's transaction: not counted", q);
	}
	return ok;
}
