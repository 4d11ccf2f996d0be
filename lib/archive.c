/* archive.c: the archive copy's setting, its journal report and its
 * maildir names (archive.h is the contract). */
#include "archive.h"
#include "date822.h"
#include "rulekeys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int archive_target_kind(const char *target)
{
	if (!strcmp(target, ARCHIVE_MAILDIR))
		return ARCHIVE_FOLDER;
	if (*target && addr_mailbox_check(target, 0) == ADDR_OK)
		return ARCHIVE_ADDR;
	return -1;
}

void archive_conf_get(const char *val, struct archive_conf *ac)
{
	char t[ADDR_MAX + 1];
	int kind;

	memset(ac, 0, sizeof *ac);
	if (rk_get(val, ARCHIVE_RK_TARGET, t, sizeof t) != 1)
		return;
	kind = archive_target_kind(t);
	if (kind < 0)
		return;
	ac->kind = (enum archive_kind)kind;
	if (kind == ARCHIVE_ADDR)
		snprintf(ac->addr, sizeof ac->addr, "%s", t);
	ac->keep_days = rk_num(val, ARCHIVE_RK_KEEP, 0);
	if (ac->keep_days < 0 || ac->keep_days > ARCHIVE_KEEP_MAX)
		ac->keep_days = 0;
}

/* A growing string; on ENOMEM b->s is freed and NULL. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_addf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!b->s)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return;
	}
	if (n >= 0) {
		size_t cap = (b->cap + (size_t)n) * 2;
		char *p = realloc(b->s, cap);
		if (p) {
			b->s = p;
			b->cap = cap;
			va_start(ap, fmt);
			vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
			va_end(ap);
			b->len += (size_t)n;
			return;
		}
	}
	free(b->s);
	b->s = NULL;
}

/* The envelope part: the queue file's own fields, one a line. */
static void journal_envelope(struct sbuf *b, const struct qfile *q)
{
	char date[64];

	date822_format(q->arrival, date, sizeof date);
	sb_addf(b, "qid: %s\r\ntime: %lld (%s)\r\n", q->qid, q->arrival, date);
	for (size_t i = 0; i < q->ninfo; i++)
		sb_addf(b, "%s: %s\r\n", q->info[i].key, q->info[i].value);
	sb_addf(b, "from: <%s>\r\n", q->from);
	for (size_t i = 0; i < q->nrcpt; i++) {
		struct dsn_rcpt d = qfile_dsn(q, i);
		char t[DSN_RCPT_TEXT];

		sb_addf(b, "rcpt: <%s>\r\n", q->rcpt[i]);
		if (d.notify || d.orcpt) /* its DSN NOTIFY and ORCPT */
			sb_addf(b, "%s: %zu %s\r\n", DSN_KEY_RCPT, i,
				dsn_rcpt_format(&d, t));
	}
}

char *archive_journal_head(const struct qfile *q, const char *to,
			   const char *hostname, const char *boundary,
			   size_t *len)
{
	struct sbuf b = { malloc(4096), 0, 4096 };
	char date[64];

	date822_format(q->arrival, date, sizeof date);
	sb_addf(&b, "From: relaybox journal <MAILER-DAEMON@%s>\r\n", hostname);
	if (to)
		sb_addf(&b, "To: <%s>\r\n", to);
	sb_addf(&b, "Subject: Journal report %s\r\nDate: %s\r\n"
		"Message-ID: <%s.journal@%s>\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"%s\"\r\n"
		"X-Relaybox-Journal: %s\r\n\r\n"
		"A journal report: the envelope, then the message as relayed."
		"\r\n\r\n--%s\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Description: envelope\r\n\r\n",
		q->qid, date, q->qid, hostname, boundary, q->qid, boundary);
	journal_envelope(&b, q);
	sb_addf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n"
		"Content-Description: the message\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n", boundary);
	*len = b.len;
	return b.s;
}

int archive_journal_tail(const char *boundary, char *buf, size_t n)
{
	int k = snprintf(buf, n, "\r\n--%s--\r\n", boundary);
	return k < 0 || (size_t)k >= n ? -1 : k;
}

int archive_maildir_name(char *buf, size_t n, long long arrival,
			 const char *qid, const char *host)
{
	int k = snprintf(buf, n, "%lld.%s.", arrival, qid);
	size_t at = (size_t)k;

	if (k < 0 || (size_t)k >= n)
		return -1;
	for (; *host && at + 1 < n; host++)
		buf[at++] = (strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
				    *host) && *host) ? *host : '_';
	if (*host)
		return -1;
	buf[at] = '\0';
	return 0;
}

long long archive_maildir_time(const char *name)
{
	long long t = 0;
	const char *p = name;

	for (; *p >= '0' && *p <= '9' && p - name < 12; p++)
		t = t * 10 + (*p - '0');
	return p > name && *p == '.' ? t : -1;
}
