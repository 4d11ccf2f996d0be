/* smtp_queue.h: relay-smtpd's client of relay-queue (run/queue.sock),
 * the qmail-queue contract over a unix socket: the frame "op=inject"
 * carries the read ends of two pipes (message, envelope); the reply
 * frame says "status=0 id=<qid>" once the message is durable. */
#ifndef SMTP_QUEUE_H
#define SMTP_QUEUE_H

#include <stddef.h>

#include "ns.h"

struct smtp_queue_job {
	int msgfd, envfd;    /* write ends of the two pipes, -1 when closed */
};

/* Make the pipes, send op=inject with the read ends on the connection
 * kept from the last message (connecting when there is none). */
int smtp_queue_open(struct smtp_queue_job *j, const char *sockpath);
/* Close the message pipe, write the envelope (env, n bytes, already
 * NUL-framed), close it, and read the answer: the status (0 durable,
 * 100, 111, ...) with the queue id or the text, or -1 when relay-queue
 * did not answer.  The job is closed afterwards (the connection stays
 * open for the next message unless the exchange went wrong). */
int smtp_queue_finish(struct smtp_queue_job *j, const char *env, size_t n,
		      int timeout_ms, char *qid, size_t qidsz, char *text,
		      size_t textsz);
/* Give up on the message: close both pipes without an envelope (the
 * queue discards it), collect the answer (as smtp_queue_finish: why
 * relay-queue stopped reading, e.g. a full disk), close the job. */
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
