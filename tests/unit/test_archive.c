/* test_archive.c: lib/archive.c, the archive copy's contract: which
 * targets are accepted, the setting read back from a rules.cdb value,
 * the journal report's envelope part and MIME frame, the maildir names
 * and the arrival time read back from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "t.h"

static void test_targets(void)
{
	static const struct {
		const char *t;
		int kind;
	} cases[] = {
		{ "maildir", ARCHIVE_FOLDER }, { "j@archive.test", ARCHIVE_ADDR },
		{ "Maildir", -1 }, { "", -1 }, { "nobody", -1 },
		{ "a@b@c.test", -1 }, { "a b@c.test", -1 },
		{ "j@[192.0.2.1]", ARCHIVE_ADDR },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char name[100];
		snprintf(name, sizeof name, "target \"%s\"", cases[i].t);
		T_CHECK(name, archive_target_kind(cases[i].t) == cases[i].kind);
	}
}

static void test_conf(void)
{
	struct archive_conf ac;

	archive_conf_get("licenses=1\narchive=maildir\narchive_keep=30\n", &ac);
	T_CHECK("conf: maildir, 30 days", ac.kind == ARCHIVE_FOLDER &&
		ac.keep_days == 30);
	archive_conf_get("archive=j@archive.test\n", &ac);
	T_CHECK("conf: address", ac.kind == ARCHIVE_ADDR &&
		!strcmp(ac.addr, "j@archive.test") && ac.keep_days == 0);
	archive_conf_get("licenses=1\n", &ac);
	T_CHECK("conf: none", ac.kind == ARCHIVE_NONE);
	archive_conf_get("archive=bogus\n", &ac);
	T_CHECK("conf: a bad target is none", ac.kind == ARCHIVE_NONE);
	archive_conf_get("archive=maildir\narchive_keep=99999999\n", &ac);
	T_CHECK("conf: a retention out of range keeps for ever",
		ac.kind == ARCHIVE_FOLDER && ac.keep_days == 0);
}

static void test_journal(void)
{
	char *rcpt[] = { "r1@example.org", "r2@example.net" }, tail[100];
	struct qfile q = { .qid = "6B0ABC0", .arrival = 1796557711,
			   .from = "s@example.com", .rcpt = rcpt, .nrcpt = 2,
			   .ninfo = 2 };
	size_t n;
	char *h;

	q.info[0].key = "ip";
	q.info[0].value = "192.0.2.7";
	q.info[1].key = "auth";
	q.info[1].value = "bob@example.com";
	h = archive_journal_head(&q, "j@archive.test", "relay.test", "=_b", &n);
	T_CHECK("journal: made", h && n == strlen(h));
	T_CHECK("journal: to the archive", h && strstr(h, "\r\nTo: <j@archive.test>\r\n"));
	T_CHECK("journal: the envelope, one field a line",
		h && strstr(h, "\r\n\r\nqid: 6B0ABC0\r\ntime: 1796557711 (Sun, 6 Dec 2026 11:48:31 +0000)\r\n"
			       "ip: 192.0.2.7\r\nauth: bob@example.com\r\n"
			       "from: <s@example.com>\r\nrcpt: <r1@example.org>\r\n"
			       "rcpt: <r2@example.net>\r\n\r\n--=_b\r\n"));
	T_CHECK("journal: ends with the rfc822 part's header",
		h && n > 40 && !strcmp(h + n - 35, "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	T_CHECK("journal: boundary quoted", h && strstr(h, "boundary=\"=_b\"\r\n"));
	free(h);
	struct dsn_rcpt d = { 0, "rfc822;R1@example.org" };
	dsn_notify_parse("SUCCESS,FAILURE", &d.notify);
	qfile_set_dsn(&q, 0, &d);
	h = archive_journal_head(&q, "j@archive.test", "relay.test", "=_b", &n);
	T_CHECK("journal: a recipient's DSN parameters after it",
		h && strstr(h, "rcpt: <r1@example.org>\r\ndsn_rcpt: 0 SUCCESS,FAILURE rfc822;R1@example.org\r\n"
			       "rcpt: <r2@example.net>\r\n\r\n"));
	free(h);
	free(q.dsn);
	q.dsn = NULL;
	h = archive_journal_head(&q, NULL, "relay.test", "=_b", &n);
	T_CHECK("journal: a maildir copy has no To:", h && !strstr(h, "To:"));
	free(h);
	T_CHECK("journal: tail", archive_journal_tail("=_b", tail, sizeof tail) == 11 &&
		!strcmp(tail, "\r\n--=_b--\r\n"));
	T_CHECK("journal: tail too small", archive_journal_tail("=_b", tail, 11) == -1);
}

static void test_maildir(void)
{
	char name[64];

	T_CHECK("maildir: name", archive_maildir_name(name, sizeof name, 1796557711,
		"6B0ABC0", "relay.test") == 0);
	T_STREQ("maildir: name text", name, "1796557711.6B0ABC0.relay.test");
	archive_maildir_name(name, sizeof name, 5, "Q", "a/b:c");
	T_STREQ("maildir: odd host bytes", name, "5.Q.a_b_c");
	T_CHECK("maildir: too long", archive_maildir_name(name, 8, 1796557711,
		"6B0ABC0", "relay.test") == -1);
	T_CHECK("maildir: time", archive_maildir_time("1796557711.6B0.x") == 1796557711);
	T_CHECK("maildir: no time", archive_maildir_time("x.1.y") == -1);
	T_CHECK("maildir: digits without a dot", archive_maildir_time("123") == -1);
	T_CHECK("maildir: too many digits", archive_maildir_time("1234567890123.x") == -1);
}

int main(void)
{
	test_targets();
	test_conf();
	test_journal();
	test_maildir();
	return t_done();
}
