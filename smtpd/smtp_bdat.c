/* smtp_bdat.c: BDAT, RFC 3030 CHUNKING.  A chunk is always read to its
 * announced length, whatever its reply: its bytes are never taken as
 * commands.  They are not dot-stuffed; they go through the same line
 * checks as DATA (smtp_data.c: bare CR/LF, line_max, size, hops) into
 * the same queue job, and the message is settled after LAST exactly as
 * after DATA's final dot (smtp_txn.c: the 250 only once durable).  The
 * first problem refuses the chunk where it is seen and ends the
 * transaction; so does any other command that ends it (RSET, EHLO,
 * STARTTLS, DATA: smtp_session_reset_tx).  The whole message must come
 * within data_timeout of its first chunk (smtp_bdat_wait): relay-queue
 * gives the job data_timeout + 60 s, so it never drops one smtpd still
 * feeds. */
#include "smtp_txn.h"
#include "smtp_cmd.h"
#include "log.h"
#include "settings.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct smtp_bdat {
	struct smtp_queue_job job;
	struct smtp_body body;
	struct smtp_data_result r;
	unsigned long long bytes;  /* in the chunks so far */
	time_t until;              /* the message is complete by then */
};

long smtp_bdat_wait(const struct smtp_session *s, long per_read)
{
	long left;

	if (!s->bdat)
		return per_read;
	left = (long)(s->bdat->until - time(NULL));
	if (left < 0)
		left = 0;
	return left < per_read ? left : per_read;
}

/* Read the chunk's n bytes into b (NULL: read and dropped); 0, or -1
 * when the client went away or timed out (s->io.err). */
static int bdat_read(struct smtp_session *s, unsigned long long n,
		     struct smtp_body *b)
{
	char buf[IO_BUFSZ];

	while (n) {
		ssize_t got;
		/* each read: what is left of the message's time */
		smtp_session_timeout(s, smtp_bdat_wait(s, cf.data_timeout));
		got = io_read(&s->io, buf, n < sizeof buf ? (size_t)n : sizeof buf);
		if (got <= 0) {
			if (s->io.err == IO_ERR_NONE)
				s->io.err = IO_ERR_EOF;
			return -1;
		}
		if (b)
			smtp_body_feed(b, buf, (size_t)got);
		n -= (unsigned long long)got;
	}
	return 0;
}

/* The chunk could not be read to its end: the session is over. */
static void bdat_lost(struct smtp_session *s)
{
	smtp_bdat_abort(s);
	if (smtp_session_stopped(s))
		return;
	if (s->io.err == IO_ERR_TIMEOUT)
		smtp_session_close421(s, "4.4.2", "Error: timeout exceeded");
	else
		log_info("%s: disconnected in BDAT", s->ip);
	s->quit = 1;
}

/* A refusal decided before the chunk is read; NULL when it may go on.
 * *ends: the refusal ends the transaction (a message too big). */
static const char *bdat_refusal(const struct smtp_session *s,
				unsigned long long n, int *ends)
{
	unsigned long long had = s->bdat ? s->bdat->bytes : 0;

	*ends = 0;
	if (!s->esmtp)
		return "503 5.5.1 Error: send EHLO first";
	if (!s->in_mail)
		return "503 5.5.1 Error: need MAIL command";
	if (!s->nrcpt)
		return "503 5.5.1 Error: need RCPT command";
	*ends = 1;
	if (n > (unsigned long long)cf.message_size_max - had)
		return "552 5.3.4 Message size exceeds fixed maximum message "
		       "size";
	return NULL;
}

static void bdat_free(struct smtp_bdat *b)
{
	smtp_body_free(&b->body);
	free(b);
}

/* The transaction's first chunk: policy asked, queue job open.  0 with
 * s->bdat set, or -1 after replying. */
static int bdat_begin(struct smtp_session *s)
{
	struct smtp_bdat *b = calloc(1, sizeof *b);

	if (!b) {
		smtp_session_close421(s, "4.3.0", "Out of memory");
		return -1;
	}
	if (smtp_txn_open(s, &b->job) < 0) {
		free(b);
		return -1;
	}
	if (smtp_body_init(&b->body, b->job.out, (size_t)cf.line_max,
			   (size_t)cf.message_size_max, &b->r, 1) < 0) {
		s->bdat = b;
		smtp_bdat_abort(s);
		smtp_session_close421(s, "4.3.0", "Out of memory");
		return -1;
	}
	/* a legacy device's lone LF ends a line here as in DATA (no end
	 * marker to smuggle past: the chunk lengths end the message) */
	b->body.lf_ok = s->legacy && cf.legacy_bare_lf;
	b->until = time(NULL) + cf.data_timeout;
	s->bdat = b;
	return 0;
}

/* Read and drop a chunk that is refused (the reply queued first). */
static void bdat_drop(struct smtp_session *s, unsigned long long n)
{
	if (bdat_read(s, n, NULL) < 0)
		bdat_lost(s);
}

void smtp_bdat_unparsable(struct smtp_session *s)
{
	/* the chunk's length is unknown: its bytes would be taken as
	 * commands, so the session ends here */
	log_info("%s: BDAT syntax error: closing", s->ip);
	smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
	io_flush(&s->io);
	s->quit = 1;
}

void smtp_txn_bdat(struct smtp_session *s, char *arg)
{
	const char *refusal;
	unsigned long long n;
	struct smtp_bdat *b;
	int last, ends;

	if (smtp_cmd_bdat(arg, &n, &last) < 0) {
		smtp_bdat_unparsable(s);
		return;
	}
	if ((refusal = bdat_refusal(s, n, &ends))) {
		smtp_reply(s, "%s", refusal);
		if (ends)
			smtp_session_reset_tx(s, 1);
		smtp_session_error(s);
		if (!s->quit)
			bdat_drop(s, n);
		return;
	}
	if (!s->bdat && bdat_begin(s) < 0) {
		if (!s->quit)
			bdat_drop(s, n);
		return;
	}
	b = s->bdat;
	b->r.chunks++;
	b->bytes += n;
	if (bdat_read(s, n, &b->body) < 0) {
		bdat_lost(s);
		return;
	}
	if (last)
		smtp_body_end(&b->body);
	if (!last && smtp_data_ok(&b->r)) {
		smtp_reply(s, "250 2.0.0 Ok: %llu octets received", n);
		return;
	}
	s->bdat = NULL; /* settled here, not aborted by its reset */
	smtp_txn_settle(s, &b->job, &b->r);
	bdat_free(b);
}

void smtp_bdat_abort(struct smtp_session *s)
{
	struct smtp_bdat *b = s->bdat;
	char text[256];

	if (!b)
		return;
	s->bdat = NULL;
	smtp_queue_abort(&b->job, (int)cf.data_timeout * 1000, text,
			 sizeof text);
	smtp_txn_log(s, "", &b->r, "aborted");
	bdat_free(b);
}
