/* smtp_txn.c: the DATA command: ask policy, open a queue job, read the
 * message straight into relay-queue, take policy's answer, and answer
 * 250 only when the queue said the message is durable.  Then tell
 * policy to count it.  BDAT (smtp_bdat.c) opens and settles its message
 * with the same functions (smtp_txn.h). */
#include "smtp_session.h"
#include "runsock.h"
#include "smtp_txn.h"
#include "exitcodes.h"
#include "log.h"
#include "qfile.h"
#include "settings.h"
#include "wire_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 4xx replies when relay-queue did not make the message durable,
 * one for each thing that can go wrong: an operator reading the
 * client's error knows where to look.  relay-queue reported an I/O
 * error writing the message (or its archive copy): */
#define QUEUE_WRITE_ERROR "451 4.3.0 Error: queue file write error, try again"
/* relay-queue gave another temporary refusal (a proof out of date, the
 * client seen as stopped, a reason this smtpd does not know): */
#define QUEUE_TEMPFAIL "451 4.3.0 Error: the queue could not take the " \
		       "message, try again later"
/* nobody answered on queue.sock (relay-queue down or restarting): */
#define QUEUE_UNREACHABLE "451 4.3.2 Queue service unavailable, try again " \
			  "later"
/* the connection broke before the message's end went out: */
#define QUEUE_HUNGUP "451 4.3.0 Queue service went away during the " \
		     "message, nothing queued, try again later"
/* relay-queue had the message and its answer did not come in
 * data_timeout (or made no sense): it may be queued all the same */
#define QUEUE_NOANSWER "451 4.3.0 Error: no answer from the queue, try " \
		       "again later"
/* smtpd itself could not build the envelope */
#define QUEUE_NOMEM "451 4.3.0 Error: out of memory, try again later"

/* Ask policy about DATA without waiting: its answer (accept, unless
 * MAIL/RCPT went wrong, which smtpd's own checks already exclude) is
 * read after the message (txn_verdict), so that smtpd sleeps once for
 * the message instead of twice; a refusal then comes after the final
 * dot, and nothing is queued.  Not at all when the last accepted RCPT
 * brought policy's proof (relay-policy with its key: always): the
 * proof is what DATA's answer would bring.  0 when DATA may go on. */
static int data_policy(struct smtp_session *s)
{
	struct kv req;
	int rc;

	s->data_early = s->admit.proof[0] != '\0';
	if (s->data_early)
		return 0;
	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_DATA);
	rc = smtp_policy_post(&s->policy, &req);
	kv_free(&req);
	if (rc < 0)
		smtp_session_policy_lost(s);
	return rc;
}

/* Policy's word on the DATA asked in data_policy; 0 when accepted (its
 * proof for relay-queue in admit), else the reply is queued and the job
 * must be aborted. */
static int txn_verdict(struct smtp_session *s, struct smtp_admit *admit)
{
	struct smtp_verdict v;

	if (s->data_early) {
		*admit = s->admit;
		return 0;
	}
	if (smtp_policy_verdict(&s->policy, &v) < 0) {
		smtp_session_policy_lost(s);
		return -1;
	}
	if (v.action == SMTP_ACCEPT) {
		*admit = v.admit;
		return 0;
	}
	smtp_policy_defaults(&v, 554, "5.7.1", "Transaction refused");
	smtp_reply_verdict(s, &v);
	return -1;
}

/* The provenance fields: with policy's proof, the values it covers as
 * policy sent them (relay-queue checks the MAC over them); without one
 * (relay-policy has no key), what smtpd knows. */
static void txn_provenance(struct smtp_session *s, struct smtp_env *e,
			   const struct smtp_admit *a)
{
	const char *auth = s->authed ? s->auth_user : "";
	const char *null = a->proof[0] ? a->null_sender
			   : s->null_sender ? ADMIT_WIRE_YES : "";

	if (a->proof[0])
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_PROOF, a->proof);
	smtp_queue_env_add(e, 'I', ADMIT_WIRE_IP, a->proof[0] ? a->ip : s->ip);
	smtp_queue_env_add(e, 'I', ADMIT_WIRE_HELO,
			   a->proof[0] ? a->helo : s->helo);
	if (a->proof[0])
		auth = a->auth;
	if (*auth)
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_AUTH, auth);
	if (a->proof[0] ? a->customer[0] : s->customer[0])
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_CUSTOMER,
				   a->proof[0] ? a->customer : s->customer);
	if (a->proof[0] && a->registered[0])
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_REGISTERED, a->registered);
	if (a->proof[0] && a->helo_named[0])
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_HELO_NAMED, a->helo_named);
	if (*null)
		smtp_queue_env_add(e, 'I', ADMIT_WIRE_NULL_SENDER, null);
}

static void txn_envelope(struct smtp_session *s, struct smtp_env *e,
			 const struct smtp_admit *a)
{
	memset(e, 0, sizeof *e);
	txn_provenance(s, e, a);
	if (s->tls)
		smtp_queue_env_add(e, 'I', "tls", s->tls_desc);
	smtp_queue_env_add(e, 'I', "proto", smtp_session_proto(s));
	if (s->smtputf8)
		smtp_queue_env_add(e, 'I', QFILE_INFO_SMTPUTF8, QFILE_INFO_YES);
	if (s->dsn_ret)
		smtp_queue_env_add(e, 'I', DSN_KEY_RET, dsn_ret_name(s->dsn_ret));
	if (s->dsn_envid[0])
		smtp_queue_env_add(e, 'I', DSN_KEY_ENVID, s->dsn_envid);
	smtp_queue_env_add(e, 'F', NULL, s->from);
	for (size_t i = 0; i < s->nrcpt; i++) {
		smtp_queue_env_add(e, 'T', NULL, s->rcpt[i]);
		if (s->rcpt_dsn[i])
			smtp_queue_env_add(e, DSN_ENV_RCPT, NULL, s->rcpt_dsn[i]);
	}
	smtp_queue_env_end(e);
}

/* The reply for a message that was read but must not be queued (bare
 * LF/CR, too big, a line too long, a mail loop). */
static void txn_refuse(struct smtp_session *s, const struct smtp_data_result *r)
{
	if (r->loop) /* RFC 5321 6.3; RFC 3463 X.4.6 routing loop */
		smtp_reply(s, "554 5.4.6 Too many hops (%zu Received: "
			      "header fields): mail loop", r->hops);
	else if (r->bare)
		smtp_reply(s, "550 5.6.11 Bare LF or CR in message refused");
	else if (r->toobig)
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
			      "message size");
	else
		smtp_reply(s, "550 5.5.2 Message line longer than %ld bytes "
			      "refused", cf.line_max);
}

/* The reply and log line when relay-queue gave no answer to the job
 * (smtp_queue.c logged the details: the connect error, the failed
 * write, the timeout). */
static void txn_queue_lost(struct smtp_session *s)
{
	switch (smtp_queue_lost()) {
	case SMTP_QUEUE_UNREACHABLE:
		log_warn("%s: not queued: relay-queue unreachable", s->ip);
		smtp_reply(s, QUEUE_UNREACHABLE);
		break;
	case SMTP_QUEUE_HUNGUP:
		log_warn("%s: not queued: relay-queue hung up mid-message",
			 s->ip);
		smtp_reply(s, QUEUE_HUNGUP);
		break;
	default:
		log_warn("%s: relay-queue gave no answer", s->ip);
		smtp_reply(s, QUEUE_NOANSWER);
		break;
	}
}

/* The reply when relay-queue did not make the message durable: the one
 * place its exit status and reason (qreason.h) become SMTP.  A permanent
 * refusal (100) is always 5xx, so the client does not retry it forever;
 * anything else (111, no answer: st < 0) is 4xx. */
static int txn_queue_failed(struct smtp_session *s, int st, const char *text)
{
	static const struct {
		int perm;
		enum qreason reason;
		const char *reply;
	} replies[] = {
		{ 1, QREASON_ENVELOPE, "554 5.5.4 Envelope refused by the queue "
		  "(a HELO name, sender or recipient it cannot take)" },
		{ 1, QREASON_TOOBIG, "552 5.3.4 Message or envelope too big for "
		  "the queue" },
		{ 1, QREASON_SPAM, "550 5.7.1 Message refused: the relay's "
		  "content scan rated it as spam" },
		{ 1, QREASON_NONE, "554 5.3.0 Message refused by the queue" },
		{ 0, QREASON_NOSPACE, "452 4.3.1 Insufficient system storage" },
		{ 0, QREASON_SCAN, "451 4.3.0 Content scan unavailable, try "
		  "again later" },
		{ 0, QREASON_SIGN, "451 4.3.0 DKIM signing unavailable, try "
		  "again later" },
		{ 0, QREASON_BUSY, "451 4.3.2 Content scanner busy, try again "
		  "later" },
		{ 0, QREASON_IO, QUEUE_WRITE_ERROR },
		{ 0, QREASON_NONE, QUEUE_TEMPFAIL },
	};
	enum qreason why = smtp_queue_reason();
	int perm = st == EXIT_PERM;

	if (st < 0) {
		txn_queue_lost(s);
		return 0;
	}
	log_warn("%s: relay-queue answered an error: status=%d reason=%s %s",
		 s->ip, st, *qreason_name(why) ? qreason_name(why) : "-", text);
	for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++)
		if (replies[i].perm == perm && (replies[i].reason == why ||
						replies[i].reason == QREASON_NONE)) {
			smtp_reply(s, "%s", replies[i].reply);
			break;
		}
	return perm;
}

/* Tell policy the message is queued, so that it counts it. */
static void txn_commit(struct smtp_session *s, const char *qid)
{
	struct kv req;

	/* sent now, before the client hears 250; its reply (always accept)
	 * is read with the next one */
	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_COMMIT);
	kv_add(&req, WIRE_POLICY_QID, qid);
	if (*smtp_queue_receipt())
		kv_add(&req, ADMIT_WIRE_RECEIPT, smtp_queue_receipt());
	for (size_t i = 0; i < s->nrcpt; i++)
		kv_add(&req, WIRE_POLICY_RCPT, s->rcpt[i]);
	if (smtp_policy_tell(&s->policy, &req, 0) < 0)
		/* relay-policy counted the recipients when it accepted them */
		log_warn("%s: policy missed the commit (counted as reserved at "
			 "RCPT)", qid);
	kv_free(&req);
}

/* relay-queue had the whole message but its answer did not come (or
 * made no sense): the message may be queued all the same.  A reset would
 * give back what relay-policy reserved for it; the policy connection is
 * closed instead, which relay-policy counts as a message (the
 * conservative side); the client's next command then ends the session
 * with 421 (smtp_session_policy_lost). */
static void txn_fate_unknown(struct smtp_session *s)
{
	log_warn("%s: no answer from the queue to a whole message: its "
		 "recipients stay counted", s->ip);
	smtp_policy_close(&s->policy);
}

/* Envelope out, answer in; returns 1 when queued, -1 when relay-queue
 * refused it for good, 0 for a temporary failure (then *unknown is 1
 * when relay-queue never answered: it may have queued it). */
static int txn_finish(struct smtp_session *s, struct smtp_queue_job *j,
		      const struct smtp_admit *admit, char *qid, size_t qidsz,
		      int *unknown)
{
	char text[256];
	struct smtp_env e;
	int st;

	txn_envelope(s, &e, admit);
	if (e.failed) {
		free(e.buf);
		smtp_queue_abort(j, (int)cf.data_timeout * 1000, text, sizeof text);
		log_warn("%s: not queued: out of memory for the envelope", s->ip);
		smtp_reply(s, QUEUE_NOMEM);
		return 0;
	}
	st = smtp_queue_finish(j, e.buf, e.len, (int)cf.data_timeout * 1000,
			       qid, qidsz, text, sizeof text);
	free(e.buf);
	if (st == 0) {
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", qid);
		return 1;
	}
	/* only a whole message may have been queued unanswered */
	*unknown = st < 0 && smtp_queue_lost() == SMTP_QUEUE_NOANSWER;
	return txn_queue_failed(s, st, text) ? -1 : 0;
}

void smtp_txn_log(struct smtp_session *s, const char *qid,
		  const struct smtp_data_result *r, const char *result)
{
	char helo[3 * 128], from[3 * ADDR_MAX + 1], chunks[32] = "";

	log_field(helo, sizeof helo, s->helo, strlen(s->helo));
	log_field(from, sizeof from, s->from, strlen(s->from));
	if (r->chunks)
		snprintf(chunks, sizeof chunks, " bdat=%zu", r->chunks);
	log_info("%s: client=%s helo=%s from=<%s> nrcpt=%zu size=%zu%s result=%s",
		 qid[0] ? qid : "NOQUEUE", s->ip, helo, from, s->nrcpt,
		 r->size, chunks, result);
}

int smtp_txn_open(struct smtp_session *s, struct smtp_queue_job *j)
{
	char path[4096];

	if (data_policy(s) < 0)
		return -1;
	runsock_path(RUNSOCK_QUEUE, path, sizeof path);
	if (smtp_queue_open(j, path) < 0) {
		txn_queue_lost(s);
		smtp_session_reset_tx(s, 1);
		return -1;
	}
	return 0;
}

/* 0 when DATA may start: sequence right, policy agrees, queue is up. */
static int txn_start(struct smtp_session *s, const char *arg,
		     struct smtp_queue_job *j)
{
	if (s->bdat) { /* RFC 3030 2: DATA and BDAT never mix */
		smtp_reply(s, "503 5.5.1 Error: DATA after BDAT");
		smtp_session_error(s);
		smtp_session_reset_tx(s, 1);
		return -1;
	}
	if (!s->in_mail || !s->nrcpt) {
		smtp_reply(s, "503 5.5.1 Error: need %s command",
			   s->in_mail ? "RCPT" : "MAIL");
		smtp_session_error(s);
		return -1;
	}
	if (*arg) {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		smtp_session_error(s);
		return -1;
	}
	return smtp_txn_open(s, j);
}

void smtp_txn_settle(struct smtp_session *s, struct smtp_queue_job *j,
		     struct smtp_data_result *r)
{
	struct smtp_admit admit = { .proof = "" };
	char qid[64] = "", text[256];
	int queued = 0; /* 1 queued, -1 refused for good by relay-queue */
	int unknown = 0; /* relay-queue did not answer */

	r->loop = r->hops > (size_t)cf.hops_max;
	if (smtp_data_ok(r) && txn_verdict(s, &admit) < 0) {
		smtp_queue_abort(j, (int)cf.data_timeout * 1000, text, sizeof text);
		smtp_txn_log(s, qid, r, "policy-refused");
		smtp_session_reset_tx(s, 1);
		return;
	}
	if (smtp_data_ok(r)) {
		queued = txn_finish(s, j, &admit, qid, sizeof qid, &unknown);
	} else {
		int st = smtp_queue_abort(j, (int)cf.data_timeout * 1000, text,
					  sizeof text);
		if (r->bare || r->toobig || r->toolong || r->loop) {
			txn_refuse(s, r);
			smtp_session_error(s);
		} else { /* a write to relay-queue failed: say how */
			queued = txn_queue_failed(s, st, text) ? -1 : 0;
		}
	}
	smtp_txn_log(s, qid, r, queued > 0 ? "queued" : queued < 0 ?
		     "queue-refused" : r->loop ? "loop" : r->bare ? "bare-lf-cr" :
		     r->toobig ? "too-big" : r->toolong ? "line-too-long" :
		     "tempfail");
	if (queued > 0)
		txn_commit(s, qid);
	else if (unknown)
		txn_fate_unknown(s);
	smtp_session_reset_tx(s, queued <= 0);
}

void smtp_txn_data(struct smtp_session *s, char *arg)
{
	struct smtp_queue_job j;
	struct smtp_data_result r;
	char text[256];
	int rc;

	if (txn_start(s, arg, &j) < 0)
		return;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (io_flush(&s->io) < 0) {
		smtp_queue_abort(&j, (int)cf.data_timeout * 1000, text, sizeof text);
		s->quit = 1;
		return;
	}
	/* the whole message within data_timeout, as BDAT's (smtp_bdat.c),
	 * however its lines are spaced: a client that drips lines holds
	 * the session no longer.  relay-queue gives the job that long and
	 * a minute more from its first frame, which goes after the 354: it
	 * never drops one this still feeds. */
	smtp_session_timeout(s, cf.data_timeout);
	s->data_end = time(NULL) + cf.data_timeout;
	rc = smtp_data_copy_lf(&s->io, j.out, (size_t)cf.line_max,
			       (size_t)cf.message_size_max,
			       s->legacy && cf.legacy_bare_lf, &r);
	s->data_end = 0;
	if (rc < 0) {
		smtp_queue_abort(&j, (int)cf.data_timeout * 1000, text, sizeof text);
		smtp_txn_log(s, "", &r, "aborted");
		if (!smtp_session_stopped(s) && s->io.err == IO_ERR_TIMEOUT)
			smtp_session_close421(s, "4.4.2", "Error: timeout exceeded");
		s->quit = 1;
		return;
	}
	smtp_txn_settle(s, &j, &r);
}
