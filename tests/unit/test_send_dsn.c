// links: send/send_dsn.c send/send_sched.c
/* test_send_dsn.c: RFC 3464 composition.  Status codes from replies (a
 * table), then the structure of a bounce and of a delay warning: the
 * multipart/report header, three parts in order, one recipient block per
 * failed recipient, the original headers, the closing boundary. */
#include "../../send/send.h"
#include "date822.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	int code;
	const char *text;
	int delayed;
	const char *want;
} status_cases[] = {
	{ 550, "5.1.1 no such user", 0, "5.1.1" },
	{ 552, " 5.2.2 mailbox full", 0, "5.2.2" },
	{ 550, "no enhanced code", 0, "5.0.0" },
	{ 451, "4.7.1 greylisted", 1, "4.7.1" },
	{ 421, "try later", 1, "4.0.0" },
	{ 0, "4.4.7 message expired after 5 days", 0, "4.4.7" },
	{ 550, "5.1.1x not a code", 0, "5.0.0" },
	{ 550, "9.1.1 bad class", 0, "5.0.0" },
	{ 550, "", 0, "5.0.0" },
	/* the class must agree with the reply and with the notice */
	{ 449, "2.4.1 a success code in a deferral", 0, "4.0.0" },
	{ 550, "4.1.1 class disagrees with the reply", 0, "5.0.0" },
	{ 451, "5.1.1 class disagrees", 1, "4.0.0" },
	{ 0, "5.1.1 permanent, but the notice says delayed", 1, "4.0.0" },
	{ 0, "2.0.0 no failure", 0, "4.0.0" },
	{ 250, "2.0.0 a success is no failure", 0, "4.0.0" },
};

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* m declares 8bit on its part of type ctype (which starts with start)
 * and on the whole notice (whose boundary is boundary). */
static int declares_8bit(const char *m, const char *ctype, const char *start,
			 const char *boundary)
{
	char part[200], top[120];

	snprintf(part, sizeof part, "Content-Type: %s\r\nContent-Transfer-"
		 "Encoding: 8bit\r\n\r\n%s", ctype, start);
	snprintf(top, sizeof top, "boundary=\"%s\"\r\nContent-Transfer-"
		 "Encoding: 8bit\r\n\r\n", boundary);
	return m && strstr(m, part) && strstr(m, top);
}

static void test_status(void)
{
	char buf[16], name[160];
	for (size_t i = 0; i < sizeof status_cases / sizeof *status_cases; i++) {
		send_dsn_status(status_cases[i].code, status_cases[i].text,
				status_cases[i].delayed, buf, sizeof buf);
		snprintf(name, sizeof name, "status of %d \"%s\"",
			 status_cases[i].code, status_cases[i].text);
		T_STREQ(name, buf, status_cases[i].want);
	}
}

static void test_bounce(void)
{
	const char hdr[] = "Received: from x\r\nSubject: hello\r\n"
			   "Message-ID: <m1@test>\r\n";
	struct send_dsn_rcpt r[] = {
		{ "bad@example.org", 550, "5.1.1 no such user",
		  "mx.example.org[192.0.2.5]:25", 1795432880, NULL, 0 },
		{ "gone@example.net", 0, "4.4.7 expired\r\nInjected: x", "", 0, NULL, 0 },
	};
	struct send_dsn d = { .reporting_mta = "relay.test", .qid = "ABC",
			      .to = "a@example.com", .arrival = 1795432783,
			      .now = 1795432883, .rcpt = r, .nrcpt = 2,
			      .headers = hdr, .headers_len = sizeof hdr - 1 };
	size_t len;
	char *m = send_dsn_compose(&d, &len);

	T_CHECK("bounce: composed", m && len == strlen(m));
	if (!m)
		return;
	T_CHECK("bounce: header is multipart/report; delivery-status",
		strstr(m, "\r\nContent-Type: multipart/report; "
			  "report-type=delivery-status;\r\n\tboundary=\"ABC/"));
	T_CHECK("bounce: To the sender", strstr(m, "\r\nTo: <a@example.com>\r\n"));
	T_CHECK("bounce: auto-submitted", strstr(m, "Auto-Submitted: auto-replied"));
	char *p1 = strstr(m, "Content-Type: text/plain");
	char *p2 = strstr(m, "Content-Type: message/delivery-status");
	char *p3 = strstr(m, "Content-Type: text/rfc822-headers");
	T_CHECK("bounce: three parts in order", p1 && p2 && p3 && p1 < p2 && p2 < p3);
	T_CHECK("bounce: Reporting-MTA", strstr(m, "\r\nReporting-MTA: dns; relay.test\r\n"));
	T_CHECK("bounce: Arrival-Date", strstr(m, "\r\nArrival-Date: Mon, 23 Nov 2026 "));
	T_CHECK("bounce: two recipient blocks",
		count(m, "\r\nFinal-Recipient: rfc822; ") == 2 &&
		    count(m, "\r\nAction: failed\r\n") == 2);
	T_CHECK("bounce: Status 5.1.1", strstr(m, "\r\nStatus: 5.1.1\r\n"));
	T_CHECK("bounce: Status 4.4.7 for the expired one",
		strstr(m, "\r\nStatus: 4.4.7\r\n"));
	T_CHECK("bounce: Remote-MTA, the host name",
		strstr(m, "\r\nRemote-MTA: dns; mx.example.org\r\n"
			  "X-Relaybox-Remote-Address: [192.0.2.5]:25\r\n"));
	T_CHECK("bounce: Diagnostic-Code smtp",
		strstr(m, "\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	T_CHECK("bounce: a CRLF in a reason cannot inject a field",
		!strstr(m, "\r\nInjected:"));
	T_CHECK("bounce: original headers", strstr(m, "Subject: hello\r\nMessage-ID: <m1@test>\r\n"));
	T_CHECK("bounce: closing boundary", len > 4 && strcmp(m + len - 4, "--\r\n") == 0);
	T_CHECK("bounce: only CRLF line ends", count(m, "\n") == count(m, "\r\n"));
	free(m);
	d.delayed = 1;
	d.retry_until = d.arrival + 432000;
	d.nrcpt = 1;
	m = send_dsn_compose(&d, &len);
	T_CHECK("delay: Action delayed", m && strstr(m, "\r\nAction: delayed\r\n") &&
						 !strstr(m, "Action: failed"));
	T_CHECK("delay: Will-Retry-Until", m && strstr(m, "\r\nWill-Retry-Until: "));
	T_CHECK("delay: subject", m && strstr(m, "Subject: Delayed Mail"));
	free(m);
}

/* A delay warning that goes before any attempt reached a recipient: a
 * real Status and Diagnostic-Code, and no Last-Attempt-Date; a tried
 * recipient beside it keeps its reply and the date of its attempt. */
static void test_delay_untried(void)
{
	const char hdr[] = "Subject: later\r\n";
	struct send_dsn_rcpt r[] = {
		{ "waiting@example.org", 0, "", "", 0, NULL, 0 },
		{ "tried@example.net", 451, "4.7.1 greylisted",
		  "mx.example.net[192.0.2.7]:25", 1795432800, NULL, 0 },
	};
	struct send_dsn d = { .delayed = 1, .reporting_mta = "relay.test",
			      .qid = "DEF", .to = "a@example.com",
			      .arrival = 1795432783, .now = 1795447183,
			      .retry_until = 1795432783 + 432000, .rcpt = r,
			      .nrcpt = 2, .headers = hdr,
			      .headers_len = sizeof hdr - 1 };
	size_t len;
	char *m = send_dsn_compose(&d, &len);
	const char *w = m ? strstr(m, "Final-Recipient: rfc822; waiting@") : NULL;
	const char *t = m ? strstr(m, "Final-Recipient: rfc822; tried@") : NULL;

	T_CHECK("untried: both recipient blocks", w && t && w < t);
	if (!w || !t) {
		free(m);
		return;
	}
	T_CHECK("untried: Status 4.4.5",
		strstr(w, "\r\nStatus: 4.4.5\r\n") && strstr(w, "Status") < t);
	T_CHECK("untried: Diagnostic-Code says why",
		strstr(w, "\r\nDiagnostic-Code: X-relaybox; 4.4.5 not attempted "
			  "yet") == strstr(w, "\r\nDiagnostic-Code:"));
	T_CHECK("untried: no Last-Attempt-Date in its block",
		!strstr(w, "Last-Attempt-Date") ||
		strstr(w, "Last-Attempt-Date") > t);
	T_CHECK("untried: the human part says why too",
		strstr(m, "<waiting@example.org>: 4.4.5 not attempted yet"));
	T_CHECK("tried: its reply and Last-Attempt-Date",
		strstr(t, "Status: 4.7.1\r\n") &&
		strstr(t, "Diagnostic-Code: smtp; 451 4.7.1 greylisted\r\n") &&
		strstr(t, "\r\nLast-Attempt-Date: "));
	free(m);
}

/* The client wrote the original header block: a line that imitates the
 * boundary, a bare LF or CR, a NUL and an overlong line must not break
 * the notice's MIME structure (found by tests/fuzz/fuzz_dsn.c). */
static void test_hostile_headers(void)
{
	static char hdr[3000];
	struct send_dsn_rcpt r = { "bad@example.org", 550, "5.1.1 no", "", 0, NULL, 0 };
	struct send_dsn d = { .reporting_mta = "relay.test", .qid = "ABC",
			      .to = "a@example.com", .now = 1795432883,
			      .rcpt = &r, .nrcpt = 1, .headers = hdr };
	size_t len, longest = 0, cur = 0;
	char *m;

	static const char start[] =
		"--ABC/1795432883/0\r\nX-A: bare\nLF\r\nX-B: bare\rCR\r\n"
		"X-C: a\0b\r\nX-D: ";
	memcpy(hdr, start, sizeof start - 1);
	d.headers_len = sizeof start - 1;
	memset(hdr + d.headers_len, 'x', 2000);
	d.headers_len += 2000;
	m = send_dsn_compose(&d, &len);
	T_CHECK("hostile headers: composed", m != NULL);
	if (!m)
		return;
	T_CHECK("hostile headers: the boundary avoids the client's line",
		strstr(m, "boundary=\"ABC/1795432883/1\""));
	T_CHECK("hostile headers: only CRLF line ends",
		count(m, "\n") == count(m, "\r\n") &&
		count(m, "\r") == count(m, "\r\n"));
	for (size_t i = 0; i < len; i++) {
		cur = (m[i] == '\r' || m[i] == '\n') ? 0 : cur + 1;
		longest = cur > longest ? cur : longest;
	}
	T_CHECK("hostile headers: no line over 998 octets", longest <= 998);
	T_CHECK("hostile headers: NUL replaced", strstr(m, "X-C: a?b\r\n"));
	free(m);
}

/* DSN parameters (RFC 3461): Original-Envelope-Id and Original-Recipient
 * decoded from xtext, a success notice (Action: relayed, Status 2.x.x),
 * and RET=FULL's whole message as message/rfc822. */
static void test_dsn_params(void)
{
	const char msg[] = "Subject: full\r\n\r\nthe body \xc3\xa9\r\n";
	struct send_dsn_rcpt r[] = {
		{ "ok@example.org", 250, "2.0.0 Ok: queued", "mx[192.0.2.5]:25",
		  1795432800, "rfc822;ok+2Bx@example.org", 0 },
		{ "plain@example.org", 250, "Ok", "mx[192.0.2.5]:25",
		  1795432800, NULL, 0 },
	};
	struct send_dsn d = { .relayed = 1, .reporting_mta = "relay.test",
			      .qid = "GHI", .to = "a@example.com",
			      .envid = "QQ+2B1", .arrival = 1795432783,
			      .now = 1795432883, .rcpt = r, .nrcpt = 2,
			      .headers = msg, .headers_len = 15 };
	size_t len;
	char *m = send_dsn_compose(&d, &len);
	const char *ok = m ? strstr(m, "Final-Recipient: rfc822; ok@") : NULL;
	const char *pl = m ? strstr(m, "Final-Recipient: rfc822; plain@") : NULL;

	T_CHECK("relayed: composed", m && ok && pl);
	if (!m || !ok || !pl) {
		free(m);
		return;
	}
	T_CHECK("relayed: Original-Envelope-Id decoded, first",
		strstr(m, "message/delivery-status\r\n\r\n"
			  "Original-Envelope-Id: QQ+1\r\nReporting-MTA: "));
	T_CHECK("relayed: Original-Recipient decoded, before Final-Recipient",
		strstr(m, "\r\n\r\nOriginal-Recipient: rfc822;ok+x@example.org"
			  "\r\nFinal-Recipient: rfc822; ok@"));
	T_CHECK("relayed: none for a recipient without ORCPT",
		count(m, "Original-Recipient:") == 1);
	T_CHECK("relayed: Action relayed, Status 2.0.0",
		count(m, "\r\nAction: relayed\r\nStatus: 2.0.0\r\n") == 2);
	T_CHECK("relayed: no Will-Retry-Until", !strstr(m, "Will-Retry-Until"));
	T_CHECK("relayed: subject", strstr(m, "Subject: Successful Mail Relay"));
	T_CHECK("relayed: headers part", strstr(m, "text/rfc822-headers"));
	free(m);
	d.relayed = 0;
	d.envid = "bad=envid"; /* not xtext: left out, never copied */
	d.full = 1;
	d.headers_len = sizeof msg - 1;
	m = send_dsn_compose(&d, &len);
	T_CHECK("full: message/rfc822, 8bit, and the whole notice too",
		declares_8bit(m, "message/rfc822", "Subject: full\r\n\r\n"
			      "the body \xc3\xa9\r\n", "GHI/1795432883/0"));
	T_CHECK("full: no rfc822-headers part",
		m && !strstr(m, "text/rfc822-headers"));
	T_CHECK("full: a bad ENVID is left out",
		m && !strstr(m, "Original-Envelope-Id"));
	free(m);
}

/* Expiry: the state line keeps the last attempt (time, code, reply and
 * relay), so the bounce's Last-Attempt-Date is that attempt's, not the
 * expiry's, its Diagnostic-Code the last reply, its Remote-MTA the relay
 * and its Status 4.4.7; a recipient never tried has no date. */
static void test_expired(void)
{
	const long long arrival = 1795000000, tried = arrival + 5 * 86400 - 3600,
			expiry = arrival + 5 * 86400 + 60;
	const char hdr[] = "Subject: old\r\n";
	char line[QSTATE_LINE_MAX + 2], date[64];
	struct qstate st;
	size_t len;

	T_CHECK("expired: state", qstate_init(&st, 2) == 0);
	snprintf(line, sizeof line, "0 T %lld %lld 451 {mx.example.org"
		 "[192.0.2.5]:25} 4.2.0 later", tried, tried + 14400);
	T_CHECK("expired: T line applied", qstate_apply(&st, line) == 0);
	for (size_t i = 0; i < 2; i++) {
		len = send_sched_expire_line(line, sizeof line, i, &st.r[i],
					     expiry);
		line[len ? len - 1 : 0] = '\0';
		T_CHECK("expired: B line applied", qstate_apply(&st, line) == 0);
	}
	T_CHECK("expired: B, the last attempt's time, code and text kept",
		st.r[0].status == 'B' && st.r[0].last == tried &&
		st.r[0].code == 451 && st.r[0].expired == expiry &&
		strstr(st.r[0].text, "} 4.2.0 later"));
	T_CHECK("expired: never tried: no attempt time",
		st.r[1].status == 'B' && st.r[1].last == 0 &&
		st.r[1].code == 0 && st.r[1].expired == expiry);
	T_CHECK("expired: the expiry counts as no attempt",
		st.r[0].attempts == 1 && st.r[1].attempts == 0);

	/* what send_bounce makes of them (the "{relay} " split off) */
	struct send_dsn_rcpt r[] = {
		{ "late@example.org", 451, "4.2.0 later",
		  "mx.example.org[192.0.2.5]:25", st.r[0].last, NULL,
		  st.r[0].expired },
		{ "never@example.org", 0, "", "", st.r[1].last, NULL,
		  st.r[1].expired },
	};
	struct send_dsn d = { .reporting_mta = "relay.test", .qid = "EXP",
			      .to = "a@example.com", .arrival = arrival,
			      .now = expiry, .rcpt = r, .nrcpt = 2,
			      .headers = hdr, .headers_len = sizeof hdr - 1 };
	char *m = send_dsn_compose(&d, &len);
	const char *a = m ? strstr(m, "Final-Recipient: rfc822; late@") : NULL;
	const char *b = m ? strstr(m, "Final-Recipient: rfc822; never@") : NULL;

	qstate_free(&st);
	T_CHECK("expired: both recipient blocks", a && b && a < b);
	if (!a || !b) {
		free(m);
		return;
	}
	date822_format(tried, date, sizeof date);
	snprintf(line, sizeof line, "\r\nLast-Attempt-Date: %s\r\n", date);
	T_CHECK("expired: Last-Attempt-Date is the last attempt's",
		strstr(a, line) && strstr(a, line) < b);
	T_CHECK("expired: Status 4.4.7, whatever the last reply said",
		strstr(a, "\r\nStatus: 4.4.7\r\n") < b &&
		strstr(b, "\r\nStatus: 4.4.7\r\n"));
	T_CHECK("expired: Diagnostic-Code is the last reply",
		strstr(a, "\r\nDiagnostic-Code: smtp; 451 4.2.0 later\r\n") < b);
	T_CHECK("expired: Remote-MTA is the relay, not in the text",
		strstr(a, "\r\nRemote-MTA: dns; mx.example.org\r\n") &&
		strstr(a, "\r\nRemote-MTA: dns; mx.example.org\r\n") < b &&
		!strstr(m, "{mx."));
	T_CHECK("expired: never tried: the expiry is the reason, no date",
		strstr(b, "\r\nDiagnostic-Code: X-relaybox; 4.4.7 message "
			  "expired after 5 days in the queue\r\n") &&
		!strstr(b, "Last-Attempt-Date"));
	T_CHECK("expired: the human part says both",
		strstr(m, "<late@example.org>: 4.4.7 message expired after 5 "
			  "days in the queue; last error: 451 4.2.0 later\r\n") &&
		strstr(m, "<never@example.org>: 4.4.7 message expired after 5 "
			  "days in the queue\r\n"));
	free(m);
}

/* RET=HDRS (the default): a header block with 8-bit bytes (a raw UTF-8
 * Subject) is declared 8bit, on its part and on the whole notice (RFC
 * 2046 5.2.1); a 7-bit one declares nothing. */
static void test_hdrs_8bit(void)
{
	const char hdr8[] = "Subject: Gr\xc3\xbc\xc3\x9f""e\r\nFrom: a@example.com\r\n";
	const char hdr7[] = "Subject: plain\r\n";
	struct send_dsn_rcpt r = { "bad@example.org", 550, "5.1.1 no", "", 0,
				   NULL, 0 };
	struct send_dsn d = { .reporting_mta = "relay.test", .qid = "H8",
			      .to = "a@example.com", .arrival = 1795432783,
			      .now = 1795432883, .rcpt = &r, .nrcpt = 1,
			      .headers = hdr8, .headers_len = sizeof hdr8 - 1 };
	size_t len;
	char *m = send_dsn_compose(&d, &len);

	T_CHECK("hdrs, 8-bit: text/rfc822-headers, 8bit, and the notice too",
		declares_8bit(m, "text/rfc822-headers", "Subject: Gr\xc3\xbc",
			      "H8/1795432883/0"));
	free(m);
	d.headers = hdr7;
	d.headers_len = sizeof hdr7 - 1;
	m = send_dsn_compose(&d, &len);
	T_CHECK("hdrs, 7-bit: no Content-Transfer-Encoding at all",
		m && strstr(m, "Content-Type: text/rfc822-headers\r\n\r\n"
			       "Subject: plain") &&
		    !strstr(m, "Content-Transfer-Encoding"));
	free(m);
}

/* RFC 6533: a UTF-8 recipient makes the notice internationalised (a
 * utf-8 human part, message/global-delivery-status with "utf-8;",
 * message/global-headers), an ASCII one beside it stays "rfc822;"; a
 * bidi control is exact in the status part, one "?" in the human part;
 * UTF-8 headers of an SMTPUTF8 message make it one too (message/global
 * for RET=FULL, a byte that is no UTF-8 there made "?"), those of a
 * message without SMTPUTF8 do not. */
static void test_global(void)
{
	const char hdr[] = "Subject: plain\r\n";
	const char full[] = "Subject: Gr\xc3\xbc\xff\r\n\r\nbody \xff\r\n";
	struct send_dsn_rcpt r[] = {
		{ "j\xc3\xb6rg@b\xc3\xbc""cher.example", 550, "5.1.1 no", "", 0,
		  NULL, 0 },
		{ "ab\xe2\x80\xae""cd@example.org", 550, "5.1.1 no", "", 0,
		  NULL, 0 },
		{ "plain@example.org", 550, "5.1.1 no", "", 0, NULL, 0 },
	};
	struct send_dsn d = { .reporting_mta = "relay.test", .qid = "G1",
			      .to = "a@example.com", .arrival = 1795432783,
			      .now = 1795432883, .rcpt = r, .nrcpt = 3,
			      .headers = hdr, .headers_len = sizeof hdr - 1,
			      .utf8 = 1 };
	size_t len;
	char *m = send_dsn_compose(&d, &len);

	T_CHECK("global: internationalised", send_dsn_global(&d));
	T_CHECK("global: report-type=global-delivery-status, 8bit",
		m && strstr(m, "report-type=global-delivery-status;\r\n\t"
			       "boundary=\"G1/1795432883/0\"\r\nContent-"
			       "Transfer-Encoding: 8bit\r\n"));
	T_CHECK("global: a utf-8 human part",
		m && strstr(m, "Content-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	T_CHECK("global: the human part shows UTF-8, a bidi control as ?",
		m && strstr(m, "\r\n<j\xc3\xb6rg@b\xc3\xbc""cher.example>: ") &&
		    strstr(m, "\r\n<ab?cd@example.org>: "));
	T_CHECK("global: message/global-delivery-status, 8bit",
		m && strstr(m, "Content-Type: message/global-delivery-status"
			       "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"));
	T_CHECK("global: Final-Recipient utf-8, the addresses exact",
		m && strstr(m, "\r\nFinal-Recipient: utf-8; j\xc3\xb6rg@"
			       "b\xc3\xbc""cher.example\r\n") &&
		    strstr(m, "\r\nFinal-Recipient: utf-8; ab\xe2\x80\xae"
			      "cd@example.org\r\n") &&
		    strstr(m, "\r\nFinal-Recipient: rfc822; plain@example.org"
			      "\r\n"));
	T_CHECK("global: message/global-headers",
		m && strstr(m, "Content-Type: message/global-headers\r\n\r\n"
			       "Subject: plain\r\n"));
	free(m);

	d.nrcpt = 0;
	T_CHECK("global: none for ASCII addresses and headers",
		!send_dsn_global(&d));
	d.nrcpt = 1;
	d.rcpt = &r[2];
	d.headers = full;
	d.headers_len = sizeof full - 1;
	d.full = 1;
	m = send_dsn_compose(&d, &len);
	T_CHECK("global, UTF-8 headers: message/global, UTF-8 headers, the "
		"body as it was",
		m && send_dsn_global(&d) &&
		    strstr(m, "Content-Type: message/global\r\nContent-Transfer-"
			      "Encoding: 8bit\r\n\r\nSubject: Gr\xc3\xbc?\r\n"
			      "\r\nbody \xff\r\n") &&
		    strstr(m, "charset=us-ascii") &&
		    strstr(m, "Content-Type: message/global-delivery-status"
			      "\r\n\r\n"));
	free(m);
	d.utf8 = 0;
	m = send_dsn_compose(&d, &len);
	T_CHECK("no SMTPUTF8, 8-bit headers: message/rfc822 as before",
		m && !send_dsn_global(&d) &&
		    strstr(m, "Content-Type: message/rfc822\r\n") &&
		    strstr(m, "report-type=delivery-status;") &&
		    strstr(m, "Subject: Gr\xc3\xbc\xff\r\n"));
	free(m);
}

int main(void)
{
	test_global();
	test_hdrs_8bit();
	test_expired();
	test_status();
	test_dsn_params();
	test_bounce();
	test_delay_untried();
	test_hostile_headers();
	return t_done();
}
