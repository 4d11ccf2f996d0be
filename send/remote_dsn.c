/* remote_dsn.c: DSN (RFC 3461) on delivery.  To a server that offers
 * DSN the client's parameters go on as they came (queue/QUEUE.md: kept
 * xtext-encoded); to one that does not, a recipient who asked
 * NOTIFY=SUCCESS is reported "nodsn" when delivered, and relay-send
 * sends the "relayed" notice itself (RFC 3461 5.2.2). */
#include "remote.h"

#include <stdio.h>
#include <string.h>

void remote_dsn_mail(const struct remote_conn *c, const struct remote_qfile *q,
		     char *buf, size_t n)
{
	const char *ret = qfile_get_info(&q->hdr, DSN_KEY_RET);
	const char *envid = qfile_get_info(&q->hdr, DSN_KEY_ENVID);
	size_t k = 0;

	buf[0] = '\0';
	if (!(c->ext & REMOTE_EXT_DSN))
		return;
	/* checked again: these go into a command line */
	if (ret && dsn_ret_parse(ret) != DSN_RET_NONE)
		k += (size_t)snprintf(buf, n, " RET=%s",
				      dsn_ret_name(dsn_ret_parse(ret)));
	if (envid && dsn_envid_ok(envid) && k < n)
		snprintf(buf + k, n - k, " ENVID=%s", envid);
}

void remote_dsn_rcpt(const struct remote_conn *c, const struct remote_qfile *q,
		     long index, char *buf, size_t n)
{
	struct dsn_rcpt d = qfile_dsn(&q->hdr, (size_t)index);
	char nt[DSN_NOTIFY_TEXT];
	size_t k = 0;

	buf[0] = '\0';
	if (!(c->ext & REMOTE_EXT_DSN) || index < 0)
		return;
	if (d.notify)
		k += (size_t)snprintf(buf, n, " NOTIFY=%s",
				      dsn_notify_format(d.notify, nt));
	if (d.orcpt && k < n) /* dsn_rcpt_parse checked it */
		snprintf(buf + k, n - k, " ORCPT=%s", d.orcpt);
}

void remote_dsn_delivered(const struct remote_conn *c,
			  const struct remote_qfile *q, struct remote_rcpt *r)
{
	struct dsn_rcpt d = qfile_dsn(&q->hdr, (size_t)r->index);

	r->nodsn = r->status == 'D' && !(c->ext & REMOTE_EXT_DSN) &&
		   r->index >= 0 && (d.notify & DSN_NOTIFY_SUCCESS);
}
