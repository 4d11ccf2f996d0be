/* smtp_session.h: the state of one SMTP session and the functions the
 * command handlers (smtp_verbs.c, smtp_mail.c, smtp_auth.c, smtp_tls.c,
 * smtp_queue.c) share. */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "dsn.h"
#include "io.h"
#include "smtp_policy.h"

/* What relay-listen (a frame) or the UCSPI environment says about the
 * connection; the strings are cleaned for the log by the session. */
struct smtp_peer {
	const char *ip, *port, *localip, *localport;
	int tls;                  /* implicit TLS: handshake first */
};

struct smtp_queue_state;

struct smtp_session {
	/* the client, from the UCSPI environment */
	char ip[64], port[8], localip[64], localport[8];
	/* state after the greeting; STARTTLS resets it */
	char helo[256];
	int helo_seen, esmtp;
	int tls;                  /* TLS active */
	int legacy;               /* ip is in legacy_clients (legacy.h) */
	const char *outcome;      /* how it ended, for metrics ("quit") */
	char tls_desc[128];       /* "TLSv1.3 TLS_AES_256_GCM_SHA384 256" */
	int authed;
	char auth_user[256];      /* as policy returned it */
	/* the transaction */
	int in_mail;
	char from[ADDR_MAX + 1];  /* after policy's rewrite */
	int null_sender;          /* the client's MAIL FROM was <> */
	char customer[128];
	int smtputf8, body8;
	char **rcpt;
	size_t nrcpt;
	struct smtp_bdat *bdat;   /* a BDAT message under way (smtp_bdat.c) */
	/* DSN (RFC 3461): RET, ENVID; per recipient the envelope's
	 * "NOTIFY ORCPT" text (lib/dsn.h), NULL when it gave none */
	int dsn_ret;
	char dsn_envid[DSN_ENVID_MAX + 1];
	char **rcpt_dsn;
	/* policy's proof for relay-queue with the last accepted RCPT (it
	 * covers every recipient accepted so far): DATA then asks policy
	 * nothing; data_early: this transaction's DATA takes it */
	struct smtp_admit admit;
	int data_early;
	/* accounting */
	long commands, errors;
	time_t start;
	int quit;                 /* leave the loop after this command */
	int secret;               /* AUTH was given: wipe the input at the end */
	int auth_reading;         /* the line read is an AUTH response */
	char *line;               /* command buffer, cf.line_max bytes */
	io_read_fn inner_read;    /* under the deadline check (guard) */
	io_write_fn inner_write;  /* likewise */
	time_t end;               /* start + cf.session_timeout */
	time_t data_end;          /* DATA's message is whole by then; 0: none */
	struct smtp_policy policy;
	/* a session among many: its relay-queue client state (smtp_queue.h),
	 * NULL until its first message; NULL itself otherwise */
	struct smtp_queue_state **queue;
	/* last: its two 16 KiB buffers end the struct, so that an idle
	 * session's memory is the few pages up to its pending input
	 * (io_release_idle); session_read finds s from it */
	struct io io;
};

/* Queue a reply line (CRLF added).  Replies go out when no complete
 * command is waiting in the input (PIPELINING) or before blocking. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Reply with a policy verdict: "code esc text". */
void smtp_reply_verdict(struct smtp_session *s,
			const struct smtp_verdict *v);
/* Flush now unless a complete command line is already buffered. */
int smtp_reply_flush_maybe(struct smtp_session *s);
/* Count an error reply; past cf.errors_max the session ends with 421. */
void smtp_session_error(struct smtp_session *s);
/* RFC 2920 / RFC 5321 synchronization: 1 when the client has sent
 * bytes we have not answered yet, i.e. more than the command in hand
 * (buffered, or on a plain socket waiting to be read); always 0 with
 * pipelining_strict = no. */
int smtp_sync_input_waiting(struct smtp_session *s);
/* A client that did not wait where it must (after a command that ends a
 * group, without PIPELINING, before the greeting): 554 5.5.0 and end
 * the session, so text it sent ahead (a message after a refused DATA) is
 * never taken as commands. */
void smtp_sync_refuse(struct smtp_session *s, const char *after);
/* 421 and end the session (policy down, limits, timeouts). */
void smtp_session_close421(struct smtp_session *s, const char *esc,
			   const char *text);
/* relay-policy's connection lost or not answering: 421 4.3.0, session
 * ends. */
void smtp_session_policy_lost(struct smtp_session *s);
/* After a read of the client failed: when relay-smtpd is stopping
 * (smtp_stop.h), 421 4.3.2, the session ends, and 1; else 0. */
int smtp_session_stopped(struct smtp_session *s);

/* Read one line (for AUTH continuation and commands) with the command
 * timeout; returns what smtp_session_getline wants the caller to do:
 * 1 line in s->line (checked: no bare CR/LF, NUL, overlong), 0 a reply
 * was already sent for a bad line, -1 the session is over. */
int smtp_session_getline(struct smtp_session *s, size_t *len);

/* Forget the transaction (RSET, after DATA, new EHLO, STARTTLS); when
 * tell_policy and a transaction was open, send policy phase=reset. */
void smtp_session_reset_tx(struct smtp_session *s, int tell_policy);
/* Set the read timeout: per_read seconds, cut to what is left of the
 * session's time. */
void smtp_session_timeout(struct smtp_session *s, long per_read);
/* Route reads and writes through the session deadline check; again
 * after anything (TLS) replaced s->io.read and s->io.write. */
void smtp_session_guard(struct smtp_session *s);
/* Ask policy; on no answer reply 451 4.3.0 and return -1. */
int smtp_session_ask(struct smtp_session *s, struct kv *req,
		     struct smtp_verdict *v);
/* Ask policy and answer a refusal itself (code/esc/text are used when
 * policy gave none); 0 when accepted, with the verdict in v. */
int smtp_session_decide(struct smtp_session *s, struct kv *req,
			struct smtp_verdict *v, int code, const char *esc,
			const char *text);
/* The receiving protocol name for the envelope and Received header:
 * ESMTP[S][A] (RFC 3848), UTF8SMTP[S][A] when the transaction's MAIL had
 * SMTPUTF8 (RFC 6531 3.7.3). */
const char *smtp_session_proto(const struct smtp_session *s);

/* Command handlers: arg is the text after the verb. */
typedef void smtp_handler(struct smtp_session *s, char *arg);
smtp_handler smtp_verb_helo, smtp_verb_ehlo, smtp_verb_rset, smtp_verb_noop,
    smtp_verb_quit, smtp_verb_vrfy, smtp_verb_help, smtp_verb_unimplemented,
    smtp_mail_from,
    smtp_mail_rcpt, smtp_txn_data, smtp_txn_bdat, smtp_tls_starttls,
    smtp_auth_cmd;
/* BDAT that cannot be parsed: 501 and the session ends, since the
 * chunk's length is unknown and its bytes must never run as commands. */
void smtp_bdat_unparsable(struct smtp_session *s);
/* Give up the BDAT message under way, if any (smtp_session_reset_tx). */
void smtp_bdat_abort(struct smtp_session *s);
/* per_read, cut to what is left of data_timeout for the BDAT message
 * under way (none: per_read). */
long smtp_bdat_wait(const struct smtp_session *s, long per_read);

/* One session on the connected fds; returns an exit status.  May run
 * again in the same process (a pool worker): every per-session field is
 * reset, only the policy connection (phase=connect starts a new session
 * on it) and the TLS context (rebuilt when its files change) stay. */
int smtp_session_run(int rfd, int wfd, const struct smtp_peer *p);
/* One session of its own, as one of many in a process (a coroutine of
 * a worker with smtpd_sessions_per_worker > 1): everything is made for
 * it and freed after, its policy connection included (closed, not
 * kept); the caller points smtp_queue at the session's own state. */
int smtp_session_serve(int fd, const struct smtp_peer *p);
/* Before the process exits: settle the policy connection (its owed
 * replies read, then closed). */
void smtp_session_exit(void);

#endif
