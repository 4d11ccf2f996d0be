/* smtp_queue.c: handing a message to relay-queue (see smtp_queue.h). */
#include "smtp_queue.h"
#include "runsock.h"
#include "smtp_frame.h"
#include "admit.h"
#include "coro.h"
#include "io.h"
#include "kv.h"
#include "log.h"
#include "settings.h"
#include "usock.h"
#include "wire_queue.h"
#include "exitcodes.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The connection to relay-queue stays open from one message to the next
 * (and, in a pool worker, from one session to the next): many injections
 * may follow on one connection, one at a time.  It is dropped on any
 * error, so a reply that comes late can never be taken for the next
 * message's. */
#define QUEUE_WRITE_MS (120 * 1000) /* relay-queue reads as data comes */

/* All of a client's state (smtp_queue.h): the default one for a process
 * serving one session at a time, or the running session's. */
static struct smtp_queue_state q_default = { .conn = { .sock = -1 } };
static struct smtp_queue_state **q_slot;

static struct smtp_queue_state *q_cur(void)
{
	if (!q_slot)
		return &q_default;
	if (!*q_slot) { /* made at the session's first message */
		*q_slot = calloc(1, sizeof **q_slot);
		if (!*q_slot)
			log_fatal(EXIT_TEMP, "out of memory");
		(*q_slot)->conn.sock = -1;
	}
	return *q_slot;
}
#define Q (q_cur())

const char *smtp_queue_receipt(void)
{
	return Q->receipt;
}

enum qreason smtp_queue_reason(void)
{
	return Q->reason;
}

enum smtp_queue_lost smtp_queue_lost(void)
{
	return Q->lost;
}

static void conn_drop(void)
{
	if (Q->conn.sock >= 0) {
		coro_forget(Q->conn.sock); /* the number is reused */
		close(Q->conn.sock);
	}
	Q->conn.sock = -1;
	ns_reader_free(&Q->conn.rd);
}

/* Connections of sessions that ended, each in step (an answer read for
 * every message sent), for the next sessions of this process (a worker
 * serving many at once): taking one saves the connect and relay-queue's
 * accept, as a worker serving one session at a time saves them by
 * keeping its own.  One that relay-queue closed meanwhile is replaced at
 * the first write, as a kept one is (job_send). */
#define QUEUE_SPARE_MAX 32
static int spare[QUEUE_SPARE_MAX];
static size_t nspare;

/* A session's connection at its end: kept when in step, else closed. */
static void conn_park(void)
{
	if (Q->conn.sock >= 0 && !Q->job.open && nspare < QUEUE_SPARE_MAX) {
		spare[nspare++] = Q->conn.sock;
		Q->conn.sock = -1;
	}
	conn_drop();
}

/* A kept connection for this session: 1, or 0 when there is none. */
static int conn_unpark(void)
{
	if (nspare == 0)
		return 0;
	Q->conn.sock = spare[--nspare];
	if (ns_reader_init(&Q->conn.rd, Q->conn.sock) < 0) {
		conn_drop();
		return 0;
	}
	return 1;
}

static int conn_open(const char *sockpath)
{
	Q->conn.rd.buf = NULL;
	/* as smtp_policy_open: a relay-queue that does not accept is
	 * waited for by this session alone, for smtp_timeout */
	Q->conn.sock = runsock_connect_for(RUNSOCK_QUEUE, sockpath,
					   (int)cf.smtp_timeout * 1000);
	if (Q->conn.sock < 0) {
		Q->lost = SMTP_QUEUE_UNREACHABLE;
		log_warn("relay-queue unreachable: connect %s: %s", sockpath,
			 strerror(errno));
		return -1;
	}
	/* non-blocking, the answer waited for with poll (see
	 * smtp_policy_open: a read blocked on a unix socket would also wake
	 * when relay-queue takes the message out of it) */
	if (ns_reader_init(&Q->conn.rd, Q->conn.sock) < 0 ||
	    fd_nonblock(Q->conn.sock) < 0) {
		Q->lost = SMTP_QUEUE_UNREACHABLE;
		log_warn("relay-queue unreachable: %s", strerror(errno));
		conn_drop();
		return -1;
	}
	return 0;
}

/* Keep the connection only when the exchange ended on a frame boundary
 * (ok).  A session among many (q_slot) keeps it no longer than its
 * message: an idle one holds no queue connection, so relay-queue's
 * connections (conn_max and some) and their buffers follow the messages
 * under way, not the thousands of sessions open. */
static void job_close(int ok)
{
	Q->job.open = 0;
	Q->out.out_len = 0;
	/* the last frame returned is still counted as pending */
	if (!ok || ns_reader_pending(&Q->conn.rd) > Q->conn.rd.consumed)
		conn_drop();
	else if (q_slot)
		conn_park();
}

static void buf_put(struct smtp_env *b, const void *p, size_t n);

/* n bytes (at most NS_MAX) as one netstring into b. */
static void buf_frame(struct smtp_env *b, const char *p, size_t n)
{
	char hdr[16];
	int hl = snprintf(hdr, sizeof hdr, "%zu:", n);

	buf_put(b, hdr, (size_t)hl);
	buf_put(b, p, n);
	buf_put(b, ",", 1);
}

/* A buffer for the job's next write: it starts with the op frame when
 * that has not gone out yet. */
static void job_buf(struct smtp_env *b)
{
	char op[32];

	memset(b, 0, sizeof *b);
	if (!Q->job.started)
		buf_put(b, op, ns_encode(op, sizeof op, WIRE_QUEUE_FRAME_INLINE,
					 sizeof WIRE_QUEUE_FRAME_INLINE - 1));
}

/* Send b (from job_buf).  A kept connection found closed at the first
 * write (relay-queue restarted) is replaced once: nothing of this job
 * reached the old one. */
static int job_send(const struct smtp_env *b)
{
	int rc;

	if (b->failed)
		return -1;
	rc = smtp_frame_write(Q->conn.sock, b->buf, b->len, QUEUE_WRITE_MS);
	if (rc < 0 && !Q->job.started && Q->job.kept &&
	    (errno == EPIPE || errno == ECONNRESET)) {
		Q->job.kept = 0;
		conn_drop();
		rc = conn_open(Q->sockpath) < 0 ? -1 :
		     smtp_frame_write(Q->conn.sock, b->buf, b->len, QUEUE_WRITE_MS);
	}
	/* said once per job (DATA writes no more after a failed write; an
	 * abort's end then fails the same way) */
	if (rc < 0 && Q->lost == SMTP_QUEUE_ANSWERED) {
		Q->lost = SMTP_QUEUE_HUNGUP;
		log_warn("relay-queue hung up mid-message: %s", strerror(errno));
	}
	Q->job.started |= rc == 0;
	return rc;
}

/* io's write plug: each buffer flushed during DATA is one frame. */
static ssize_t frame_write(struct io *o, const void *p, size_t n)
{
	struct smtp_env b;
	int rc;

	(void)o;
	job_buf(&b);
	buf_frame(&b, p, n);
	rc = job_send(&b);
	free(b.buf);
	return rc < 0 ? -1 : (ssize_t)n;
}

void smtp_queue_pollfd(struct pollfd *pf)
{
	if (q_slot && !*q_slot) { /* nothing kept: none made yet */
		*pf = (struct pollfd){ .fd = -1 };
		return;
	}
	*pf = (struct pollfd){ .fd = Q->conn.sock, .events = POLLIN | POLLRDHUP };
}

void smtp_queue_polled(const struct pollfd *pf, int polled)
{
	if (pf->fd < 0)
		return;
	if (polled > 0 && pf->fd == Q->conn.sock && pf->revents)
		conn_drop(); /* relay-queue restarted since, or out of step */
}

int smtp_queue_open(struct smtp_queue_job *j, const char *sockpath)
{
	j->out = NULL;
	Q->lost = SMTP_QUEUE_ANSWERED;
	snprintf(Q->sockpath, sizeof Q->sockpath, "%s", sockpath);
	Q->job.kept = Q->conn.sock >= 0 || conn_unpark();
	if (!Q->job.kept && conn_open(sockpath) < 0)
		return -1;
	io_init(&Q->out, -1, Q->conn.sock, 0);
	Q->out.write = frame_write;
	Q->job.open = 1;
	Q->job.started = 0;
	j->out = &Q->out;
	return 0;
}

/* No answer frame came (e: the read's errno). */
static void answer_lost(int e)
{
	Q->lost = SMTP_QUEUE_NOANSWER;
	if (e == ECONNRESET) {
		/* a unix socket says so to the reader whose peer closed with
		 * bytes of this connection unread: relay-queue went before the
		 * end of the message, which it needs to queue anything */
		Q->lost = SMTP_QUEUE_HUNGUP;
		log_warn("relay-queue hung up mid-message: its end unread");
	} else if (e == ETIMEDOUT) {
		log_warn("relay-queue gave no answer within data_timeout");
	} else if (e == 0) {
		log_warn("relay-queue hung up before answering");
	} else {
		log_warn("relay-queue answer lost: %s", strerror(e));
	}
}

/* Read the answer frame: status, id, text. */
static int job_answer(int timeout_ms, char *qid,
		      size_t qidsz, char *text, size_t textsz)
{
	static struct kv_msg m;
	char *payload;
	size_t len;
	const char *st, *id;

	errno = 0;
	if (smtp_frame_read(&Q->conn.rd, timeout_ms, &payload, &len) != 1) {
		answer_lost(errno);
		return -1;
	}
	if (kv_parse(&m, payload, len) < 0 || !(st = kv_get(&m, WIRE_QUEUE_STATUS)) ||
	    !*st || strspn(st, "0123456789") != strlen(st) || strlen(st) > 3) {
		Q->lost = SMTP_QUEUE_NOANSWER;
		log_warn("relay-queue gave no usable answer");
		return -1;
	}
	log_clean(text, textsz, kv_get_or(&m, WIRE_QUEUE_TEXT, ""),
		  strlen(kv_get_or(&m, WIRE_QUEUE_TEXT, "")));
	Q->reason = qreason_parse(kv_get(&m, WIRE_QUEUE_REASON));
	id = kv_get_or(&m, WIRE_QUEUE_ID, "");
	log_clean(qid, qidsz, id, strlen(id));
	log_clean(Q->receipt, sizeof Q->receipt,
		  kv_get_or(&m, ADMIT_WIRE_RECEIPT, ""),
		  strlen(kv_get_or(&m, ADMIT_WIRE_RECEIPT, "")));
	if (atoi(st) == 0 && !*qid) { /* durable without a name: no answer */
		Q->lost = SMTP_QUEUE_NOANSWER;
		log_warn("relay-queue gave no usable answer: no queue id");
		return -1;
	}
	return atoi(st);
}

/* What is left of the message, the end of it, the envelope in frames
 * and its end: for a small message the whole injection is this one
 * write.  The end of an aborted one is the same with no envelope. */
static int job_end(const char *env, size_t n, int keep_data)
{
	struct smtp_env b;
	int rc;

	job_buf(&b);
	if (keep_data && Q->out.out_len)
		buf_frame(&b, Q->out.out, Q->out.out_len);
	Q->out.out_len = 0;
	buf_frame(&b, "", 0);
	while (n > 0) {
		size_t k = n < NS_MAX ? n : NS_MAX;
		buf_frame(&b, env, k);
		env += k;
		n -= k;
	}
	buf_frame(&b, "", 0);
	rc = job_send(&b);
	free(b.buf);
	return rc;
}

int smtp_queue_finish(struct smtp_queue_job *j, const char *env, size_t n,
		      int timeout_ms, char *qid, size_t qidsz, char *text,
		      size_t textsz)
{
	int rc = -1;

	qid[0] = text[0] = Q->receipt[0] = '\0';
	Q->reason = QREASON_NONE;
	j->out = NULL;
	if (job_end(env, n, 1) == 0) /* job_send said why not */
		rc = job_answer(timeout_ms, qid, qidsz, text, textsz);
	job_close(rc >= 0);
	return rc;
}

int smtp_queue_abort(struct smtp_queue_job *j, int timeout_ms, char *text,
		     size_t textsz)
{
	char qid[64];
	int st = -1;

	j->out = NULL;
	text[0] = '\0';
	Q->reason = QREASON_NONE;
	if (!Q->job.open)
		return -1;
	if (!Q->job.started) { /* nothing went out: nothing to take back */
		job_close(1);
		return -1;
	}
	/* an empty envelope: relay-queue discards it and answers, and the
	 * connection stays in step for the next message */
	if (job_end(NULL, 0, 0) == 0)
		st = job_answer(timeout_ms, qid, sizeof qid, text, textsz);
	job_close(st >= 0);
	return st;
}

static void buf_put(struct smtp_env *e, const void *p, size_t n)
{
	if (e->failed)
		return;
	if (e->len + n > e->cap) {
		size_t cap = (e->len + n) * 2 + 256;
		char *nb = realloc(e->buf, cap);
		if (!nb) {
			e->failed = 1;
			return;
		}
		e->buf = nb;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

void smtp_queue_env_add(struct smtp_env *e, char type, const char *key,
			const char *value)
{
	buf_put(e, &type, 1);
	if (key) {
		buf_put(e, key, strlen(key));
		buf_put(e, "=", 1);
	}
	buf_put(e, value, strlen(value) + 1); /* with its NUL */
}

void smtp_queue_env_end(struct smtp_env *e)
{
	buf_put(e, "", 1);
}

void smtp_queue_use(struct smtp_queue_state **slot)
{
	q_slot = slot;
}

struct smtp_queue_state **smtp_queue_slot(void)
{
	return q_slot;
}

void smtp_queue_state_idle(struct smtp_queue_state *q)
{
	if (q && !q->job.open)
		io_release_idle(&q->out);
}

void smtp_queue_state_free(struct smtp_queue_state **slot)
{
	struct smtp_queue_state **was = q_slot;

	if (!*slot)
		return;
	q_slot = slot;
	conn_park();
	q_slot = was;
	free(*slot);
	*slot = NULL;
}
