/* qreason.h: why relay-queue did not queue an injection, as it travels:
 * the value of WIRE_QUEUE_REASON in its reply frame (wire_queue.h:
 * "status=100 reason=envelope text=..."), next to the exit status
 * (exitcodes.h).  The status says
 * whether to retry (100 never, 111 later); the reason says what went
 * wrong, so that a client maps it to its own answer (relay-smtpd's
 * SMTP reply: smtpd/smtp_txn.c txn_queue_failed) without reading the
 * text, which is for people and logs only. */
#ifndef QREASON_H
#define QREASON_H

enum qreason {
	QREASON_NONE,     /* none given (an older relay-queue, or status 0) */
	QREASON_ENVELOPE, /* 100: a field of the envelope is not acceptable
			     (sender, recipient, an info value: HELO...) */
	QREASON_TOOBIG,   /* 100: envelope or message over a hard limit */
	QREASON_ADMIT,    /* relay-policy's proof missing or wrong */
	QREASON_REQUEST,  /* 100: the request frame itself was bad */
	QREASON_NOSPACE,  /* 111: disk or quota full */
	QREASON_IO,       /* 111: another I/O error */
	QREASON_TIMEOUT,  /* 111: the client stopped sending */
	QREASON_SIGN,     /* 111: DKIM signing failed (dkim_fail = defer) */
	QREASON_SPAM,     /* 100: the content scan scored it at or over the
			     customer's reject score */
	QREASON_SCAN,     /* 111: the content scan failed (scan_fail = defer) */
	QREASON_BUSY,     /* 111: the content scan could not give its verdict
			     within the client's wait (data_timeout) */
};

/* The wire name ("envelope"...); "" for QREASON_NONE. */
const char *qreason_name(enum qreason r);
/* The reason a wire name stands for; QREASON_NONE when unknown. */
enum qreason qreason_parse(const char *s);
/* A failed system call's errno: QREASON_NOSPACE for ENOSPC and EDQUOT,
 * else QREASON_IO. */
enum qreason qreason_errno(int e);

#endif
