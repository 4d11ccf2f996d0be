// links:
/* test_dsn.c: the DSN parameters of lib/dsn.h (RFC 3461): xtext checked,
 * decoded and encoded, NOTIFY, RET, ENVID and ORCPT syntax and length
 * limits, the per-recipient text, and the queue file's dsn_rcpt lines
 * (lib/qfile.h): written after their recipient, read back, and a file
 * without them (written before DSN existed) still read. */
#include "dsn.h"
#include "qfile.h"
#include "t.h"

#include <stdlib.h>

static const struct {
	const char *in;
	int ok;
} xtexts[] = {
	{ "abc", 1 },          { "a+2Bb", 1 },        { "+20", 1 },
	{ "", 1 },             { "a+2bb", 0 },        { "a+2", 0 },
	{ "a+", 0 },           { "a b", 0 },          { "a=b", 0 },
	{ "+0A", 0 },          { "+7F", 0 },          { "a\x80", 0 },
	{ "+G0", 0 },          { "~!", 1 },
};

static void test_xtext(void)
{
	char out[64], n[64];

	for (size_t i = 0; i < sizeof xtexts / sizeof xtexts[0]; i++) {
		snprintf(n, sizeof n, "xtext \"%s\" %s", xtexts[i].in,
			 xtexts[i].ok ? "ok" : "refused");
		T_CHECK(n, dsn_xtext_ok(xtexts[i].in, strlen(xtexts[i].in)) ==
				   xtexts[i].ok);
	}
	T_STREQ("xtext decode", dsn_xtext_decode("a+2Bb+3Dc+20d", out,
						 sizeof out), "a+b=c d");
	T_STREQ("xtext decode cut", dsn_xtext_decode("abcdef", out, 4), "abc");
	T_STREQ("xtext encode", dsn_xtext_encode("a+b=c d", out, sizeof out),
		"a+2Bb+3Dc+20d");
	T_STREQ("xtext encode cut whole", dsn_xtext_encode("ab+", out, 5),
		"ab");
}

static const struct {
	const char *in;
	int rc;
	unsigned want;
	const char *canon;
} notifies[] = {
	{ "NEVER", 0, DSN_NOTIFY_NEVER, "NEVER" },
	{ "success", 0, DSN_NOTIFY_SUCCESS, "SUCCESS" },
	{ "DELAY,FAILURE", 0, DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY,
	  "FAILURE,DELAY" },
	{ "SUCCESS,FAILURE,DELAY", 0, 7, "SUCCESS,FAILURE,DELAY" },
	{ "NEVER,SUCCESS", -1, 0, NULL },
	{ "SUCCESS,SUCCESS", -1, 0, NULL },
	{ "", -1, 0, NULL },
	{ "SUCCESS,", -1, 0, NULL },
	{ ",DELAY", -1, 0, NULL },
	{ "ALWAYS", -1, 0, NULL },
	{ "SUCCES", -1, 0, NULL },
};

static void test_notify(void)
{
	char n[80], buf[DSN_NOTIFY_TEXT];

	for (size_t i = 0; i < sizeof notifies / sizeof notifies[0]; i++) {
		unsigned got = 0;
		int rc = dsn_notify_parse(notifies[i].in, &got);
		snprintf(n, sizeof n, "NOTIFY=%s", notifies[i].in);
		T_CHECK(n, rc == notifies[i].rc &&
				   (rc < 0 || got == notifies[i].want));
		if (rc == 0)
			T_STREQ(n, dsn_notify_format(got, buf),
				notifies[i].canon);
	}
	T_STREQ("NOTIFY none formats as -", dsn_notify_format(0, buf), "-");
	T_CHECK("default wants failure", dsn_notify_wants(0, DSN_NOTIFY_FAILURE));
	T_CHECK("default wants delay", dsn_notify_wants(0, DSN_NOTIFY_DELAY));
	T_CHECK("default not success", !dsn_notify_wants(0, DSN_NOTIFY_SUCCESS));
	T_CHECK("NEVER wants nothing",
		!dsn_notify_wants(DSN_NOTIFY_NEVER, DSN_NOTIFY_FAILURE) &&
			!dsn_notify_wants(DSN_NOTIFY_NEVER, DSN_NOTIFY_DELAY));
	T_CHECK("SUCCESS alone: no delay",
		!dsn_notify_wants(DSN_NOTIFY_SUCCESS, DSN_NOTIFY_DELAY));
}

static void test_params(void)
{
	char big[DSN_ORCPT_MAX + 8];

	T_CHECK("RET=FULL", dsn_ret_parse("full") == DSN_RET_FULL);
	T_CHECK("RET=HDRS", dsn_ret_parse("HDRS") == DSN_RET_HDRS);
	T_CHECK("RET=BODY refused", dsn_ret_parse("BODY") == DSN_RET_NONE);
	T_CHECK("ENVID ok", dsn_envid_ok("QQ314159+2Bx"));
	T_CHECK("ENVID empty", !dsn_envid_ok(""));
	memset(big, 'a', sizeof big);
	big[DSN_ENVID_MAX] = '\0';
	T_CHECK("ENVID 100", dsn_envid_ok(big));
	big[DSN_ENVID_MAX] = 'a';
	big[DSN_ENVID_MAX + 1] = '\0';
	T_CHECK("ENVID 101 refused", !dsn_envid_ok(big));
	T_CHECK("ORCPT ok", dsn_orcpt_ok("rfc822;a+2Bb@example.org"));
	T_CHECK("ORCPT other type", dsn_orcpt_ok("x-local;bob"));
	T_CHECK("ORCPT no type", !dsn_orcpt_ok(";a@b"));
	T_CHECK("ORCPT no ;", !dsn_orcpt_ok("rfc822"));
	T_CHECK("ORCPT empty address", !dsn_orcpt_ok("rfc822;"));
	T_CHECK("ORCPT bad type", !dsn_orcpt_ok("rfc 822;a@b"));
	T_CHECK("ORCPT bad xtext", !dsn_orcpt_ok("rfc822;a+zz"));
	memcpy(big, "rfc822;", 7);
	memset(big + 7, 'a', sizeof big - 7);
	big[DSN_ORCPT_MAX] = '\0';
	T_CHECK("ORCPT 500", dsn_orcpt_ok(big));
	big[DSN_ORCPT_MAX] = 'a';
	big[DSN_ORCPT_MAX + 1] = '\0';
	T_CHECK("ORCPT 501 refused", !dsn_orcpt_ok(big));
}

/* RFC 6533 3.3: a UTF-8 ORCPT kept in its ASCII form. */
static void test_orcpt_utf8(void)
{
	char out[DSN_ORCPT_MAX + 1], big[DSN_ORCPT_MAX];

	T_CHECK("UTF-8 ORCPT: two- and four-byte characters escaped",
		dsn_orcpt_utf8_to_ascii("UTF-8;j\xc3\xb6rg@\xf0\x9f\x98"
					"\x80.example", out, sizeof out) == 0 &&
		!strcmp(out, "UTF-8;j\\x{F6}rg@\\x{1F600}.example"));
	T_CHECK("UTF-8 ORCPT: the result is an ORCPT", dsn_orcpt_ok(out));
	T_CHECK("UTF-8 ORCPT: only type utf-8",
		dsn_orcpt_utf8_to_ascii("rfc822;j\xc3\xb6rg@x", out,
					sizeof out) < 0);
	T_CHECK("UTF-8 ORCPT: invalid UTF-8 refused",
		dsn_orcpt_utf8_to_ascii("utf-8;j\xf6rg@x", out,
					sizeof out) < 0);
	T_CHECK("UTF-8 ORCPT: a space refused",
		dsn_orcpt_utf8_to_ascii("utf-8;j\xc3\xb6 rg@x", out,
					sizeof out) < 0);
	T_CHECK("UTF-8 ORCPT: empty address refused",
		dsn_orcpt_utf8_to_ascii("utf-8;", out, sizeof out) < 0);
	memcpy(big, "utf-8;", 6);
	for (size_t i = 6; i + 2 < sizeof big; i += 2)
		memcpy(big + i, "\xc3\xb6", 2);
	big[sizeof big - 2] = '\0';
	T_CHECK("UTF-8 ORCPT: too long once escaped refused",
		dsn_orcpt_utf8_to_ascii(big, out, sizeof out) < 0);
	T_CHECK("UTF-8 ORCPT: a small buffer refused, not overrun",
		dsn_orcpt_utf8_to_ascii("utf-8;j\xc3\xb6rg@x", out, 10) < 0);
}

static void test_rcpt_text(void)
{
	struct dsn_rcpt r = { DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY,
			      "rfc822;x@y.z" }, back;
	char buf[DSN_RCPT_TEXT], bad1[] = "NEVER", bad2[] = "- a;b c",
					     bad3[] = "NEVER,DELAY -",
					     none[] = "- -";

	T_STREQ("rcpt text", dsn_rcpt_format(&r, buf), "SUCCESS,DELAY rfc822;x@y.z");
	T_CHECK("rcpt text parses", dsn_rcpt_parse(buf, &back) == 0 &&
		back.notify == r.notify && strcmp(back.orcpt, r.orcpt) == 0);
	T_CHECK("rcpt text without ORCPT", dsn_rcpt_parse(bad1, &back) < 0);
	T_CHECK("rcpt text with a space more", dsn_rcpt_parse(bad2, &back) < 0);
	T_CHECK("rcpt text NEVER,DELAY", dsn_rcpt_parse(bad3, &back) < 0);
	T_CHECK("rcpt text - -", dsn_rcpt_parse(none, &back) == 0 &&
		back.notify == 0 && !back.orcpt);
}

#define OLD "relaybox-queue 1\nqid=AB12\ntime=1\nfrom=a@example.com\n" \
	    "rcpt=b@example.org\nrcpt=c@example.net\n\n"
#define ZEROS8 "00000000"
#define SEAL0 ZEROS8 ZEROS8 ZEROS8 ZEROS8 ZEROS8 ZEROS8 ZEROS8 ZEROS8
#define NEW "relaybox-queue 1\nseal=" SEAL0 "\nqid=AB12\ntime=1\n" \
	    "dsn_ret=HDRS\n" \
	    "dsn_envid=E+2B1\nfrom=a@example.com\nrcpt=b@example.org\n" \
	    "rcpt=c@example.net\ndsn_rcpt=1 SUCCESS,FAILURE rfc822;c@example.net\n\n"

static void test_qfile(void)
{
	struct qfile q;
	char err[128], *out;
	size_t len;

	T_CHECK("old file parses", qfile_parse(&q, OLD, strlen(OLD), 0, err,
					       sizeof err) == 0);
	T_CHECK("old file: no DSN", !q.dsn && qfile_dsn(&q, 0).notify == 0 &&
					    !qfile_dsn(&q, 1).orcpt);
	qfile_free(&q);
	T_CHECK("new file parses", qfile_parse(&q, NEW, strlen(NEW), 0, err,
					       sizeof err) == 0);
	T_CHECK("rcpt 0 none", qfile_dsn(&q, 0).notify == 0 &&
				       !qfile_dsn(&q, 0).orcpt);
	T_CHECK("rcpt 1 notify", qfile_dsn(&q, 1).notify ==
					 (DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE));
	T_STREQ("rcpt 1 orcpt", qfile_dsn(&q, 1).orcpt, "rfc822;c@example.net");
	T_STREQ("ret info", qfile_get_info(&q, DSN_KEY_RET), "HDRS");
	T_STREQ("envid info", qfile_get_info(&q, DSN_KEY_ENVID), "E+2B1");
	out = qfile_format(&q, &len);
	T_STREQ("written back the same", out, NEW);
	free(out);
	qfile_free(&q);
	{
		const char *bad[] = {
			"relaybox-queue 1\nqid=A\nfrom=\ndsn_rcpt=0 NEVER -\n"
			"rcpt=b@c.d\n\n",
			"relaybox-queue 1\nqid=A\nfrom=\nrcpt=b@c.d\n"
			"dsn_rcpt=1 NEVER -\n\n",
			"relaybox-queue 1\nqid=A\nfrom=\nrcpt=b@c.d\n"
			"dsn_rcpt=0 NEVER,SUCCESS -\n\n",
			"relaybox-queue 1\nqid=A\nfrom=\nrcpt=b@c.d\n"
			"dsn_rcpt=x NEVER -\n\n",
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char n[64];
			snprintf(n, sizeof n, "bad dsn_rcpt line %zu refused", i);
			T_CHECK(n, qfile_parse(&q, bad[i], strlen(bad[i]), 0,
					       err, sizeof err) < 0 &&
					   strcmp(err, "bad dsn_rcpt line") == 0);
		}
	}
}

int main(void)
{
	test_xtext();
	test_notify();
	test_params();
	test_orcpt_utf8();
	test_rcpt_text();
	test_qfile();
	return t_done();
}
