// links: queue/queue_received.c
/* test_queue_file.c: the queue file header (lib/qfile) written and read
 * back, refused when damaged; the state file (lib/qstate) replayed,
 * including a torn last line and a duplicate after a crash; the Received
 * header. */
#include "../../queue/queue.h"
#include "qfile.h"
#include "qstate.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_queue_file.XXXXXX";

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	fwrite(data, 1, len, f);
	return fclose(f);
}

static void test_roundtrip(void)
{
	char *rcpts[] = { "b@example.org", "c@example.net" };
	struct qfile q = { .arrival = 1795432783, .from = "a@example.com",
			   .rcpt = rcpts, .nrcpt = 2, .ninfo = 2 };
	struct qfile r;
	char path[300], err[200], *hdr, *file;
	const char *body = "Subject: x\r\n\r\nhello\r\n";
	size_t hlen;

	strcpy(q.qid, "6B04214FE16FE028A60");
	q.info[0] = (struct qfile_info){ "ip", "192.0.2.1" };
	q.info[1] = (struct qfile_info){ "helo", "client.test" };
	hdr = qfile_format(&q, &hlen);
	T_CHECK("qfile: format", hdr != NULL);
	file = malloc(hlen + strlen(body) + 1);
	memcpy(file, hdr, hlen);
	strcpy(file + hlen, body);
	snprintf(path, sizeof path, "%s/q", tmpdir);
	write_file(path, file, hlen + strlen(body));
	T_CHECK("qfile: load", qfile_load(path, &r, err, sizeof err) == 0);
	T_STREQ("qfile: qid", r.qid, q.qid);
	T_CHECK("qfile: arrival", r.arrival == q.arrival);
	T_STREQ("qfile: from", r.from, "a@example.com");
	T_CHECK("qfile: nrcpt", r.nrcpt == 2);
	T_STREQ("qfile: rcpt 1", r.nrcpt == 2 ? r.rcpt[1] : "", "c@example.net");
	T_STREQ("qfile: info ip", qfile_get_info(&r, "ip"), "192.0.2.1");
	T_CHECK("qfile: body offset", r.body == (off_t)hlen);
	T_CHECK("qfile: size", r.size == (off_t)(hlen + strlen(body)));
	qfile_free(&r);

	/* damaged copies are refused */
	write_file(path, file, hlen - 1); /* no empty line */
	T_CHECK("qfile: truncated header refused",
		qfile_load(path, &r, err, sizeof err) < 0);
	file[0] = 'X';
	write_file(path, file, hlen + strlen(body));
	T_CHECK("qfile: bad magic refused",
		qfile_load(path, &r, err, sizeof err) < 0);
	write_file(path, "relaybox-queue 1\nqid=A\nfrom=\n\n", 30);
	T_CHECK("qfile: no recipients refused",
		qfile_load(path, &r, err, sizeof err) < 0);
	T_CHECK("qfile: value with newline not ok",
		!qfile_value_ok("a\nb", 100) && qfile_value_ok("ab", 100));
	unlink(path);
	free(file);
	free(hdr);
}

static void test_state(void)
{
	char path[300], line[QSTATE_LINE_MAX + 2];
	struct qstate s;
	size_t n;
	const char *lines =
	    "0 T 100 400 451 {mx.test[192.0.2.5]:25} 4.2.0 try later\n"
	    "1 D 100 0 250 ok\n"
	    "0 T 400 1000 421 4.4.2 timeout\n"
	    "W 3700\n"
	    "2 B 500 0 550 5.1.1 no such user\n"
	    "1 T 600 900 451 duplicate after a crash: final stays final\n"
	    "9 D 600 0 250 index out of range: ignored\n"
	    "garbage line\n"
	    "0 D 700 0 250 torn write";

	snprintf(path, sizeof path, "%s/state", tmpdir);
	write_file(path, lines, strlen(lines));
	qstate_init(&s, 3);
	T_CHECK("qstate: load", qstate_load(path, &s) == 6);
	T_CHECK("qstate: rcpt 0 deferred twice",
		s.r[0].status == 'T' && s.r[0].attempts == 2 &&
		    s.r[0].next == 1000 && s.r[0].code == 421);
	T_STREQ("qstate: rcpt 0 last text", s.r[0].text, "4.4.2 timeout");
	T_CHECK("qstate: rcpt 1 delivered stays final", s.r[1].status == 'D');
	T_CHECK("qstate: rcpt 2 bounced", s.r[2].status == 'B' &&
						  s.r[2].code == 550);
	T_CHECK("qstate: warning time", s.warned == 3700);
	T_CHECK("qstate: one pending", qstate_pending(&s) == 1);
	n = qstate_format(line, sizeof line, 0, 'D', 800, 0, 250,
			  "ok\r\ninjected 1 D");
	T_CHECK("qstate: format one line", n > 0 && line[n - 1] == '\n' &&
						   !memchr(line, '\r', n) &&
						   strchr(line, '\n') == line + n - 1);
	T_CHECK("qstate: append", qstate_append(path, "\n", 1) == 0 &&
					  qstate_append(path, line, n) == 0);
	qstate_free(&s);
	qstate_init(&s, 3);
	qstate_load(path, &s);
	T_CHECK("qstate: after append all final", qstate_pending(&s) == 0);
	qstate_free(&s);
	unlink(path);
}

static void test_received(void)
{
	char *rcpts[] = { "b@example.org" };
	struct qfile q = { .from = "a@example.com", .rcpt = rcpts, .nrcpt = 1,
			   .ninfo = 3 };
	char *r;

	strcpy(q.qid, "ABC123");
	q.info[0] = (struct qfile_info){ "ip", "192.0.2.1" };
	q.info[1] = (struct qfile_info){ "helo", "evil (x); y" };
	q.info[2] = (struct qfile_info){ "auth", "user@example.com" };
	setenv("TZ", "UTC", 1);
	r = queue_received(&q, "relay.test", 1795432783);
	T_CHECK("received: from helo and ip",
		r && strncmp(r, "Received: from evil _x__ y ([192.0.2.1])\r\n",
			     42) == 0);
	T_CHECK("received: ESMTPA when authenticated",
		r && strstr(r, "by relay.test (relaybox) with ESMTPA\r\n"));
	T_CHECK("received: id, for, date",
		r && strstr(r, "\tid ABC123\r\n\tfor <b@example.org>; "
			       "Mon, 23 Nov 2026 11:19:43 +0000\r\n"));
	free(r);
	/* no proto (relay-queue dropped one without A under a proof that
	 * names a user): under SMTPUTF8 the name is RFC 6531's */
	q.info[3] = (struct qfile_info){ QFILE_INFO_SMTPUTF8, QFILE_INFO_YES };
	q.ninfo = 4;
	r = queue_received(&q, "relay.test", 1795432783);
	T_CHECK("received: UTF8SMTPA under SMTPUTF8, authenticated",
		r && strstr(r, "by relay.test (relaybox) with UTF8SMTPA\r\n"));
	free(r);
	q.ninfo = 3;
	/* an 8-bit HELO name (Latin-1, UTF-8 or neither) goes in as %XX:
	 * the field relaybox writes stays ASCII (RFC 5322) */
	static const struct { const char *helo, *want; } eight[] = {
		{ "caf\xe9.example", "Received: from caf%E9.example ([" },
		{ "b\xc3\xbcro.example", "Received: from b%C3%BCro.example ([" },
		{ "x\xff\xfe", "Received: from x%FF%FE ([" },
		{ "100%.example", "Received: from 100%25.example ([" },
	};
	for (size_t i = 0; i < sizeof eight / sizeof eight[0]; i++) {
		q.info[1].value = (char *)eight[i].helo;
		r = queue_received(&q, "relay.test", 1795432783);
		T_CHECK(eight[i].want, r && !strncmp(r, eight[i].want,
						     strlen(eight[i].want)));
		free(r);
	}
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	test_roundtrip();
	test_state();
	test_received();
	rmdir(tmpdir);
	return t_done();
}
