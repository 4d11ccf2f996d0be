// links: smtpd/smtp_auth.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/smtp_policy.c smtpd/smtp_frame.c smtpd/smtp_tls.c smtpd/smtp_verbs.c smtpd/smtp_mail.c smtpd/smtp_txn.c smtpd/smtp_bdat.c smtpd/smtp_queue.c smtpd/smtp_data.c smtpd/smtp_cmd.c smtpd/smtp_stop.c
/* test_smtp_auth.c: AUTH decoding: strict base64 and PLAIN splitting;
 * what AUTH leaves of its line in the input buffer. */
#include "t.h"
#include "../../smtpd/smtp_auth.h"
#include "../../smtpd/smtp_session.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
	const char *authz, *user, *pass;
} plain_cases[] = {
	{ "\0alice\0secret", 13, 0, "", "alice", "secret" },
	{ "alice\0alice\0secret", 18, 0, "alice", "alice", "secret" },
	/* acting for someone else: relay-policy refuses it (535) */
	{ "bob\0alice\0secret", 16, 0, "bob", "alice", "secret" },
	{ "\0\0secret", 8, -1, NULL, NULL, NULL },           /* no user */
	{ "\0alice", 6, -1, NULL, NULL, NULL },              /* one NUL */
	{ "alice", 5, -1, NULL, NULL, NULL },                /* no NUL at all */
	{ "\0alice\0sec\0ret", 14, -1, NULL, NULL, NULL },   /* three NULs */
	{ "\0alice\0", 7, 0, "", "alice", "" },     /* empty password: policy says no */
	{ "", 0, -1, NULL, NULL, NULL },
};

static void test_plain(void)
{
	char authz[256], user[256], pass[256], name[64];
	for (size_t i = 0; i < sizeof plain_cases / sizeof plain_cases[0]; i++) {
		int rc = smtp_auth_plain_split(plain_cases[i].buf, plain_cases[i].n,
					       authz, user, pass);
		snprintf(name, sizeof name, "plain case %zu", i);
		T_CHECK(name, rc == plain_cases[i].rc);
		if (rc == 0 && plain_cases[i].user) {
			T_STREQ(name, authz, plain_cases[i].authz);
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
			smtp_auth_plain_split(big, sizeof big, authz, user,
					      pass) == -1);
		/* a 299-byte authzid, then a user and a password that fit */
		memset(big, 'a', sizeof big);
		big[299] = '\0';
		big[310] = '\0';
		T_CHECK("plain authzid too long",
			smtp_auth_plain_split(big, 320, authz, user, pass) == -1);
		/* from its NUL on: no authzid, the same user and password */
		T_CHECK("plain: fields after an empty authzid",
			smtp_auth_plain_split(big + 299, 21, authz, user,
					      pass) == 0 && !authz[0]);
	}
}

/* An AUTH line that reached the end of the input buffer: its head was
 * read there, the rest at the buffer's start once the head was taken.
 * After AUTH neither part is anywhere in the buffer. */
#define AUTH_HEAD 20 /* "AUTH PLAIN c2VjcmV0L" */
static void test_auth_wipes_input(void)
{
	static const char auth[] = "AUTH PLAIN c2VjcmV0LXBhc3N3b3Jk\r\n";
	struct smtp_session *s = calloc(1, sizeof *s);
	char *first = malloc(IO_BUFSZ), filler[IO_BUFSZ];
	size_t len, rest = sizeof auth - 1 - AUTH_HEAD;
	unsigned flags;
	int sv[2], lines = 0;

	if (!s || !first || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	cf.line_max = 1000;
	cf.errors_max = 20;
	s->line = calloc(1, (size_t)cf.line_max);
	s->tls = s->helo_seen = 1;
	s->policy.fd = -1;
	io_init(&s->io, sv[0], sv[0], 2000);
	/* 4 filler lines, then the AUTH line's head: the buffer full */
	memset(first, 'n', IO_BUFSZ);
	for (int i = 1; i <= 4; i++)
		memcpy(first + i * (IO_BUFSZ - AUTH_HEAD) / 4 - 2, "\r\n", 2);
	memcpy(first + IO_BUFSZ - AUTH_HEAD, auth, AUTH_HEAD);
	if (write(sv[1], first, IO_BUFSZ) != IO_BUFSZ)
		abort();
	while (lines < 4 && io_getline(&s->io, filler, sizeof filler, &len,
				       &flags) == 1)
		lines++;
	if (write(sv[1], auth + AUTH_HEAD, rest) != (ssize_t)rest)
		abort();
	T_CHECK("the AUTH line read across the buffer's end",
		lines == 4 &&
		io_getline(&s->io, s->line, (size_t)cf.line_max, &len, &flags) == 1 &&
		strcmp(s->line, "AUTH PLAIN c2VjcmV0LXBhc3N3b3Jk") == 0 &&
		s->io.in_end < IO_BUFSZ - AUTH_HEAD);
	smtp_auth_cmd(s, s->line + 5);
	T_CHECK("AUTH refused the malformed response", s->errors == 1);
	T_CHECK("no part of the AUTH line left in the input buffer",
		!memmem(s->io.in, IO_BUFSZ, "c2VjcmV0", 8) &&
		!memmem(s->io.in, IO_BUFSZ, "AUTH", 4) &&
		!memmem(s->io.in, IO_BUFSZ, "LXBhc3N3", 8));
	close(sv[0]);
	close(sv[1]);
	free(s->line);
	free(first);
	free(s);
}

int main(void)
{
	test_b64();
	test_plain();
	test_auth_wipes_input();
	return t_done();
}
