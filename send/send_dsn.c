/* send_dsn.c: delivery status notifications (RFC 3464 inside RFC 3462's
 * multipart/report): a human part, the machine-readable
 * message/delivery-status part, and the original message's header block
 * as text/rfc822-headers (or, RET=FULL on a failure, the whole message as
 * message/rfc822).  A notice that names a UTF-8 address, or copies UTF-8
 * headers of a message that came under SMTPUTF8, is RFC 6533's
 * internationalised one: message/global-delivery-status ("utf-8;"
 * addresses), message/global or message/global-headers, a utf-8 human
 * part.  Composition only; sending is send_bounce. */
#include "send.h"
#include "textbuf.h"
#include "date822.h"
#include "dsn.h"
#include "utf8.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void send_dsn_status(int code, const char *text, int delayed, char *buf,
		     size_t n)
{
	const char *t = text ? text : "";
	int a, b, c, k = 0;

	while (*t == ' ')
		t++;
	/* the enhanced code stands only when its class agrees with the
	 * reply code (RFC 3463) and with what the notice reports */
	if (sscanf(t, "%1d.%3d.%3d%n", &a, &b, &c, &k) == 3 &&
	    (t[k] == '\0' || t[k] == ' ') &&
	    (code ? a == code / 100 : a == 4 || a == 5) &&
	    (a == 4 || (a == 5 && !delayed))) {
		snprintf(buf, n, "%d.%d.%d", a, b, c);
		return;
	}
	if (code >= 500 && code < 600 && !delayed)
		snprintf(buf, n, "5.0.0");
	else
		snprintf(buf, n, "4.0.0");
}

/* The status of a success (Action: relayed): the reply's 2.x.x, else
 * 2.0.0. */
static void dsn_success_status(const char *text, char *buf, size_t n)
{
	const char *t = text ? text : "";
	int b, c, k = 0;

	while (*t == ' ')
		t++;
	if (sscanf(t, "2.%3d.%3d%n", &b, &c, &k) == 2 &&
	    (t[k] == '\0' || t[k] == ' '))
		snprintf(buf, n, "2.%d.%d", b, c);
	else
		snprintf(buf, n, "2.0.0");
}

#define DSN_LINE_MAX 998 /* RFC 5322 2.1.1, without the CRLF */

/* Header field values from the network: printable ASCII only. */
static const char *dsn_clean(const char *s, char *buf, size_t n)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++)
		buf[i++] = (*s < 0x20 || *s > 0x7e) ? '?' : *s;
	buf[i] = '\0';
	return buf;
}

/* The copied message (RET=FULL) or header block (HDRS) has 8-bit bytes
 * (a raw UTF-8 Subject, say): its part and the whole notice say 8bit
 * (RFC 2046 5.2.1: a composite type's encoding covers its parts).  The
 * header part of a message that did not come under SMTPUTF8 stays
 * text/rfc822-headers: message/global-headers (RFC 6533) would promise
 * UTF-8, which a legacy 8-bit header need not be. */
static int dsn_8bit(const struct send_dsn *d)
{
	for (size_t i = 0; i < d->headers_len; i++)
		if ((unsigned char)d->headers[i] >= 0x80)
			return 1;
	return 0;
}

static int dsn_addr_8bit(const char *a)
{
	for (; a && *a; a++)
		if ((unsigned char)*a >= 0x80)
			return 1;
	return 0;
}

/* A listed recipient's address is UTF-8: the human and the status part
 * carry 8-bit text. */
static int dsn_rcpt_8bit(const struct send_dsn *d)
{
	for (size_t i = 0; i < d->nrcpt; i++)
		if (dsn_addr_8bit(d->rcpt[i].addr))
			return 1;
	return 0;
}

int send_dsn_global(const struct send_dsn *d)
{
	return dsn_addr_8bit(d->to) || dsn_rcpt_8bit(d) ||
	       (d->utf8 && dsn_8bit(d));
}

static void dsn_head(struct textbuf *b, const struct send_dsn *d,
		     const char *boundary)
{
	char date[64];
	date822_format(d->now, date, sizeof date);
	textbuf_add(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
		d->reporting_mta);
	textbuf_add(b, "To: <%s>\r\n", d->to);
	textbuf_add(b, "Subject: %s\r\n",
		d->relayed   ? "Successful Mail Relay (no further notices)"
		: d->delayed ? "Delayed Mail (still being retried)"
			     : "Undelivered Mail Returned to Sender");
	textbuf_add(b, "Date: %s\r\n", date);
	textbuf_add(b, "Message-ID: <%s.%s.%lld@%s>\r\n", d->qid,
		d->relayed ? "relayed" : d->delayed ? "delay" : "dsn", d->now,
		d->reporting_mta);
	textbuf_add(b, "Auto-Submitted: auto-replied\r\n");
	textbuf_add(b, "MIME-Version: 1.0\r\n");
	textbuf_add(b, "Content-Type: multipart/report; "
		   "report-type=%sdelivery-status;\r\n\tboundary=\"%s\"\r\n",
		send_dsn_global(d) ? "global-" : "", boundary);
	textbuf_add(b, "%s\r\n", dsn_8bit(d) || dsn_rcpt_8bit(d) ?
		    "Content-Transfer-Encoding: 8bit\r\n" : "");
	textbuf_add(b, "This is a MIME-encapsulated message.\r\n\r\n");
}

/* A recipient's reason: its last reply, or why there is none yet. */
static const char *dsn_text(const struct send_dsn_rcpt *r)
{
	return r->code || (r->text && *r->text) ? r->text : SEND_DSN_NOT_TRIED;
}

/* Why an expired recipient failed (RFC 3463 4.4.7); the last attempt's
 * reply, when there is one, follows it in the human part and is the
 * Diagnostic-Code. */
static const char *dsn_expired(const struct send_dsn *d,
			       const struct send_dsn_rcpt *r, char *buf,
			       size_t n)
{
	snprintf(buf, n, "4.4.7 message expired after %lld days in the queue",
		 (r->expired - d->arrival) / 86400);
	return buf;
}

/* An expired recipient whose last attempt left no reply: its reason is
 * the expiry itself. */
static const char *dsn_reason(const struct send_dsn *d,
			      const struct send_dsn_rcpt *r, char *buf,
			      size_t n)
{
	if (r->expired && !r->code && !(r->text && *r->text))
		return dsn_expired(d, r, buf, n);
	return dsn_text(r);
}

/* An address as the human part shows it: UTF-8 stays readable, but a
 * C1 or bidi control (which could make it read as another address) or a
 * byte that is no character becomes one "?", as in dsn_clean; the
 * status part has it exact. */
static const char *dsn_shown(const char *s, char *buf, size_t n)
{
	size_t i = 0, left = strlen(s);

	while (*s && i + 1 < n) {
		size_t len = utf8_shown_len(s, left), put = len;
		if (len > 0 && i + len + 1 > n)
			break;
		if (len > 0) {
			memcpy(buf + i, s, len);
		} else { /* one "?" for a whole hidden character */
			len = utf8_char_len(s, left);
			buf[i] = len == 1 && *s >= 0x20 && *s <= 0x7e ? *s : '?';
			len = len ? len : 1;
			put = 1;
		}
		i += put;
		s += len;
		left -= len;
	}
	buf[i] = '\0';
	return buf;
}

static void dsn_human(struct textbuf *b, const struct send_dsn *d,
		      const char *boundary)
{
	char t[600], e[100];
	if (dsn_rcpt_8bit(d))
		textbuf_add(b, "--%s\r\nContent-Type: text/plain; charset=utf-8"
			    "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
			    boundary);
	else
		textbuf_add(b, "--%s\r\nContent-Type: text/plain; "
			    "charset=us-ascii\r\n\r\n", boundary);
	textbuf_add(b, "This is the mail system at host %s.\r\n\r\n",
		d->reporting_mta);
	if (d->relayed)
		textbuf_add(b, "Your message was relayed to the recipients below. "
			   "The next mail\r\nsystem does not offer delivery "
			   "notifications: you will get no\r\nfurther notice "
			   "about them.\r\n\r\n");
	else if (d->delayed)
		textbuf_add(b, "Your message could not be delivered yet. It is "
			   "still in the queue\r\nand delivery will be "
			   "retried; you do not need to resend it.\r\n\r\n");
	else
		textbuf_add(b, "Your message could not be delivered to one or "
			   "more recipients.\r\nIt is attached below.\r\n\r\n");
	for (size_t i = 0; i < d->nrcpt; i++) {
		const struct send_dsn_rcpt *r = &d->rcpt[i];
		textbuf_add(b, "<%s>: ", dsn_shown(r->addr, t, sizeof t));
		if (r->expired && (r->code || (r->text && *r->text)))
			textbuf_add(b, "%s; last error: ",
				    dsn_expired(d, r, e, sizeof e));
		if (r->code)
			textbuf_add(b, "%d ", r->code);
		textbuf_add(b, "%s\r\n",
			    dsn_clean(dsn_reason(d, r, e, sizeof e), t, sizeof t));
	}
	textbuf_add(b, "\r\n");
}

/* RFC 3464 2.3.1: Original-Recipient, the ORCPT's address decoded. */
static void dsn_orcpt(struct textbuf *b, const char *orcpt)
{
	char addr[DSN_ORCPT_MAX + 1];
	const char *semi;

	if (!orcpt || !dsn_orcpt_ok(orcpt) || !(semi = strchr(orcpt, ';')))
		return;
	textbuf_add(b, "Original-Recipient: %.*s;%s\r\n", (int)(semi - orcpt),
		orcpt, dsn_xtext_decode(semi + 1, addr, sizeof addr));
}

/* RFC 3464 2.3.5: Remote-MTA names the host ("dns; mx.example.org"), so
 * the relay "host[ip]:port" is split: its address and port go in an
 * extension field of their own. */
static void dsn_remote_mta(struct textbuf *b, const char *relay)
{
	char clean[300];
	const char *ip;

	dsn_clean(relay, clean, sizeof clean);
	ip = strchr(clean, '[');
	if (ip == clean) /* no host name: the address is all there is */
		ip = NULL;
	textbuf_add(b, "Remote-MTA: dns; %.*s\r\n",
		    ip ? (int)(ip - clean) : (int)strlen(clean), clean);
	if (ip)
		textbuf_add(b, "X-Relaybox-Remote-Address: %s\r\n", ip);
}

static void dsn_status(struct textbuf *b, const struct send_dsn *d,
		       const char *boundary)
{
	char date[64], st[16], t[600], e[100];
	date822_format(d->arrival, date, sizeof date);
	/* RFC 6533 registers the global part with its UTF-8 as 8bit */
	textbuf_add(b, "--%s\r\nContent-Type: message/%sdelivery-status\r\n%s"
		    "\r\n", boundary, send_dsn_global(d) ? "global-" : "",
		    dsn_rcpt_8bit(d) ? "Content-Transfer-Encoding: 8bit\r\n"
				     : "");
	if (d->envid && dsn_envid_ok(d->envid)) /* RFC 3464 2.2.1: decoded */
		textbuf_add(b, "Original-Envelope-Id: %s\r\n",
			dsn_xtext_decode(d->envid, t, sizeof t));
	textbuf_add(b, "Reporting-MTA: dns; %s\r\nX-Relaybox-Queue-ID: %s\r\n",
		d->reporting_mta, d->qid);
	textbuf_add(b, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < d->nrcpt; i++) {
		const struct send_dsn_rcpt *r = &d->rcpt[i];
		if (d->relayed)
			dsn_success_status(r->text, st, sizeof st);
		else if (r->expired) /* whatever the last reply said */
			snprintf(st, sizeof st, "4.4.7");
		else
			send_dsn_status(r->code, dsn_text(r), d->delayed, st,
					sizeof st);
		textbuf_add(b, "\r\n");
		dsn_orcpt(b, r->orcpt);
		/* RFC 6533 3: a UTF-8 address is of type utf-8, as it is */
		textbuf_add(b, "Final-Recipient: %s; %s\r\n",
			    dsn_addr_8bit(r->addr) ? "utf-8" : "rfc822", r->addr);
		textbuf_add(b, "Action: %s\r\nStatus: %s\r\n",
			d->relayed ? "relayed" : d->delayed ? "delayed" : "failed",
			st);
		if (r->relay && *r->relay)
			dsn_remote_mta(b, r->relay);
		dsn_clean(dsn_reason(d, r, e, sizeof e), t, sizeof t);
		if (r->code)
			textbuf_add(b, "Diagnostic-Code: smtp; %d %s\r\n", r->code, t);
		else
			textbuf_add(b, "Diagnostic-Code: X-relaybox; %s\r\n", t);
		if (r->last > 0) { /* RFC 3464 2.3.7: only after an attempt */
			date822_format(r->last, date, sizeof date);
			textbuf_add(b, "Last-Attempt-Date: %s\r\n", date);
		}
		if (d->delayed) {
			date822_format(d->retry_until, date, sizeof date);
			textbuf_add(b, "Will-Retry-Until: %s\r\n", date);
		}
	}
	textbuf_add(b, "\r\n");
}

/* A header line (k bytes) of message/global or message/global-headers
 * must be UTF-8 (RFC 6532): a byte that starts no character there
 * becomes "?". */
static void dsn_utf8_line(char *line, size_t k)
{
	for (size_t i = 0; i < k;) {
		size_t len = utf8_char_len(line + i, k - i);
		if (len == 0) {
			line[i] = '?';
			len = 1;
		}
		i += len;
	}
}

/* The original header block as CRLF lines of at most 998 octets: it is
 * the client's text, and the notice goes to other mail systems.  utf8:
 * its header lines (up to the first empty one) are made UTF-8. */
static void dsn_headers(struct textbuf *b, const char *h, size_t len,
			int utf8)
{
	char line[DSN_LINE_MAX + 1];

	while (len && !b->failed) {
		const char *e = memmem(h, len, "\r\n", 2);
		size_t n = e ? (size_t)(e - h) : len, k = 0;

		for (size_t i = 0; i < n && k < DSN_LINE_MAX; i++)
			line[k++] = (h[i] == '\0' || h[i] == '\r' ||
				     h[i] == '\n') ? '?' : h[i];
		line[k] = '\0';
		if (utf8 && k == 0)
			utf8 = 0; /* the body: its own MIME says what it is */
		if (utf8)
			dsn_utf8_line(line, k);
		textbuf_add(b, "%s\r\n", line);
		h += e ? n + 2 : n;
		len -= e ? n + 2 : n;
	}
}

/* A MIME boundary (RFC 2046: at most 70 characters) that no line of the
 * original header block, which the client wrote, can imitate. */
static void dsn_boundary(const struct send_dsn *d, char *b, size_t n)
{
	for (unsigned k = 0;; k++) {
		snprintf(b, n, "%.40s/%lld/%u", d->qid, d->now, k);
		if (!d->headers_len || !memmem(d->headers, d->headers_len, b,
					       strlen(b)))
			return;
	}
}

char *send_dsn_compose(const struct send_dsn *d, size_t *len)
{
	struct textbuf b = { .p = malloc(8192), .cap = 8192 };
	char boundary[72];
	int global = send_dsn_global(d);

	if (!b.p)
		return NULL;
	dsn_boundary(d, boundary, sizeof boundary);
	dsn_head(&b, d, boundary);
	dsn_human(&b, d, boundary);
	dsn_status(&b, d, boundary);
	if (d->full)
		textbuf_add(&b, "--%s\r\nContent-Type: message/%s\r\n"
			    "Content-Transfer-Encoding: %s\r\n\r\n", boundary,
			global ? "global" : "rfc822", dsn_8bit(d) ? "8bit" : "7bit");
	else
		textbuf_add(&b, "--%s\r\nContent-Type: %s\r\n%s\r\n", boundary,
			    global ? "message/global-headers"
				   : "text/rfc822-headers", dsn_8bit(d) ?
			    "Content-Transfer-Encoding: 8bit\r\n" : "");
	dsn_headers(&b, d->headers, d->headers_len, global);
	textbuf_add(&b, "\r\n--%s--\r\n", boundary);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

char *send_dsn_headers(const char *path, off_t body, size_t max, size_t *len,
		       int whole)
{
	char *buf = malloc(max + 1), *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	*len = 0;
	if (!buf) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (fd >= 0) {
		n = pread(fd, buf, max, body);
		close(fd);
	}
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (whole) {
		*len = (size_t)n;
		return buf;
	}
	/* the header block ends at the first empty line */
	end = strstr(buf, "\r\n\r\n");
	*len = end ? (size_t)(end - buf) + 2 : (size_t)n;
	buf[*len] = '\0';
	return buf;
}
