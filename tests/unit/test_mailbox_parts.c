// links: queue/queue_env.c send/remote_job.c
/* test_mailbox_parts.c: one mailbox, one verdict.  Each mailbox of the
 * table goes to relay-smtpd's path parser (MAIL and RCPT), relay-queue's
 * envelope reader (sender and recipient) and relay-remote's job reader;
 * all must agree with the table, so nothing relay-smtpd answers 250 to
 * is refused later (which would sit as 451 until expiry). */
#include "../../queue/queue.h"
#include "../../send/remote.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *mbox;
	int ok;
} cases[] = {
	{ "user@example.com", 1 },
	{ "a+tag@sub.example.com", 1 },
	{ "\"john.doe\"@example.com", 1 },
	{ "\"a\\\"b\"@example.com", 1 },
	{ "user@[192.0.2.1]", 1 },
	{ "user@[ipv6:2001:db8::1]", 1 },
	{ "j\xc3\xb6rg@example.com", 1 },
	{ "\"a<b>\"@example.com", 0 },
	{ "\"a b\"@example.com", 0 },
	{ "\"a>b\"@example.com", 0 },
	{ "\"a\\<b\"@example.com", 0 },
	{ "user@-bad.example", 0 },
	{ "user.@example.com", 0 },
	{ "@example.com", 0 },
	{ "user", 0 },
	{ "user@example.com.", 0 },
	{ "us\x7f" "er@example.com", 0 },
};

static int smtpd_ok(const char *mbox, int is_mail)
{
	char in[600], out[ADDR_MAX + 1];
	const char *rest;

	snprintf(in, sizeof in, "<%s>", mbox);
	return addr_parse_path(in, is_mail, 1, out, sizeof out, &rest) ==
	       ADDR_OK;
}

static int queue_ok(const char *mbox, int as_sender)
{
	char env[700], err[128];
	struct qfile q;
	int n, rc;

	if (as_sender)
		n = snprintf(env, sizeof env, "F%s%cTb@example.org%c%c", mbox,
			     0, 0, 0);
	else
		n = snprintf(env, sizeof env, "Fa@example.com%cT%s%c%c", 0,
			     mbox, 0, 0);
	memset(&q, 0, sizeof q);
	rc = queue_env_parse(env, (size_t)n, &q, err, sizeof err);
	free(q.rcpt);
	return rc == 0;
}

static int remote_ok(const char *mbox)
{
	static struct kv_msg m;
	char frame[700], err[128];
	struct remote_job job;

	snprintf(frame, sizeof frame,
		 "qid=Q\nfile=/q/new/Q\ndomain=example.org\nrcpt=0 %s\n", mbox);
	if (kv_parse(&m, frame, strlen(frame)) < 0)
		return 0;
	if (remote_job_parse(&job, &m, err, sizeof err) < 0)
		return 0;
	remote_job_free(&job);
	return 1;
}

static void check_one(const char *label, const char *mbox, int ok)
{
	char name[400];
	int got[5] = { smtpd_ok(mbox, 1), smtpd_ok(mbox, 0), queue_ok(mbox, 1),
		       queue_ok(mbox, 0), remote_ok(mbox) };
	static const char *const part[5] = { "smtpd MAIL", "smtpd RCPT",
					     "queue sender", "queue rcpt",
					     "remote rcpt" };

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "%s: %s %s", label, part[i],
			 ok ? "accepts" : "refuses");
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		T_CHECK(name, got[i] == ok);
	}
}

/* "l...l@d...d" of exactly n bytes: local part 64, domain labels of 63. */
static void long_mailbox(char *buf, size_t n)
{
	char *d = buf + 65;
	size_t dn = n - 65;

	memset(buf, 'l', 64);
	buf[64] = '@';
	for (size_t i = 0; i < dn; i++)
		d[i] = (i % 64 == 63) ? '.' : 'd';
	if (d[dn - 1] == '.')
		d[dn - 1] = 'e', d[dn - 2] = '.'; /* never end on a dot */
	d[dn] = '\0';
}

int main(void)
{
	char big[ADDR_MAX + 8];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_one(cases[i].mbox, cases[i].mbox, cases[i].ok);
	long_mailbox(big, ADDR_MAX);
	T_CHECK("long mailbox is ADDR_MAX bytes", strlen(big) == ADDR_MAX);
	check_one("mailbox of ADDR_MAX (254)", big, 1);
	long_mailbox(big, ADDR_MAX + 1);
	T_CHECK("longer mailbox is ADDR_MAX + 1 bytes",
		strlen(big) == ADDR_MAX + 1);
	check_one("mailbox of ADDR_MAX + 1", big, 0);
	return t_done();
}
