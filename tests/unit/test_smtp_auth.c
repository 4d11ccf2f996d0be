// links: smtpd/smtp_auth.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/smtp_policy.c smtpd/smtp_frame.c smtpd/smtp_tls.c smtpd/smtp_verbs.c smtpd/smtp_mail.c smtpd/smtp_txn.c smtpd/smtp_bdat.c smtpd/smtp_queue.c smtpd/smtp_data.c smtpd/smtp_cmd.c
/* test_smtp_auth.c: AUTH decoding: strict base64 and PLAIN splitting. */
#include "t.h"
#include "../../smtpd/smtp_auth.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *in;
	int rc;
	const char *out;
	size_t len;
} b64_cases[] = {
	{ "dXNlcg==", 0, "user", 4 },
	{ "dXNlcjE=", 0, "user1", 5 },
	{ "dXNlcjEy", 0, "user12", 6 },
	{ "AHVAZXhhbXBsZS5jb20AcGFzcw==", 0, "\0u@example.com\0pass", 19 },
	{ "=", 0, "", 0 },
	{ "", -1, NULL, 0 },
	{ "dXNlcg", -1, NULL, 0 },        /* no padding */
	{ "dXNlcg=", -1, NULL, 0 },       /* wrong length */
	{ "dXN=cg==", -1, NULL, 0 },      /* '=' inside */
	{ "dXNlc===", -1, NULL, 0 },      /* three '=' */
	{ "dXNl cg==", -1, NULL, 0 },     /* space */
	{ "dXNl\xc3\xa9g==", -1, NULL, 0 }, /* 8-bit */
	{ "dXNlcg=a", -1, NULL, 0 },
	{ "*", -1, NULL, 0 },
};

static void test_b64(void)
{
	for (size_t i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
		char out[64], name[80];
		size_t n = 99;
		int rc = smtp_auth_b64decode(b64_cases[i].in, out, sizeof out, &n);
		snprintf(name, sizeof name, "b64 \"%s\"", b64_cases[i].in);
		T_CHECK(name, rc == b64_cases[i].rc);
		if (rc == 0 && b64_cases[i].out)
			T_CHECK(name, n == b64_cases[i].len &&
					      memcmp(out, b64_cases[i].out, n) == 0);
	}
	{
		char out[4];
		size_t n;
		T_CHECK("b64 output too small",
			smtp_auth_b64decode("dXNlcjEy", out, sizeof out, &n) == -1);
	}
}

static const struct {
	const char *buf;
	size_t n;
	int rc;
	const char *user, *pass;
} plain_cases[] = {
	{ "\0alice\0secret", 13, 0, "alice", "secret" },
	{ "alice\0alice\0secret", 18, 0, "alice", "secret" },
	{ "bob\0alice\0secret", 16, -1, NULL, NULL },  /* proxy auth */
	{ "\0\0secret", 8, -1, NULL, NULL },           /* no user */
	{ "\0alice", 6, -1, NULL, NULL },              /* one NUL */
	{ "alice", 5, -1, NULL, NULL },                /* no NUL at all */
	{ "\0alice\0sec\0ret", 14, -1, NULL, NULL },   /* three NULs */
	{ "\0alice\0", 7, 0, "alice", "" },            /* empty password: policy says no */
	{ "", 0, -1, NULL, NULL },
};

static void test_plain(void)
{
	char user[256], pass[256], name[64];
	for (size_t i = 0; i < sizeof plain_cases / sizeof plain_cases[0]; i++) {
		int rc = smtp_auth_plain_split(plain_cases[i].buf, plain_cases[i].n,
					       user, pass);
		snprintf(name, sizeof name, "plain case %zu", i);
		T_CHECK(name, rc == plain_cases[i].rc);
		if (rc == 0 && plain_cases[i].user) {
			T_STREQ(name, user, plain_cases[i].user);
			T_STREQ(name, pass, plain_cases[i].pass);
		}
	}
	{
		char big[600];
		memset(big, 'a', sizeof big);
		big[0] = '\0';
		big[300] = '\0';
		T_CHECK("plain user too long",
			smtp_auth_plain_split(big, sizeof big, user, pass) == -1);
	}
}

int main(void)
{
	test_b64();
	test_plain();
	return t_done();
}
