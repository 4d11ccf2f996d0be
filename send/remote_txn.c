/* remote_txn.c: one mail transaction on an established session.  With
 * PIPELINING, MAIL, every RCPT and DATA go out in one write and the
 * replies are read in order (RFC 2920); without it, one at a time.
 * To a server that offers CHUNKING (RFC 3030) a message that came whole
 * with the queue file's first read (64 KiB) goes as one "BDAT n LAST"
 * instead of DATA: pipelined, in the same write as MAIL and RCPT, so it
 * costs one round trip where DATA costs two (the 354 is waited for).  A
 * bigger one goes with DATA: BDAT would need a pass to count its bytes
 * first and would save nothing, since its body is better not sent
 * before a recipient was accepted.  remote_chunking = no: always DATA.
 * Mapping: 2xx on RCPT and 2xx after the data = delivered (D); 4xx or a
 * lost connection = temporary (T); 5xx = permanent (B); a reply to MAIL
 * or DATA applies to every recipient it covers.  A cached connection
 * that turns out dead before anything was accepted is reported STALE so
 * that the caller retries on a fresh one.  A reply missing or out of
 * place (txn_lost) marks the connection broken: it is closed, since the
 * next reply read on it could be any command's. */
#include "remote.h"
#include "settings.h"

#include <stdlib.h>
#include <string.h>

/* No reply (timeout, EOF, malformed) or one of a class that has no place
 * where a final answer was due (1xx, 3xx): the replies that follow, if
 * any, cannot be matched to commands any more.  The connection is then
 * broken: an RSET on it would take whatever comes next as its reply, and
 * a cached one would give the next job the replies of this one. */
static int txn_lost(const struct remote_reply *rep)
{
	return rep->code < 200 || (rep->code >= 300 && rep->code < 400);
}

static void txn_set(struct remote_rcpt *r, const struct remote_reply *rep)
{
	/* a 1xx or 3xx where a final answer was due is a broken server:
	 * temporary, with a code that says so */
	int odd = rep->code && (rep->code < 200 || (rep->code >= 300 &&
						    rep->code < 400));
	char *p;

	r->status = rep->code >= 200 && rep->code < 300   ? 'D'
		    : rep->code >= 500 && rep->code < 600 ? 'B'
							  : 'T';
	r->code = !rep->code ? 421 : odd ? 451 : rep->code;
	/* no code: rep->text says what went wrong locally */
	snprintf(r->text, sizeof r->text, "%s%.*s",
		 !rep->code ? "4.4.2 " : odd ? "4.5.0 unexpected reply: " : "",
		 (int)sizeof r->text - 30, rep->text);
	while ((p = strchr(r->text, '\n')))
		*p = ' ';
}

/* Every recipient with ok[i] set (every one still without a result when
 * ok is NULL) gets rep. */
static void txn_set_all(struct remote_job *job, const unsigned char *ok,
			const struct remote_reply *rep)
{
	for (size_t i = 0; i < job->nrcpt; i++)
		if (ok ? ok[i] : !job->rcpt[i].status)
			txn_set(&job->rcpt[i], rep);
}

static int txn_put(struct remote_conn *c, int flush, const char *fmt,
		   const char *arg)
{
	if (io_printf(&c->io, fmt, arg) < 0 || io_puts(&c->io, "\r\n") < 0)
		return -1;
	return flush ? io_flush(&c->io) : 0;
}

/* RCPT TO with the recipient's DSN parameters when the server has DSN. */
static int txn_rcpt_put(struct remote_conn *c, int flush,
			const struct remote_job *job, size_t i,
			const struct remote_qfile *q)
{
	char dsn[DSN_RCPT_TEXT + 32];

	remote_dsn_rcpt(c, q, job->rcpt[i].index, dsn, sizeof dsn);
	if (io_printf(&c->io, "RCPT TO:<%s>%s", job->rcpt[i].addr, dsn) < 0)
		return -1;
	return txn_put(c, flush, "%s", "");
}

static int txn_mail(struct remote_conn *c, const struct remote_qfile *q,
		    int flush, int utf8)
{
	char size[48] = "", dsn[DSN_ENVID_MAX + 32];

	if (c->ext & REMOTE_EXT_SIZE)
		snprintf(size, sizeof size, " SIZE=%lld",
			 (long long)q->body_size);
	/* BODY=8BITMIME when offered: declaring it for a 7-bit message is
	 * harmless (RFC 6152), and it saves scanning every message */
	remote_dsn_mail(c, q, dsn, sizeof dsn);
	if (io_printf(&c->io, "MAIL FROM:<%s>%s%s%s%s", q->sender, size,
		      (c->ext & REMOTE_EXT_8BITMIME) ? " BODY=8BITMIME" : "",
		      utf8 ? " SMTPUTF8" : "", dsn) < 0)
		return -1;
	return txn_put(c, flush, "%s", "");
}

/* A refused RCPT.  "Too many recipients" is temporary even as RFC 821's
 * 552 (RFC 5321 4.5.3.1.10: it is 452): T 452 4.5.3, which relay-send
 * tries again at once in a job of its own when this one delivered to
 * others (wire_remote_too_many). */
static void txn_refused(struct remote_rcpt *rc, struct remote_reply *r)
{
	if (remote_reply_too_many(r) && r->code == 552) {
		r->code = 452;
		r->text[0] = '4'; /* its X.5.3: 5.5.3 */
	}
	txn_set(rc, r);
}

/* RCPT replies: marks ok[], returns how many were accepted, or -1 when
 * the reply stream broke (every recipient without a result gets T: the
 * replies that follow could belong to anything). */
static long txn_rcpts(struct remote_conn *c, struct remote_job *job,
		      const struct remote_qfile *q, unsigned char *ok,
		      int pipelined)
{
	struct remote_reply r;
	long n = 0;

	for (size_t i = 0; i < job->nrcpt; i++) {
		if (job->rcpt[i].status)
			continue; /* refused before the transaction */
		if (!pipelined && txn_rcpt_put(c, 1, job, i, q) < 0) {
			r.code = 0;
			snprintf(r.text, sizeof r.text, "write error");
		} else if (remote_reply_read(&c->io, &r) < 0) {
			r.code = 0;
		}
		if (txn_lost(&r)) {
			c->broken = 1;
			for (size_t k = 0; k < job->nrcpt; k++)
				if (!job->rcpt[k].status)
					txn_set(&job->rcpt[k], &r);
			return -1;
		}
		if (r.code >= 200 && r.code < 300) {
			ok[i] = 1;
			n++;
		} else {
			txn_refused(&job->rcpt[i], &r);
			c->broken |= r.code == 421; /* the server hangs up */
		}
	}
	return n;
}

struct remote_job *(*remote_txn_next)(struct remote_conn *c,
				      const struct remote_job *job);

static int txn_commands(struct remote_conn *c, struct remote_job *job,
			struct remote_qfile *q, int pipe, int utf8);

/* The message and its dot, then (RFC 2920: the content may open a
 * group) the next job's MAIL/RCPT/DATA when one may follow at once:
 * one write, and its replies come with this one's. */
static int txn_send_body(struct remote_conn *c, const struct remote_job *job,
			 struct remote_qfile *q)
{
	struct remote_job *nx = remote_txn_next ? remote_txn_next(c, job)
						: NULL;

	if (remote_qfile_put(q, &c->io) < 0)
		return -1;
	if (nx && txn_commands(c, nx, &nx->q, 1, 0) == 0)
		c->pre_seq = nx->seq;
	return io_flush(&c->io);
}

/* The message went out (sent 0) or could not (-1): the final reply, as
 * for every recipient accepted.  reusable 0: RSET before the connection
 * is used again, whatever the reply. */
static void txn_final(struct remote_conn *c, struct remote_job *job,
		      const unsigned char *ok, const struct remote_qfile *q,
		      int sent, int reusable)
{
	struct remote_reply r;

	if (sent < 0) {
		c->broken = 1;
		r.code = 0;
		snprintf(r.text, sizeof r.text, "write error");
		txn_set_all(job, ok, &r);
		return;
	}
	/* the server may scan or commit the message before it answers */
	c->io.timeout_ms = (int)cf.remote_data_done_timeout * 1000;
	int rc = remote_reply_read(&c->io, &r);
	c->io.timeout_ms = (int)cf.remote_timeout * 1000;
	if (rc < 0) {
		char why[64];
		snprintf(why, sizeof why, "%.40s", r.text);
		snprintf(r.text, sizeof r.text, "%s after the end of the data "
			 "(the message may have been delivered)", why);
	}
	/* any reply to the dot ends the transaction (RFC 5321 4.1.1.4);
	 * none, or one out of place, leaves the stream in an unknown state */
	c->broken |= txn_lost(&r);
	c->clean = !c->broken && reusable;
	txn_set_all(job, ok, &r);
	for (size_t i = 0; i < job->nrcpt; i++)
		if (ok[i])
			remote_dsn_delivered(c, q, &job->rcpt[i]);
	/* 421: the server is closing the channel (RFC 5321 3.8): caching
	 * the connection would send the next message into that close */
	c->broken |= r.code == 421;
	c->msgs++;
}

/* DATA accepted with 354: the message, then the final reply. */
static void txn_body(struct remote_conn *c, struct remote_job *job,
		     const unsigned char *ok, struct remote_qfile *q)
{
	txn_final(c, job, ok, q, txn_send_body(c, job, q), 1);
}

/* Reply to DATA: 354 goes on; anything else fails the accepted ones
 * (a 2xx/3xx other than 354 is a broken server: temporary). */
static int txn_data(struct remote_conn *c, struct remote_job *job,
		    const unsigned char *ok, int pipe)
{
	struct remote_reply r;

	r.code = 0;
	snprintf(r.text, sizeof r.text, "write error");
	if ((pipe || txn_put(c, 1, "%s", "DATA") == 0) &&
	    remote_reply_read(&c->io, &r) == 0 && r.code == 354)
		return 0;
	/* none, or a 1xx-3xx other than 354: out of step */
	c->broken |= r.code < 400 || r.code == 421;
	if (r.code > 0 && r.code < 400) {
		r.code = 451;
		snprintf(r.text, sizeof r.text, "4.5.0 unexpected reply to DATA");
	}
	txn_set_all(job, ok, &r);
	return -1;
}

/* The message goes with BDAT (see the top of the file). */
static int txn_bdat(const struct remote_conn *c, const struct remote_qfile *q)
{
	return cf.remote_chunking && (c->ext & REMOTE_EXT_CHUNKING) &&
	       remote_qfile_small(q);
}

/* BDAT: the message went out with the commands (pipe) or goes now; the
 * reply to it is final, as the reply to DATA's dot is.  Refused for want
 * of a recipient, the transaction may still be open at the server: an
 * RSET before the connection is used again. */
static void txn_chunk(struct remote_conn *c, struct remote_job *job,
		      const unsigned char *ok, struct remote_qfile *q,
		      int pipe, long accepted)
{
	int sent = 0;

	if (!pipe && (remote_qfile_put_bdat(q, &c->io) < 0 ||
		      io_flush(&c->io) < 0))
		sent = -1;
	txn_final(c, job, ok, q, sent, accepted > 0);
}

/* MAIL, and with PIPELINING every RCPT and DATA (or BDAT and the
 * message) too (flushed only when pipe and flush); without, MAIL alone,
 * flushed.  0 or -1. */
static int txn_commands(struct remote_conn *c, struct remote_job *job,
			struct remote_qfile *q, int pipe, int utf8)
{
	int wrote = txn_mail(c, q, !pipe, utf8) == 0;

	for (size_t i = 0; wrote && pipe && i < job->nrcpt; i++)
		if (!job->rcpt[i].status)
			wrote = txn_rcpt_put(c, 0, job, i, q) == 0;
	if (wrote && pipe)
		wrote = (txn_bdat(c, q) ? remote_qfile_put_bdat(q, &c->io)
					: txn_put(c, 0, "%s", "DATA")) == 0;
	return wrote ? 0 : -1;
}

static enum remote_txn_rc txn_run(struct remote_conn *c, struct remote_job *job,
				  struct remote_qfile *q, int cached,
				  unsigned char *ok, int utf8)
{
	int pipe = (c->ext & REMOTE_EXT_PIPELINING) != 0, wrote;
	struct remote_reply mail;
	long accepted;

	c->clean = 0; /* until the reply to the final dot */
	if (c->pre_seq && c->pre_seq != job->seq) {
		c->broken = 1; /* another job's replies are due: never */
		return REMOTE_TXN_STALE;
	}
	if (c->pre_seq)
		wrote = 1; /* sent after the previous message's dot */
	else
		wrote = txn_commands(c, job, q, pipe, utf8) == 0 &&
			(!pipe || io_flush(&c->io) == 0);
	c->pre_seq = 0;
	mail.code = 0;
	snprintf(mail.text, sizeof mail.text, "write error");
	if (wrote)
		remote_reply_read(&c->io, &mail);
	if (cached && (mail.code == 0 || mail.code == 421))
		return REMOTE_TXN_STALE; /* nothing was accepted: retry */
	if (mail.code < 200 || mail.code >= 300) {
		txn_set_all(job, NULL, &mail);
		c->broken = 1; /* RCPT and DATA replies may still be coming */
		return REMOTE_TXN_DONE;
	}
	accepted = txn_rcpts(c, job, q, ok, pipe);
	if (accepted < 0 || (!pipe && accepted == 0))
		return REMOTE_TXN_DONE;
	if (txn_bdat(c, q)) {
		txn_chunk(c, job, ok, q, pipe, accepted);
		return REMOTE_TXN_DONE;
	}
	if (txn_data(c, job, ok, pipe) < 0)
		return REMOTE_TXN_DONE;
	if (accepted == 0) { /* pipelined DATA got 354 anyway: end it empty */
		struct remote_reply r;
		if (txn_put(c, 1, "%s", ".") == 0 &&
		    remote_reply_read(&c->io, &r) == 0 && !txn_lost(&r))
			c->clean = 1;
		else
			c->broken = 1;
		return REMOTE_TXN_DONE;
	}
	txn_body(c, job, ok, q);
	return REMOTE_TXN_DONE;
}

static int txn_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* SMTPUTF8 (RFC 6531).  Returns 1 when MAIL asks for it: the server
 * offers it and the client asked for it (its message may have UTF-8
 * headers, RFC 6532) or an address is non-ASCII.  When the server lacks
 * it, recipients with a non-ASCII address bounce (all of them when the
 * sender is the non-ASCII one); a message with only ASCII addresses
 * goes as it is, without SMTPUTF8 (no downgrade of its headers). */
static int txn_utf8(struct remote_conn *c, struct remote_job *job,
		    const struct remote_qfile *q)
{
	struct remote_reply r = { .code = 553 };
	int need = txn_8bit(q->sender);

	for (size_t i = 0; i < job->nrcpt; i++)
		need |= txn_8bit(job->rcpt[i].addr);
	if (c->ext & REMOTE_EXT_SMTPUTF8)
		return need || remote_qfile_smtputf8(q);
	if (!need)
		return 0;
	snprintf(r.text, sizeof r.text, "5.6.7 %s does not support SMTPUTF8 "
		 "(non-ASCII address)", c->host);
	for (size_t i = 0; i < job->nrcpt; i++)
		if (txn_8bit(q->sender) || txn_8bit(job->rcpt[i].addr))
			txn_set(&job->rcpt[i], &r);
	return 0;
}

/* Commands sent ahead for job whose replies nobody read: the connection
 * is out of step (the hook checks first, so this is only a safety net). */
static void txn_unsent(struct remote_conn *c, const struct remote_job *job)
{
	if (c->pre_seq && c->pre_seq == job->seq) {
		c->broken = 1;
		c->pre_seq = 0;
	}
}

/* What the server cannot take, known before MAIL: a message over its
 * SIZE (RFC 1870); 8-bit data when it lacks 8BITMIME (RFC 6152 3: never
 * sent raw; relaybox does not convert it to 7 bits, which would also
 * break its DKIM signatures: the recipients bounce 5.6.3).  1 with r. */
static int txn_cannot(const struct remote_conn *c, struct remote_qfile *q,
		      struct remote_reply *r)
{
	int bit8 = 0;

	if (c->size_max > 0 && q->body_size > c->size_max) {
		r->code = 552;
		snprintf(r->text, sizeof r->text, "5.3.4 message is larger "
			 "than the %ld bytes %s accepts", c->size_max, c->host);
		return 1;
	}
	if (!(c->ext & REMOTE_EXT_8BITMIME) &&
	    (bit8 = remote_qfile_8bit(q)) != 0) {
		r->code = bit8 < 0 ? 451 : 554;
		if (bit8 < 0)
			snprintf(r->text, sizeof r->text,
				 "4.3.0 cannot read the queue file");
		else
			snprintf(r->text, sizeof r->text, "5.6.3 %s does not "
				 "support 8BITMIME and the message has 8-bit "
				 "data", c->host);
		return 1;
	}
	return 0;
}

enum remote_txn_rc remote_txn_run(struct remote_conn *c,
				  struct remote_job *job,
				  struct remote_qfile *q, int cached)
{
	unsigned char *ok = calloc(job->nrcpt, 1);
	enum remote_txn_rc rc;
	struct remote_reply r;

	if (!ok) {
		r.code = 451;
		snprintf(r.text, sizeof r.text, "4.3.0 out of memory");
		txn_set_all(job, NULL, &r);
		txn_unsent(c, job);
		return REMOTE_TXN_DONE;
	}
	if (txn_cannot(c, q, &r)) {
		txn_set_all(job, NULL, &r);
		free(ok);
		txn_unsent(c, job);
		return REMOTE_TXN_DONE;
	}
	int utf8 = txn_utf8(c, job, q);
	rc = REMOTE_TXN_DONE; /* when nobody is left to send to */
	for (size_t i = 0; i < job->nrcpt; i++)
		if (!job->rcpt[i].status) {
			rc = txn_run(c, job, q, cached, ok, utf8);
			break;
		}
	free(ok);
	txn_unsent(c, job);
	return rc;
}
