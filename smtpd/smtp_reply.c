/* smtp_reply.c: queuing replies and flushing them at the right time.
 * PIPELINING (RFC 2920): replies to a group of commands go out together,
 * when no further complete command is buffered, so a client that sends
 * ten commands in one packet gets ten replies in one packet. */
#include "smtp_session.h"
#include "log.h"
#include "settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
}
