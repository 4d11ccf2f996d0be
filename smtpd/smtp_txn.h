/* smtp_txn.h: a message's way into the queue, shared by DATA
 * (smtp_txn.c) and BDAT (smtp_bdat.c): open it (policy asked, queue
 * job started), and settle it once the text is in (policy's verdict, the
 * durable 250 or the refusal, the commit, the log line). */
#ifndef SMTP_TXN_H
#define SMTP_TXN_H

#include "smtp_data.h"
#include "smtp_queue.h"
#include "smtp_session.h"

/* Ask policy about the message (its verdict is read when settling) and
 * start a queue job: 0, or -1 after replying. */
int smtp_txn_open(struct smtp_session *s, struct smtp_queue_job *j);
/* The text is all read (r says how it went): queue it and answer 250
 * only when relay-queue made it durable, or refuse it; the transaction
 * ends either way. */
void smtp_txn_settle(struct smtp_session *s, struct smtp_queue_job *j,
		     struct smtp_data_result *r);
/* The message's log line (qid "" before it has one). */
void smtp_txn_log(struct smtp_session *s, const char *qid,
		  const struct smtp_data_result *r, const char *result);

#endif
