/* queue_received.c: the Received header relay-queue prepends (RFC 5321
 * 4.4): who handed the message over (HELO, IP), how (ESMTP/ESMTPS/
 * ESMTPSA, UTF8SMTP... under SMTPUTF8, and the TLS parameters), the queue id, the recipient when there
 * is only one, and the date. */
#include "queue.h"
#include "date822.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ESMTP (UTF8SMTP under SMTPUTF8, RFC 6531 3.7.3), then S for TLS and
 * A for AUTH (RFC 3848), unless given. */
static void received_proto(const struct qfile *q, char *buf, size_t n)
{
	const char *p = qfile_get_info(q, "proto");
	const char *tls = qfile_get_info(q, "tls");
	const char *auth = qfile_get_info(q, "auth");
	const char *utf8 = qfile_get_info(q, QFILE_INFO_SMTPUTF8);
	int has_tls = tls && *tls && strcmp(tls, "0") != 0;

	if (p && *p) {
		snprintf(buf, n, "%s", p);
		return;
	}
	snprintf(buf, n, "%s%s%s",
		 utf8 && !strcmp(utf8, QFILE_INFO_YES) ? "UTF8SMTP" : "ESMTP",
		 has_tls ? "S" : "", auth && *auth ? "A" : "");
}

/* Header text may not carry '(' or ')' unbalanced: keep it simple.  An
 * 8-bit byte (a HELO name in Latin-1 or UTF-8, relay-smtpd takes it from
 * devices) is written %XX, and so is '%': the field relaybox writes is
 * ASCII (RFC 5322), whatever the message, and says what was sent. */
static void received_clean(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < n; src++) {
		unsigned char c = (unsigned char)*src;
		if (c >= 0x80 || c == '%') {
			if (i + 4 > n)
				break;
			i += (size_t)snprintf(dst + i, n - i, "%%%02X", c);
		} else {
			dst[i++] = (c == '(' || c == ')' || c == ';') ? '_'
								      : *src;
		}
	}
	dst[i] = '\0';
}

char *queue_received(const struct qfile *q, const char *hostname,
		     long long now)
{
	char helo[3 * 256], ip[64], proto[32], tls[160], date[64], forr[300];
	/* helo: 255 bytes, each %XX at worst */
	const char *t = qfile_get_info(q, "tls");
	size_t cap = 2048;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	received_clean(helo, sizeof helo, qfile_get_info(q, "helo"));
	received_clean(ip, sizeof ip, qfile_get_info(q, "ip"));
	received_clean(tls, sizeof tls, t);
	received_proto(q, proto, sizeof proto);
	date822_format(now, date, sizeof date);
	forr[0] = '\0';
	if (q->nrcpt == 1)
		snprintf(forr, sizeof forr, "\r\n\tfor <%s>", q->rcpt[0]);
	snprintf(buf, cap,
		 "Received: from %s%s%s%s\r\n\tby %s (relaybox) with %s"
		 "%s%s%s\r\n\tid %s%s; %s\r\n",
		 *helo ? helo : "unknown", *ip ? " ([" : "", ip, *ip ? "])" : "",
		 hostname, proto, (t && *t && strcmp(t, "1") != 0) ? " (" : "",
		 (t && *t && strcmp(t, "1") != 0) ? tls : "",
		 (t && *t && strcmp(t, "1") != 0) ? ")" : "", q->qid, forr,
		 date);
	return buf;
}
