/* smtp_session.c: one SMTP session: the greeting, the command loop with
 * its table of verbs, the per-session limits (commands, errors, time). */
#include "smtp_session.h"
#include "coro.h"
#include "metrics.h"
#include "runsock.h"
#include "smtp_cmd.h"
#include "smtp_queue.h"
#include "smtp_stop.h"
#include "smtp_tls.h"
#include "exitcodes.h"
#include "log.h"
#include "legacy.h"
#include "settings.h"
#include "wire_policy.h"

#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* last: the command must end a pipelined group (RFC 2920 3.1: EHLO,
 * DATA, VRFY, NOOP; and HELO): the client waits for its reply before
 * sending more; BDAT does not (RFC 3030 4.2).  STARTTLS drops what came
 * with it (smtp_tls.c), QUIT's followers are never read, AUTH is
 * checked by its own exchange. */
static const struct {
	const char *verb;
	smtp_handler *fn;
	int last;
} smtp_commands[] = {
	{ "EHLO", smtp_verb_ehlo, 1 },   { "HELO", smtp_verb_helo, 1 },
	{ "MAIL", smtp_mail_from, 0 },   { "RCPT", smtp_mail_rcpt, 0 },
	{ "DATA", smtp_txn_data, 1 },    { "RSET", smtp_verb_rset, 0 },
	{ "NOOP", smtp_verb_noop, 1 },   { "QUIT", smtp_verb_quit, 0 },
	{ "VRFY", smtp_verb_vrfy, 1 },   { "HELP", smtp_verb_help, 0 },
	{ "STARTTLS", smtp_tls_starttls, 0 }, { "AUTH", smtp_auth_cmd, 0 },
	{ "BDAT", smtp_txn_bdat, 0 },
	/* known, not implemented: 502, and no group is checked at them
	 * (their reply is an error whatever follows) */
	{ "EXPN", smtp_verb_unimplemented, 0 },
	{ "TURN", smtp_verb_unimplemented, 0 },
	{ "ETRN", smtp_verb_unimplemented, 0 },
};

/* The session's deadline holds inside a read too: a client that trickles
 * bytes without a line end must not outlive cf.session_timeout (nor a
 * DATA message its data_timeout).  Kept in
 * the session (its io is the first member), not in statics: a worker may
 * hold many sessions at once. */
static struct smtp_session *session_of(struct io *io)
{
	return (struct smtp_session *)(void *)
		((char *)io - offsetof(struct smtp_session, io));
}

/* The reads' deadline: the session's, or the DATA message's when one
 * is read and ends sooner (smtp_txn.c). */
static time_t read_deadline(const struct smtp_session *s)
{
	return s->data_end && s->data_end < s->end ? s->data_end : s->end;
}

static ssize_t session_read(struct io *io, void *buf, size_t n)
{
	struct smtp_session *s = session_of(io);
	long left = (long)(read_deadline(s) - time(NULL));

	if (smtp_stop_requested()) { /* the caller tells the client */
		io->err = IO_ERR_EOF;
		return -1;
	}
	if (left <= 0) {
		io->err = IO_ERR_TIMEOUT;
		return -1;
	}
	if (io->timeout_ms <= 0 || io->timeout_ms > left * 1000)
		io->timeout_ms = (int)(left * 1000);
	return s->inner_read(io, buf, n);
}

/* And inside a write: a client that reads its replies slowly, or not at
 * all, must not outlive it either (each write waited its own timeout,
 * the one of the last command read; one that failed left the buffer
 * full, so the next reply and the 421 waited again).  Past the end a
 * write still sends what goes without waiting (the 421 that says so),
 * and waits 1 ms at most. */
static ssize_t session_write(struct io *io, const void *buf, size_t n)
{
	struct smtp_session *s = session_of(io);
	long left = (long)(s->end - time(NULL));

	if (left <= 0)
		io->timeout_ms = 1;
	else if (io->timeout_ms <= 0 || io->timeout_ms > left * 1000)
		io->timeout_ms = (int)(left * 1000);
	return s->inner_write(io, buf, n);
}

void smtp_session_guard(struct smtp_session *s)
{
	if (s->io.read != session_read) {
		s->inner_read = s->io.read;
		s->io.read = session_read;
	}
	if (s->io.write != session_write) {
		s->inner_write = s->io.write;
		s->io.write = session_write;
	}
	s->end = s->start + cf.session_timeout;
}

/* Seconds left of cf.session_timeout, at least 0. */
static long session_left(const struct smtp_session *s)
{
	long left = cf.session_timeout - (long)(time(NULL) - s->start);
	return left > 0 ? left : 0;
}

/* The read timeout: the per-read limit, cut to the session's remainder. */
void smtp_session_timeout(struct smtp_session *s, long per_read)
{
	long left = session_left(s);
	s->io.timeout_ms = (int)((per_read < left ? per_read : left) * 1000);
	if (s->io.timeout_ms <= 0)
		s->io.timeout_ms = 1;
}

/* Tell the client why the read ended; -1 always. */
static int read_failed(struct smtp_session *s)
{
	if (smtp_session_stopped(s))
		return -1;
	if (s->io.err == IO_ERR_TIMEOUT) {
		log_info("%s: timeout (%s)", s->ip,
			 session_left(s) ? "command" : "session");
		smtp_session_close421(s, "4.4.2", "Error: timeout exceeded");
		s->outcome = "timeout";
	} else {
		log_info("%s: disconnected", s->ip);
		s->outcome = "dropped";
	}
	s->quit = 1;
	return -1;
}

/* An AUTH response (in a challenge, or the initial one on the AUTH
 * line) over line_max gets RFC 4954's own reply; its head, kept in the
 * buffers, is a secret like any AUTH line. */
static void line_too_long(struct smtp_session *s)
{
	if (s->auth_reading || strncasecmp(s->line, "AUTH ", 5) == 0) {
		s->secret = 1;
		smtp_reply(s, "500 5.5.6 Authentication Exchange line is too long");
	} else
		smtp_reply(s, "500 5.5.2 Line too long");
}

int smtp_session_getline(struct smtp_session *s, size_t *len)
{
	unsigned flags;
	int rc;

	if (smtp_reply_flush_maybe(s) < 0)
		return read_failed(s);
	if (!session_left(s)) {
		s->io.err = IO_ERR_TIMEOUT;
		return read_failed(s);
	}
	smtp_session_timeout(s, smtp_bdat_wait(s, cf.smtp_timeout));
	rc = io_getline(&s->io, s->line, (size_t)cf.line_max, len, &flags);
	if (rc <= 0 || (flags & IO_PARTIAL))
		return read_failed(s);
	if (*len + 2 > (size_t)cf.line_max)
		flags |= IO_TOOLONG;
	if (s->legacy && cf.legacy_bare_lf)
		flags &= ~IO_BARE_LF; /* a legacy device's lone LF ends it */
	switch (smtp_cmd_check(s->line, *len, flags)) {
	case SMTP_LINE_OK:
		return 1;
	case SMTP_LINE_BARE:
		smtp_reply(s, "500 5.5.2 Bare LF or CR in command refused");
		break;
	case SMTP_LINE_TOOLONG:
		line_too_long(s);
		break;
	case SMTP_LINE_NUL:
		smtp_reply(s, "500 5.5.2 NUL byte in command refused");
		break;
	}
	smtp_session_error(s);
	return 0;
}

static void session_dispatch(struct smtp_session *s)
{
	char verb[SMTP_VERB_MAX + 1], *arg;

	if (smtp_cmd_split(s->line, verb, &arg) == 0)
		for (size_t i = 0; i < sizeof smtp_commands / sizeof smtp_commands[0]; i++)
			if (strcmp(verb, smtp_commands[i].verb) == 0) {
				if (smtp_commands[i].fn == smtp_auth_cmd)
					s->secret = 1; /* wipe the input later */
				/* a group must end here, and without EHLO there
				 * are no groups (PIPELINING was not offered) */
				if ((smtp_commands[i].last || !s->esmtp) &&
				    smtp_sync_input_waiting(s)) {
					smtp_sync_refuse(s, verb);
					return;
				}
				smtp_commands[i].fn(s, arg);
				return;
			}
	if (smtp_cmd_bdat_mangled(s->line)) { /* "BDAT\t5": see the header */
		smtp_bdat_unparsable(s);
		return;
	}
	smtp_reply(s, "500 5.5.1 Command unrecognized");
	smtp_session_error(s);
}

static void session_loop(struct smtp_session *s)
{
	size_t len;

	while (!s->quit) {
		int rc = smtp_session_getline(s, &len);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		if (++s->commands > cf.commands_max) {
			log_info("%s: too many commands", s->ip);
			smtp_session_close421(s, "4.7.0", "Too many commands");
			break;
		}
		session_dispatch(s);
	}
	io_flush(&s->io);
}

static void copy_fact(char *dst, size_t n, const char *v, const char *def)
{
	if (!v || !*v)
		v = def;
	log_clean(dst, n, v, strlen(v));
}

/* The connections kept from the last session (to relay-policy and to
 * relay-queue) in one poll without waiting: one whose peer closed it
 * (the daemon restarted since) is dropped, to be opened again when
 * needed.  Among many sessions a kept policy connection is in the
 * scheduler's epoll set, whose last look (this wake-up's) tells as
 * much: no poll then (a session among many has no queue connection
 * yet at its start). */
static void session_look_kept(struct smtp_session *s)
{
	struct pollfd pf[2] = { { .fd = s->policy.fd, .events = POLLRDHUP } };
	int rc, hung = pf[0].fd >= 0 ? coro_fd_hung(pf[0].fd) : 0;

	smtp_queue_pollfd(&pf[1]);
	if (hung >= 0 && pf[1].fd < 0) {
		if (hung)
			smtp_policy_close(&s->policy);
		return;
	}
	if (pf[0].fd < 0 && pf[1].fd < 0)
		return;
	rc = poll(pf, 2, 0);
	if (smtp_policy_peer_left(&s->policy, &pf[0], rc))
		smtp_policy_close(&s->policy);
	smtp_queue_polled(&pf[1], rc);
}

/* A new session on the policy connection, opened when there is none.
 * phase=connect is always accepted (ARCHITECTURE.md): it is held and
 * goes out with the session's first real request, so a session costs
 * policy one wake-up fewer.  What is checked here is that policy is
 * there: a kept connection whose peer has gone (policy restarted) is
 * replaced, and no connection at all is a 421.  0 to go on, -1 to hang
 * up. */
static int session_connect(struct smtp_session *s, int client_fd)
{
	char path[4096];
	struct kv req;
	int rc;

	session_look_kept(s);
	runsock_path(RUNSOCK_POLICY, path, sizeof path);
	if (s->policy.fd < 0 && smtp_policy_open(&s->policy, path,
						 (int)cf.smtp_timeout * 1000) < 0)
		rc = -1;
	else {
		kv_init(&req);
		kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_CONNECT);
		kv_add(&req, WIRE_POLICY_IP, s->ip);
		kv_add(&req, WIRE_POLICY_PORT, s->port);
		kv_add(&req, WIRE_POLICY_LOCALPORT, s->localport);
		kv_add(&req, WIRE_POLICY_TLS, s->tls ? "1" : "0");
		/* with it, the client's socket: policy asks the kernel */
		smtp_policy_attach(&s->policy, client_fd);
		rc = smtp_policy_tell(&s->policy, &req, 1);
		kv_free(&req);
	}
	if (rc < 0) {
		log_warn("%s: policy unreachable at connect", s->ip);
		smtp_session_close421(s, "4.3.0", "Service temporarily unavailable");
	}
	return rc;
}

/* Everything of the previous session goes, except the policy connection
 * and the command buffer (wiped: it may have held an AUTH line). */
/* The session (two 16 KiB buffers: not on the stack); its policy
 * connection is valid from the second session on (kept). */
static struct smtp_session session;
static int kept;

/* A session's log lines are kept (log_batch) and written in one write
 * when it ends, or as soon as the client makes us wait (io's idle hook:
 * IO_IDLE_MS without a byte; TLS reads and the handshake call it too).
 * Among many sessions the worker keeps every session's lines and writes
 * them together (smtp_worker_multi.c), not each session. */
static int session_log_idle(int run)
{
	if (run) {
		log_batch(0);
		log_batch(1);
	}
	return log_held_bytes() > 0;
}

/* fresh: a session among many (smtp_session_serve): the policy
 * connection is one an earlier session left (smtp_policy_park) or none. */
static void session_init(struct smtp_session *s, int rfd, int wfd,
			 const struct smtp_peer *p, int fresh)
{
	struct smtp_policy pol = s->policy;
	char *line = s->line;

	if (fresh) /* one a session before it in this process left, if any */
		smtp_policy_unpark(&pol, (int)cf.smtp_timeout * 1000);
	else if (!kept)
		pol.fd = -1;
	if (!fresh)
		kept = 1;
	smtp_policy_forget(&pol); /* a HELO of the last session, never sent */
	/* everything before the two I/O buffers (io_init resets their
	 * indices; zeroing 32 KiB per session was 1% of relay-smtpd's CPU);
	 * a buffer that held an AUTH line was wiped when its session ended */
	memset(s, 0, offsetof(struct smtp_session, io) + offsetof(struct io, in));
	s->policy = pol;
	if (fresh) /* a session among many: its own, made by the worker */
		s->queue = smtp_queue_slot();
	io_init(&s->io, rfd, wfd, (int)cf.smtp_timeout * 1000);
	if (!fresh)
		s->io.idle = session_log_idle;
	s->start = time(NULL);
	s->outcome = "closed";  /* the client closed after a reply */
	smtp_session_guard(s);
	copy_fact(s->ip, sizeof s->ip, p->ip, "unknown");
	copy_fact(s->port, sizeof s->port, p->port, "0");
	copy_fact(s->localip, sizeof s->localip, p->localip, "unknown");
	copy_fact(s->localport, sizeof s->localport, p->localport, "0");
	s->legacy = legacy_client(s->ip);
	s->line = line ? line : malloc((size_t)cf.line_max);
	if (!s->line)
		log_fatal(EXIT_TEMP, "out of memory");
	explicit_bzero(s->line, (size_t)cf.line_max);
}

void smtp_session_exit(void)
{
	if (kept)
		smtp_policy_quit(&session.policy);
}

/* relay_smtpd_sessions_total{listener=<local port>,outcome=} */
static void session_count(const struct smtp_session *s)
{
	char l[METRICS_LABELS_MAX];

	metrics_add(METRIC_SMTPD_SESSIONS, 1,
		    metrics_labels(l, sizeof l, "listener", s->localport,
				   "outcome", s->outcome, NULL));
}

static int session_run(struct smtp_session *s, int rfd, int wfd,
		       const struct smtp_peer *p, int fresh)
{
	session_init(s, rfd, wfd, p, fresh);
	if (!fresh)
		log_batch(1);
	log_info("%s: connect port=%s", s->ip, s->localport);
	if (p->tls && smtp_tls_implicit(s) < 0) {
		if (!fresh)
			log_batch(0);
		return EXIT_TEMP;
	}
	if (session_connect(s, rfd) == 0) {
		if (smtp_sync_input_waiting(s)) /* talking before the greeting */
			smtp_sync_refuse(s, "CONNECT");
		else
			smtp_reply(s, "220 %s ESMTP relaybox", cf.hostname);
		session_loop(s);
	}
	/* a transaction still open is let go explicitly: relay-policy
	 * counts what a session that just vanished had reserved */
	smtp_session_reset_tx(s, 1);
	smtp_tls_close(s);
	explicit_bzero(s->line, (size_t)cf.line_max);
	if (s->secret)
		explicit_bzero(s->io.in, sizeof s->io.in);
	log_info("%s: disconnect commands=%ld errors=%ld", s->ip, s->commands,
		 s->errors);
	session_count(s);
	if (!fresh)
		log_batch(0);
	return EXIT_DONE;
}

int smtp_session_run(int rfd, int wfd, const struct smtp_peer *p)
{
	int rc;

	smtp_stop_watch(rfd);
	rc = session_run(&session, rfd, wfd, p, 0);
	smtp_stop_forget(rfd);
	return rc;
}

/* A session among many that waited CORO_IDLE_MS for its client (or for
 * policy or relay-queue): its io buffers' pages past the input pending
 * go back (its replies were flushed before the wait). */
static void session_idle(void *arg)
{
	struct smtp_session *s = arg;

	io_release_idle(&s->io);
	if (s->queue)
		smtp_queue_state_idle(*s->queue);
}

int smtp_session_serve(int fd, const struct smtp_peer *p)
{
	/* not calloc: the io buffers' pages are touched only as they are
	 * used, and given back while the client is idle (session_idle) */
	struct smtp_session *s = malloc(sizeof *s);
	int rc;

	if (!s)
		return EXIT_TEMP;
	memset(s, 0, offsetof(struct smtp_session, io) + offsetof(struct io, in));
	coro_idle_hook(session_idle, s);
	smtp_stop_watch(fd);
	rc = session_run(s, fd, fd, p, 1);
	smtp_stop_forget(fd);
	coro_idle_hook(NULL, NULL);
	smtp_policy_park(&s->policy); /* for the next session */
	free(s->line); /* wiped at the session's end */
	free(s);
	return rc;
}

int smtp_session_ask(struct smtp_session *s, struct kv *req,
		     struct smtp_verdict *v)
{
	if (smtp_policy_ask(&s->policy, req, v) == 0)
		return 0;
	smtp_session_policy_lost(s);
	return -1;
}

int smtp_session_decide(struct smtp_session *s, struct kv *req,
			struct smtp_verdict *v, int code, const char *esc,
			const char *text)
{
	if (smtp_session_ask(s, req, v) < 0)
		return -1;
	if (v->action == SMTP_ACCEPT)
		return 0;
	/* a refusal by policy is not a protocol error: errors_max counts
	 * those only (a client refused at RCPT is not cut off for it) */
	smtp_policy_defaults(v, code, esc, text);
	smtp_reply_verdict(s, v);
	return -1;
}

void smtp_session_reset_tx(struct smtp_session *s, int tell_policy)
{
	int was_open = s->in_mail;

	smtp_bdat_abort(s);
	for (size_t i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i]);
		free(s->rcpt_dsn[i]);
	}
	free(s->rcpt);
	free(s->rcpt_dsn);
	s->rcpt = NULL;
	s->rcpt_dsn = NULL;
	s->nrcpt = 0;
	s->dsn_ret = 0;
	s->dsn_envid[0] = '\0';
	s->in_mail = 0;
	s->admit.proof[0] = '\0';
	s->data_early = 0;
	s->from[0] = s->customer[0] = '\0';
	s->smtputf8 = s->body8 = 0;
	if (was_open && tell_policy && s->policy.fd >= 0) {
		struct kv req;
		kv_init(&req);
		kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_RESET);
		/* sent now (the transaction's pending recipients go at once);
		 * its answer changes nothing and is read with the next one */
		smtp_policy_tell(&s->policy, &req, 0);
		kv_free(&req);
	}
}

const char *smtp_session_proto(const struct smtp_session *s)
{
	/* RFC 3848 names; for a transaction under SMTPUTF8 (only after
	 * EHLO) RFC 6531 3.7.3's */
	static const char *const names[3][2][2] = {
		{ { "SMTP", "SMTP" }, { "SMTPS", "SMTPS" } },
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};
	int kind = s->smtputf8 ? 2 : s->esmtp != 0;

	return names[kind][s->tls != 0][s->authed != 0];
}
