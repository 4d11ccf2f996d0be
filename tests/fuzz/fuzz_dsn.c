// links: send/send_dsn.c
/* fuzz_dsn.c: send_dsn_compose (bounces and delay warnings) on arbitrary
 * recipients, remote replies and original headers.  What comes out must
 * be a well-formed RFC 3462 multipart/report whatever went in: CRLF
 * lines of at most 998 octets, a legal boundary that no part contains,
 * exactly the three parts in order (RFC 6533's global types when
 * send_dsn_global says so), and a delivery-status part whose
 * per-recipient fields are present and well-formed.
 *
 * Input: NUL-separated fields.  Field 0: flags (byte 0 bit 0 delayed,
 * bit 1 relayed (a success notice: 2xx codes), bit 2 RET=FULL (the
 * whole message as message/rfc822), bit 3 DSN parameters follow, bit 4
 * the message came under SMTPUTF8; byte 1
 * the number of recipients, at most 8); then the reporting MTA,
 * the queue id and the bounce recipient; then per recipient its address,
 * two code digits, the reply text and the relay; with bit 3 the ENVID
 * and one ORCPT per recipient (as the queue file holds them: used when
 * lib/dsn.h finds them valid, each must then appear decoded once); the
 * rest (NULs and all) is the original header block.  Fields that the relay validates before
 * they get here (host name, queue id, mailboxes) are passed through the
 * same checks: an input that fails them is not composed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dsn.h"
#include "../../send/send.h"

#define FD_MAXRCPT 8

struct fd_in {
	const uint8_t *p;
	size_t n;
};

/* The next NUL-terminated field, copied (NULL when the input ran out). */
static char *fd_field(struct fd_in *in)
{
	const uint8_t *z = memchr(in->p, 0, in->n);
	size_t len = z ? (size_t)(z - in->p) : in->n;
	char *f;

	if (!in->n)
		return NULL;
	f = malloc(len + 1);
	memcpy(f, in->p, len);
	f[len] = '\0';
	in->p += z ? len + 1 : len;
	in->n -= z ? len + 1 : len;
	return f;
}

/* A mailbox as relay-smtpd would have stored it, or 0. */
static int fd_mailbox(const char *s, char *out, size_t n)
{
	char path[ADDR_MAX + 8];
	const char *rest;

	if (strlen(s) > ADDR_MAX)
		return 0;
	snprintf(path, sizeof path, "<%s>", s);
	return addr_parse_path(path, 0, 1, out, n, &rest) == ADDR_OK &&
	       *rest == '\0';
}

/* The host name, as relay.conf's checks leave it: 7-bit LDH. */
static int fd_host_ok(const char *h)
{
	for (const char *c = h; *c; c++)
		if ((unsigned char)*c >= 0x80)
			return 0;
	return addr_domain_valid(h, 0);
}

static int fd_qid_ok(const char *q)
{
	size_t n = strlen(q);
	if (!n || n > 64)
		return 0;
	for (; *q; q++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", *q))
			return 0;
	return 1;
}

/* ---- the checks on the output ---- */

static const char *fd_eol(const char *p, const char *end)
{
	const char *e = memchr(p, '\n', (size_t)(end - p));
	if (!e || e == p || e[-1] != '\r')
		abort();        /* every line ends in CRLF */
	return e - 1;
}

/* The lines: CRLF only, no NUL, no bare CR, at most 998 octets. */
static void fd_lines(const char *m, size_t len)
{
	const char *p = m, *end = m + len;

	if (len < 2 || memcmp(end - 2, "\r\n", 2))
		abort();
	while (p < end) {
		const char *e = fd_eol(p, end);
		if ((size_t)(e - p) > 998 || memchr(p, '\0', (size_t)(e - p)) ||
		    memchr(p, '\r', (size_t)(e - p)))
			abort();
		p = e + 2;
	}
}

/* The boundary parameter of the top Content-Type (unfolded). */
static void fd_boundary(const char *m, char *b, size_t n)
{
	const char *h = strstr(m, "\r\nContent-Type: multipart/report;");
	const char *body = strstr(m, "\r\n\r\n");
	const char *q, *e;

	if (!h || !body || h > body)
		abort();
	q = strstr(h, "boundary=\"");
	if (!q || q > body)
		abort();
	q += strlen("boundary=\"");
	e = strchr(q, '"');
	if (!e || (size_t)(e - q) >= n || e - q < 1 || e - q > 70)
		abort();        /* RFC 2046: 1 to 70 characters */
	memcpy(b, q, (size_t)(e - q));
	b[e - q] = '\0';
	for (q = b; *q; q++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789'()+_,-./:=? ", *q))
			abort();
	if (b[strlen(b) - 1] == ' ')
		abort();
}

/* Exactly three parts in order, the closing delimiter last, and no other
 * line that a MIME reader would take for a delimiter. */
static void fd_parts(const char *m, size_t len, const char *b, int full,
		     int global)
{
	const char *const type[] = {
		"Content-Type: text/plain",
		global ? "Content-Type: message/global-delivery-status\r\n"
		       : "Content-Type: message/delivery-status\r\n",
		full ? (global ? "Content-Type: message/global\r\n"
			       : "Content-Type: message/rfc822\r\n")
		     : (global ? "Content-Type: message/global-headers\r\n"
			       : "Content-Type: text/rfc822-headers\r\n"),
	};
	const char *p = strstr(m, "\r\n\r\n") + 4, *end = m + len;
	size_t bl = strlen(b), parts = 0;
	int closed = 0;

	while (p < end) {
		const char *e = fd_eol(p, end);
		if (closed)
			abort();        /* nothing after the closing delimiter */
		if ((size_t)(e - p) >= bl + 2 && p[0] == '-' && p[1] == '-' &&
		    !memcmp(p + 2, b, bl)) {
			const char *t = p + 2 + bl;
			if (t == e) {
				if (parts == 3 ||
				    strncmp(e + 2, type[parts], strlen(type[parts])))
					abort();
				parts++;
			} else if (e - t == 2 && t[0] == '-' && t[1] == '-') {
				closed = 1;
			} else {
				abort(); /* "--boundary..." inside a part */
			}
		}
		p = e + 2;
	}
	if (!closed || parts != 3)
		abort();
}

static size_t fd_count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Original-Envelope-Id once when the ENVID is valid, Original-Recipient
 * once per valid ORCPT, never otherwise. */
static void fd_params(const char *part, const struct send_dsn *d)
{
	size_t norcpt = 0;

	for (size_t i = 0; i < d->nrcpt; i++)
		norcpt += d->rcpt[i].orcpt && dsn_orcpt_ok(d->rcpt[i].orcpt);
	if (fd_count(part, "\r\nOriginal-Envelope-Id: ") !=
		    (size_t)(d->envid && dsn_envid_ok(d->envid)) ||
	    fd_count(part, "\r\nOriginal-Recipient: ") != norcpt)
		abort();
}

/* Each recipient's block in message/delivery-status has its fields. */
static void fd_status(const char *m, const char *bound, size_t nrcpt,
		      const struct send_dsn *d)
{
	const char *action = d->relayed ? "\r\nAction: relayed\r\n"
			     : d->delayed ? "\r\nAction: delayed\r\n"
					  : "\r\nAction: failed\r\n";
	int want = d->relayed ? 2 : 4, delayed = d->delayed;
	char *part, *end, *p, start[200];
	size_t n = 0;

	/* the part alone: from its delimiter line up to the next one */
	snprintf(start, sizeof start,
		 "\r\n--%s\r\nContent-Type: message/%sdelivery-status", bound,
		 send_dsn_global(d) ? "global-" : "");
	p = strstr(m, start);
	part = p ? strdup(p + 2) : NULL;
	if (!part)
		abort();
	end = strstr(part, "\r\n--");
	while (end && strncmp(end + 4, bound, strlen(bound)))
		end = strstr(end + 2, "\r\n--");
	if (!end)
		abort();
	end[2] = '\0';
	p = part;
	while ((p = strstr(p, "\r\nFinal-Recipient: ")) != NULL) {
		const char *st = strstr(p, "\r\nStatus: ");
		int a = -1, b = -1, c = -1;
		/* utf-8 (RFC 6533) for a UTF-8 address, in a global part */
		int utf8 = !strncmp(p + 19, "utf-8; ", 7);
		if ((!utf8 && strncmp(p + 19, "rfc822; ", 8)) ||
		    (utf8 && !send_dsn_global(d)) ||
		    !st || !strstr(p, action) ||
		    sscanf(st + 10, "%1d.%3d.%3d", &a, &b, &c) != 3 ||
		    (a != want && (d->relayed || a != 5)) || (delayed && a != 4))
			abort();
		p += 2;
		n++;
	}
	if (n != nrcpt)
		abort();
	fd_params(part, d);
	free(part);
}

static void fd_check(const char *m, size_t len, size_t nrcpt,
		     const struct send_dsn *d)
{
	char b[128], *z = malloc(len + 1);

	fd_lines(m, len);
	memcpy(z, m, len);
	z[len] = '\0';
	fd_boundary(z, b, sizeof b);
	fd_parts(z, len, b, d->full, send_dsn_global(d));
	fd_status(z, b, nrcpt, d);
	free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_in in = { data, size };
	struct send_dsn d = { .now = 1800000000, .arrival = 1799990000,
			      .retry_until = 1800400000 };
	struct send_dsn_rcpt r[FD_MAXRCPT];
	char *f[5 + 5 * FD_MAXRCPT] = { 0 }, to[ADDR_MAX + 1];
	char addr[FD_MAXRCPT][ADDR_MAX + 1], *msg = NULL;
	size_t nf = 0, len = 0, nrcpt;
	int ok = 1;

	f[nf++] = fd_field(&in);
	if (!f[0] || strlen(f[0]) < 2)
		goto out;
	d.relayed = (f[0][0] & 2) != 0;
	d.delayed = !d.relayed && (f[0][0] & 1);
	d.full = (f[0][0] & 4) != 0;
	d.utf8 = (f[0][0] & 16) != 0;
	nrcpt = (size_t)(unsigned char)f[0][1] % (FD_MAXRCPT + 1);
	for (int i = 0; i < 3; i++)
		f[nf++] = fd_field(&in);
	for (size_t i = 0; i < nrcpt * 4; i++)
		f[nf++] = fd_field(&in);
	for (size_t i = 0; (f[0][0] & 8) && i < 1 + nrcpt; i++)
		f[nf++] = fd_field(&in);
	for (size_t i = 1; i < nf; i++)
		ok &= f[i] != NULL;
	if (!ok || !fd_host_ok(f[1]) || !fd_qid_ok(f[2]) ||
	    !fd_mailbox(f[3], to, sizeof to))
		goto out;
	for (size_t i = 0; i < nrcpt; i++) {
		char **x = &f[4 + 4 * i];
		if (!fd_mailbox(x[0], addr[i], sizeof addr[i]))
			goto out;
		r[i].addr = addr[i];
		r[i].code = (x[1][0] && x[1][1])
			? 200 + ((x[1][0] & 3) * 100) + (x[1][1] & 63) : 0;
		r[i].text = x[2];
		r[i].relay = x[3];
		r[i].last = x[1][0] & 1 ? d.now - 60 : 0;
		r[i].orcpt = (f[0][0] & 8) ? f[5 + 4 * nrcpt + i] : NULL;
		r[i].expired = x[1][0] & 4 ? d.now : 0;
		if (d.relayed) /* relay-send reports only 2xx as relayed */
			r[i].code = 200 + (r[i].code % 100);
	}
	d.envid = (f[0][0] & 8) ? f[4 + 4 * nrcpt] : NULL;
	d.reporting_mta = f[1];
	d.qid = f[2];
	d.to = to;
	d.rcpt = r;
	d.nrcpt = nrcpt;
	d.headers = (const char *)in.p;
	d.headers_len = in.n;
	msg = send_dsn_compose(&d, &len);
	if (!msg)
		abort();
	fd_check(msg, len, nrcpt, &d);
out:
	free(msg);
	for (size_t i = 0; i < nf; i++)
		free(f[i]);
	return 0;
}
