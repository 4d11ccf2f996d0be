/* smtp_reply.c: queuing replies and flushing them at the right time.
 * PIPELINING (RFC 2920): replies to a group of commands go out together,
 * when no further complete command is buffered, so a client that sends
 * ten commands in one packet gets ten replies in one packet.  Where a
 * client must wait for a reply and did not, it is refused (smtp_sync_*,
 * like Postfix's smtpd_forbid_unauth_pipelining). */
#include "smtp_session.h"
#include "smtp_stop.h"
#include "coro.h"
#include "log.h"
#include "settings.h"
#include "tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 3)
		n = (int)(sizeof buf - 3);
	memcpy(buf + n, "\r\n", 2);
	io_put(&s->io, buf, (size_t)n + 2);
}

void smtp_reply_verdict(struct smtp_session *s, const struct smtp_verdict *v)
{
	if (v->esc[0])
		smtp_reply(s, "%d %s %s", v->code, v->esc, v->text);
	else
		smtp_reply(s, "%d %s", v->code, v->text);
}

int smtp_reply_flush_maybe(struct smtp_session *s)
{
	const struct io *io = &s->io;

	if (memchr(io->in + io->in_start, '\n', io->in_end - io->in_start))
		return 0;
	return io_flush(&s->io);
}

/* "The client sent more before our reply": any byte of it, wherever it
 * is now: in our buffer, in OpenSSL's (TLS: the rest of a record, or
 * records read ahead with it), or on the socket (plain bytes, or TLS
 * records not read yet, whole or in part).  What has not arrived yet is
 * not seen, in TLS as in plain text. */
int smtp_sync_input_waiting(struct smtp_session *s)
{
	char c;

	if (!cf.pipelining_strict)
		return 0;
	if (io_pending(&s->io) || (s->tls && tls_pending(&s->io)))
		return 1;
	if (recv(s->io.rfd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		return 1;
	/* nothing there: the next read waits first, plain or TLS (the
	 * greeting's peek spares the session's first read, which came
	 * before its socket was in the scheduler's epoll set) */
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		coro_read_none(s->io.rfd);
	return 0;
}

void smtp_sync_refuse(struct smtp_session *s, const char *after)
{
	log_info("%s: improper pipelining after %s: refused", s->ip, after);
	smtp_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
	io_flush(&s->io);
	s->quit = 1;
	s->outcome = "protocol_error";
}

void smtp_session_error(struct smtp_session *s)
{
	if (++s->errors < cf.errors_max)
		return;
	log_info("%s: too many errors (%ld)", s->ip, s->errors);
	smtp_session_close421(s, "4.7.0", "Too many errors");
}

void smtp_session_close421(struct smtp_session *s, const char *esc,
			   const char *text)
{
	smtp_reply(s, "421 %s %s %s", esc, cf.hostname, text);
	io_flush(&s->io);
	s->quit = 1;
	s->outcome = "closed_421";
}

/* relay-smtpd stops with the relay: the client is told before the close
 * (RFC 5321 3.8); what it sent of an open transaction was not
 * acknowledged, so it sends that again later. */
int smtp_session_stopped(struct smtp_session *s)
{
	if (!smtp_stop_requested())
		return 0;
	log_info("%s: relay-smtpd stopping: session ended", s->ip);
	smtp_session_close421(s, "4.3.2", "Service shutting down, try again "
			      "later");
	return 1;
}

/* The session's state in relay-policy (HELO, TLS, AUTH) went with its
 * connection and cannot be rebuilt without the client (AUTH secrets are
 * not kept): the client gets a fresh session by reconnecting, rather
 * than a 451 for every later command.  Not counted for errors_max. */
void smtp_session_policy_lost(struct smtp_session *s)
{
	smtp_session_close421(s, "4.3.0",
			      "Policy service unavailable, try again later");
}
