// links: smtpd/smtp_cmd.c
/* test_smtp_cmd.c: the command line parser against hostile input. */
#include "t.h"
#include "io.h"
#include "../../smtpd/smtp_cmd.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *line;
	size_t len;       /* 0: strlen */
	unsigned flags;
	enum smtp_cmd_line want;
} check_cases[] = {
	{ "MAIL FROM:<a@b.c>", 0, IO_CRLF, SMTP_LINE_OK },
	{ "MAIL FROM:<a@b.c>", 0, IO_BARE_LF, SMTP_LINE_BARE },
	{ "MAIL FROM:<a@b.c>\rRCPT TO:<x@y.z>", 0, IO_CRLF | IO_BARE_CR,
	  SMTP_LINE_BARE },
	{ "QUIT", 0, IO_PARTIAL, SMTP_LINE_BARE },
	{ "XXXXXXXX", 0, IO_CRLF | IO_TOOLONG, SMTP_LINE_TOOLONG },
	{ "HELO a\0b", 8, IO_CRLF, SMTP_LINE_NUL },
	{ "\0", 1, IO_CRLF, SMTP_LINE_NUL },
	{ "EHLO h\xc3\xa9llo", 0, IO_CRLF, SMTP_LINE_OK },
};

static void test_check(void)
{
	for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
		char name[64];
		size_t len = check_cases[i].len ? check_cases[i].len
						: strlen(check_cases[i].line);
		snprintf(name, sizeof name, "check case %zu", i);
		T_CHECK(name, smtp_cmd_check(check_cases[i].line, len,
					     check_cases[i].flags) ==
				      check_cases[i].want);
	}
}

static const struct {
	const char *line;
	int rc;
	const char *verb, *arg;
} split_cases[] = {
	{ "EHLO client.example", 0, "EHLO", "client.example" },
	{ "ehlo client.example", 0, "EHLO", "client.example" },
	{ "eHlO   client.example   ", 0, "EHLO", "client.example" },
	{ "QUIT", 0, "QUIT", "" },
	{ "quit ", 0, "QUIT", "" },
	{ "MaIl FROM: <a@b.c> SIZE=10", 0, "MAIL", "FROM: <a@b.c> SIZE=10" },
	{ "rcpt to:<x@y.z>", 0, "RCPT", "to:<x@y.z>" },
	{ "StartTLS", 0, "STARTTLS", "" },
	{ "auth plain AGEAYg==", 0, "AUTH", "plain AGEAYg==" },
	{ "", -1, NULL, NULL },
	{ " QUIT", -1, NULL, NULL },
	{ "QUIT1", -1, NULL, NULL },
	{ "QU\xc3\x8fT", -1, NULL, NULL },
	{ "ABCDEFGHIJKLMNOPQ x", -1, NULL, NULL },
	{ "MAIL:FROM", -1, NULL, NULL },
	{ "\tNOOP", -1, NULL, NULL },
	{ "NOOP\tx", -1, NULL, NULL },
};

static void test_split(void)
{
	for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
		char buf[128], verb[SMTP_VERB_MAX + 1], *arg = NULL, name[96];
		int rc;

		snprintf(buf, sizeof buf, "%s", split_cases[i].line);
		rc = smtp_cmd_split(buf, verb, &arg);
		snprintf(name, sizeof name, "split \"%s\" rc", split_cases[i].line);
		T_CHECK(name, rc == split_cases[i].rc);
		if (rc == 0 && split_cases[i].rc == 0) {
			snprintf(name, sizeof name, "split \"%s\" verb",
				 split_cases[i].line);
			T_STREQ(name, verb, split_cases[i].verb);
			snprintf(name, sizeof name, "split \"%s\" arg",
				 split_cases[i].line);
			T_STREQ(name, arg, split_cases[i].arg);
		}
	}
}

static void test_after(void)
{
	T_STREQ("after FROM:", smtp_cmd_after("FROM:<a@b>", "FROM:"), "<a@b>");
	T_STREQ("after from: lower", smtp_cmd_after("from: <a@b>", "FROM:"),
		" <a@b>");
	T_CHECK("after FROM without colon",
		smtp_cmd_after("FROM <a@b>", "FROM:") == NULL);
	T_CHECK("after TO: for FROM:", smtp_cmd_after("TO:<a@b>", "FROM:") == NULL);
	T_CHECK("after empty", smtp_cmd_after("", "TO:") == NULL);
}

static const struct {
	const char *params;
	int rc;
	long size;
	int body8, utf8;
} param_cases[] = {
	{ "", 0, -1, 0, 0 },
	{ "SIZE=1000", 0, 1000, 0, 0 },
	{ "size=1000 body=8bitmime", 0, 1000, 1, 0 },
	{ "BODY=7BIT", 0, -1, 0, 0 },
	{ "SMTPUTF8", 0, -1, 0, 1 },
	{ "BODY=8BITMIME   SMTPUTF8  SIZE=5", 0, 5, 1, 1 },
	{ "AUTH=<>", 0, -1, 0, 0 },
	{ "AUTH=user+40example.com", 0, -1, 0, 0 },
	{ "SIZE=2000000", 552, 0, 0, 0 },
	{ "SIZE=99999999999999999999999", 501, 0, 0, 0 },
	{ "SIZE=", 501, 0, 0, 0 },
	{ "SIZE=-1", 501, 0, 0, 0 },
	{ "SIZE=12a", 501, 0, 0, 0 },
	{ "SIZE", 501, 0, 0, 0 },
	{ "BODY=BINARYMIME", 501, 0, 0, 0 },
	{ "BODY", 501, 0, 0, 0 },
	{ "SMTPUTF8=yes", 501, 0, 0, 0 },
	{ "AUTH=", 501, 0, 0, 0 },
	{ "X=\xff", 555, 0, 0, 0 },
	{ "SIZE=10 FOO", 555, 0, 0, 0 },
};

static void test_mail_params(void)
{
	for (size_t i = 0; i < sizeof param_cases / sizeof param_cases[0]; i++) {
		struct smtp_mail_params p;
		char reply[128] = "", name[96];
		int rc = smtp_cmd_mail_params(param_cases[i].params, 1000000, &p,
					      reply, sizeof reply);
		snprintf(name, sizeof name, "params \"%s\" -> %d",
			 param_cases[i].params, param_cases[i].rc);
		T_CHECK(name, rc == param_cases[i].rc);
		if (rc == 0 && param_cases[i].rc == 0) {
			snprintf(name, sizeof name, "params \"%s\" values",
				 param_cases[i].params);
			T_CHECK(name, p.size == param_cases[i].size &&
					      p.body8 == param_cases[i].body8 &&
					      p.smtputf8 == param_cases[i].utf8);
		} else if (rc) {
			char code[8];
			snprintf(code, sizeof code, "%d ", rc);
			snprintf(name, sizeof name, "params \"%s\" reply code",
				 param_cases[i].params);
			T_CHECK(name, strncmp(reply, code, 4) == 0);
		}
	}
	{
		char reply[128] = "";
		struct smtp_mail_params p;
		char big[600];
		memset(big, 'A', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		T_CHECK("params overlong token",
			smtp_cmd_mail_params(big, 10, &p, reply, sizeof reply) == 501);
		T_CHECK("params 552 text", strstr(reply, "too long") != NULL);
	}
}

/* RFC 3461's MAIL parameters: value, or the reply's start. */
static const struct {
	const char *params;
	int ret;
	const char *envid, *reply;
} dsn_mail_cases[] = {
	{ "RET=HDRS", DSN_RET_HDRS, "", NULL },
	{ "ret=full ENVID=QQ314159", DSN_RET_FULL, "QQ314159", NULL },
	{ "ENVID=a+2Bb", 0, "a+2Bb", NULL },
	{ "RET=BODY", 0, "", "501 5.5.4 Bad RET= value" },
	{ "RET", 0, "", "501 5.5.4 Bad RET= value" },
	{ "RET=FULL RET=HDRS", 0, "", "501 5.5.4 Duplicate RET" },
	{ "ENVID=", 0, "", "501 5.5.4 Bad ENVID= value" },
	{ "ENVID=a+2b", 0, "", "501 5.5.4 Bad ENVID= value" },
	{ "ENVID=a+0D+0A", 0, "", "501 5.5.4 Bad ENVID= value" },
	{ "ENVID=x ENVID=y", 0, "", "501 5.5.4 Duplicate ENVID" },
	/* every parameter once, not only RFC 3461's: no "last one wins" */
	{ "SIZE=10 SIZE=20", 0, "", "501 5.5.4 Duplicate SIZE parameter" },
	{ "size=10 SIZE=10", 0, "", "501 5.5.4 Duplicate SIZE parameter" },
	{ "BODY=8BITMIME BODY=7BIT", 0, "",
	  "501 5.5.4 Duplicate BODY parameter" },
	{ "SMTPUTF8 SIZE=1 smtputf8", 0, "",
	  "501 5.5.4 Duplicate SMTPUTF8 parameter" },
	{ "AUTH=<> AUTH=a+40b", 0, "", "501 5.5.4 Duplicate AUTH parameter" },
	{ "ENVID=01234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789012345678901234567890", 0, "",
	  "501 5.5.4 Bad ENVID= value" },
};

static const struct {
	const char *params;
	unsigned notify;
	const char *orcpt, *reply;
} dsn_rcpt_cases[] = {
	{ "", 0, "", NULL },
	{ "NOTIFY=NEVER", DSN_NOTIFY_NEVER, "", NULL },
	{ "notify=success,delay ORCPT=rfc822;a+2Bb@example.org",
	  DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, "rfc822;a+2Bb@example.org", NULL },
	{ "ORCPT=rfc822;x@y", 0, "rfc822;x@y", NULL },
	{ "NOTIFY=NEVER,FAILURE", 0, "", "501 5.5.4 Bad NOTIFY= value" },
	{ "NOTIFY=", 0, "", "501 5.5.4 Bad NOTIFY= value" },
	{ "NOTIFY", 0, "", "501 5.5.4 Bad NOTIFY= value" },
	{ "NOTIFY=DELAY NOTIFY=DELAY", 0, "", "501 5.5.4 Duplicate NOTIFY" },
	{ "ORCPT=a@b", 0, "", "501 5.5.4 Bad ORCPT= value" },
	{ "ORCPT=rfc822;a b", 0, "", "555 5.5.4 Unsupported parameter" },
	{ "ORCPT=rfc822;a+zz", 0, "", "501 5.5.4 Bad ORCPT= value" },
	{ "ORCPT=rfc822;a ORCPT=rfc822;b", 0, "", "501 5.5.4 Duplicate ORCPT" },
	{ "FOO=1", 0, "", "555 5.5.4 Unsupported parameter" },
	{ "NOTIFY=NEVER SIZE=1", 0, "", "555 5.5.4 Unsupported parameter" },
};

static void test_dsn_params(void)
{
	char reply[128], name[160];

	for (size_t i = 0; i < sizeof dsn_mail_cases / sizeof *dsn_mail_cases;
	     i++) {
		struct smtp_mail_params p;
		int rc = smtp_cmd_mail_params(dsn_mail_cases[i].params, 1000, &p,
					      reply, sizeof reply);
		const char *want = dsn_mail_cases[i].reply;
		snprintf(name, sizeof name, "MAIL %s", dsn_mail_cases[i].params);
		if (want)
			T_CHECK(name, rc && strncmp(reply, want, strlen(want)) == 0);
		else
			T_CHECK(name, rc == 0 && p.ret == dsn_mail_cases[i].ret &&
					      strcmp(p.envid,
						     dsn_mail_cases[i].envid) == 0);
	}
	for (size_t i = 0; i < sizeof dsn_rcpt_cases / sizeof *dsn_rcpt_cases;
	     i++) {
		struct smtp_rcpt_params p;
		int rc = smtp_cmd_rcpt_params(dsn_rcpt_cases[i].params, &p,
					      reply, sizeof reply);
		const char *want = dsn_rcpt_cases[i].reply;
		snprintf(name, sizeof name, "RCPT %s", dsn_rcpt_cases[i].params);
		if (want)
			T_CHECK(name, rc && strncmp(reply, want, strlen(want)) == 0);
		else
			T_CHECK(name, rc == 0 &&
					      p.notify == dsn_rcpt_cases[i].notify &&
					      strcmp(p.orcpt,
						     dsn_rcpt_cases[i].orcpt) == 0);
	}
	{ /* ORCPT's 500 characters fit; 501 do not */
		struct smtp_rcpt_params p;
		char big[DSN_ORCPT_MAX + 16] = "ORCPT=rfc822;";
		size_t k = strlen(big);
		memset(big + k, 'a', DSN_ORCPT_MAX - 7);
		big[k + DSN_ORCPT_MAX - 7] = '\0';
		T_CHECK("RCPT ORCPT of 500", smtp_cmd_rcpt_params(big, &p, reply,
								  sizeof reply) == 0);
		strcat(big, "a");
		T_CHECK("RCPT ORCPT of 501", smtp_cmd_rcpt_params(big, &p, reply,
								  sizeof reply) == 501);
	}
}

static void test_rcpt_params(void)
{
	test_dsn_params();
	T_CHECK("8bit yes", smtp_cmd_has_8bit("j\xc3\xb6rg@example.com"));
	T_CHECK("8bit no", !smtp_cmd_has_8bit("jorg@example.com"));
}

/* BDAT's argument: a size and maybe LAST, nothing else. */
static const struct {
	const char *arg;
	int rc;
	unsigned long long size;
	int last;
} bdat_cases[] = {
	{ "0", 0, 0, 0 }, { "0 LAST", 0, 0, 1 }, { "1000 last", 0, 1000, 1 },
	{ "42  LAST", 0, 42, 1 }, { "999999999999999999", 0, 999999999999999999ULL, 0 },
	{ "", -1, 0, 0 }, { "LAST", -1, 0, 0 }, { "1000000000000000000", -1, 0, 0 },
	{ "-1", -1, 0, 0 }, { "+5", -1, 0, 0 }, { "5x", -1, 0, 0 },
	{ "5 LASTX", -1, 0, 0 }, { "5 LAST x", -1, 0, 0 }, { "0x10", -1, 0, 0 },
	{ "5\tLAST", -1, 0, 0 }, { "5 FIRST", -1, 0, 0 },
};

static void test_bdat(void)
{
	for (size_t i = 0; i < sizeof bdat_cases / sizeof bdat_cases[0]; i++) {
		unsigned long long size = 7;
		int last = 7, rc = smtp_cmd_bdat(bdat_cases[i].arg, &size, &last);
		char name[96];
		snprintf(name, sizeof name, "bdat \"%s\"", bdat_cases[i].arg);
		T_CHECK(name, rc == bdat_cases[i].rc &&
			      (rc || (size == bdat_cases[i].size &&
				      last == bdat_cases[i].last)));
	}
}

/* A line smtp_cmd_split refused that is BDAT all the same. */
static void test_bdat_mangled(void)
{
	T_CHECK("BDAT<tab>5 is BDAT", smtp_cmd_bdat_mangled("BDAT\t5 LAST"));
	T_CHECK("bdat<tab>5 is BDAT", smtp_cmd_bdat_mangled("bdat\t5"));
	T_CHECK("BDAT5 is BDAT", smtp_cmd_bdat_mangled("BDAT5"));
	T_CHECK("BDAT,5 is BDAT", smtp_cmd_bdat_mangled("BDAT,5"));
	T_CHECK("BDATX 5 is another verb", !smtp_cmd_bdat_mangled("BDATX 5"));
	T_CHECK("BDA<tab>5 is not BDAT", !smtp_cmd_bdat_mangled("BDA\t5"));
	T_CHECK("a short line is not BDAT", !smtp_cmd_bdat_mangled("BD"));
	T_CHECK("MAIL<tab>FROM is not BDAT",
		!smtp_cmd_bdat_mangled("MAIL\tFROM:<a@b>"));
}

int main(void)
{
	test_bdat();
	test_bdat_mangled();
	test_check();
	test_split();
	test_after();
	test_mail_params();
	test_rcpt_params();
	return t_done();
}
