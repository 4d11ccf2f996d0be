/* smtp_queue.h: relay-smtpd's client of relay-queue (run/queue.sock),
 * the qmail-queue contract over a unix socket kept from one message to
 * the next: the frame "op=inline", the message in frames, an empty
 * frame, the NUL-framed envelope in frames, an empty frame (for a small
 * message one write in all); the reply frame says "status=0 id=<qid>"
 * once the message is durable.  (relay-queue also takes "op=inject"
 * with two pipes attached, as relay-send uses it.) */
#ifndef SMTP_QUEUE_H
#define SMTP_QUEUE_H

#include <stddef.h>

#include "admit.h"
#include "io.h"
#include "ns.h"
#include "qreason.h"

struct smtp_queue_job {
	struct io *out;      /* put the message here; NULL once ended */
};

/* How the last job's exchange with relay-queue went when no answer came
 * (smtp_queue_open, _finish or _abort returned -1): the client's reply
 * and the log line say which (smtpd/smtp_txn.c txn_queue_lost). */
enum smtp_queue_lost {
	SMTP_QUEUE_ANSWERED,    /* nothing went wrong on the way */
	SMTP_QUEUE_UNREACHABLE, /* no connection: relay-queue not running,
				   restarting, its socket gone */
	SMTP_QUEUE_HUNGUP,      /* the connection broke before the message's
				   end went out: nothing queued */
	SMTP_QUEUE_NOANSWER,    /* all of it went out and no usable answer
				   came (timeout, hang-up, garbage): it may
				   be queued all the same */
};

/* A client's state.  The connection to relay-queue stays open from one
 * message to the next (and, in a pool worker serving one session at a
 * time, from one session to the next): many injections may follow on
 * one connection, one at a time.  It is dropped on any error, so a reply
 * that comes late can never be taken for the next message's. */
struct smtp_queue_state {
	struct {
		int sock;            /* -1 when not connected */
		struct ns_reader rd;
	} conn;
	char sockpath[4096];         /* for a reconnect in the middle */
	char receipt[ADMIT_MAC_HEX + 1];
	enum qreason reason;
	enum smtp_queue_lost lost;
	/* The message goes out in frames through this io (smtp_data_copy
	 * puts, frame_write sends each full buffer as one frame). */
	struct io out;
	struct {
		int open;            /* a job is under way */
		int started;         /* its op=inline frame has gone out */
		int kept;            /* on a connection kept from before */
	} job;
};

/* Sessions served at once in one process (coroutines, coro.h) each have
 * their own state: the scheduler points this module at the running
 * session's slot before it runs (made there at its first message, NULL
 * until then).  NULL: the process's one state (the default). */
void smtp_queue_use(struct smtp_queue_state **slot);
/* A session's state at its end: freed, *slot NULL; its connection kept
 * for the process's next session when in step (at most 32 kept; a
 * session takes one at its first message), else closed. */
void smtp_queue_state_free(struct smtp_queue_state **slot);
/* The slot smtp_queue_use set (NULL: the process's one state). */
struct smtp_queue_state **smtp_queue_slot(void);
/* A session idle between messages: the pages of its message buffer go
 * back (io_release_idle); q may be NULL (no message yet). */
void smtp_queue_state_idle(struct smtp_queue_state *q);

/* Start an injection on the connection kept from the last message
 * (connecting when there is none); nothing is sent yet.  0, or -1 when
 * relay-queue cannot be reached.  A kept connection is not looked at
 * here: a session looks at it once, at its start (smtp_queue_pollfd);
 * one found closed at the first write (relay-queue restarted since) is
 * replaced then. */
int smtp_queue_open(struct smtp_queue_job *j, const char *sockpath);

struct pollfd;
/* The look at the kept connection, in the caller's poll (timeout 0)
 * with other fds: pollfd fills pf (fd -1 when none is kept), polled
 * drops the connection when anything happened on it (relay-queue closed
 * it, or sent what nobody asked for).  polled is poll's result. */
void smtp_queue_pollfd(struct pollfd *pf);
void smtp_queue_polled(const struct pollfd *pf, int polled);
/* Send what is left of the message, its end and the envelope (env, n
 * bytes, already NUL-framed), and read the answer: the status (0
 * durable, 100, 111, ...) with the queue id or the text, or -1 when
 * relay-queue did not answer.  The connection stays open for the next
 * message unless the exchange went wrong. */
int smtp_queue_finish(struct smtp_queue_job *j, const char *env, size_t n,
		      int timeout_ms, char *qid, size_t qidsz, char *text,
		      size_t textsz);
/* relay-queue's receipt for the message the last smtp_queue_finish
 * queued ("" when none came): policy counts a commit only with it. */
const char *smtp_queue_receipt(void);
/* How the last job lost relay-queue (SMTP_QUEUE_ANSWERED when it did
 * not). */
enum smtp_queue_lost smtp_queue_lost(void);
/* Why relay-queue refused the last message (its reason= key; NONE when
 * it gave none or did not answer). */
enum qreason smtp_queue_reason(void);
/* Give up on the message: when part of it went out, end it with an
 * empty envelope (the queue discards it) and return the answer (as
 * smtp_queue_finish); -1 when nothing had gone out. */
int smtp_queue_abort(struct smtp_queue_job *j, int timeout_ms, char *text,
		     size_t textsz);

/* Envelope building: "I"/"F"/"T" fields, NUL-terminated each. */
struct smtp_env {
	char *buf;
	size_t len, cap;
	int failed;
};
void smtp_queue_env_add(struct smtp_env *e, char type, const char *key,
			const char *value);
/* The closing empty field. */
void smtp_queue_env_end(struct smtp_env *e);

#endif
