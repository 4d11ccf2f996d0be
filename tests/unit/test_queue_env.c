// links: queue/queue_env.c
/* test_queue_env.c: the envelope relay-queue reads on fd 1, good and
 * hostile, as a table. */
#include "../../queue/queue.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env_case {
	const char *name;
	const char *env;
	size_t len;     /* bytes of env (it holds NULs) */
	int ok;
	size_t ninfo, nrcpt;
	const char *from, *rcpt0;
};

#define E(s) s, sizeof(s) - 1

static const struct env_case cases[] = {
	{ "minimal", E("Fa@example.com\0Tb@example.org\0\0"), 1, 0, 1,
	  "a@example.com", "b@example.org" },
	{ "info and two rcpts",
	  E("Iip=192.0.2.1\0Ihelo=x.test\0Fa@example.com\0Tb@example.org\0"
	    "Tc@[192.0.2.9]\0\0"),
	  1, 2, 2, "a@example.com", "b@example.org" },
	{ "null sender", E("F\0Tb@example.org\0\0"), 1, 0, 1, "",
	  "b@example.org" },
	{ "empty", E(""), 0, 0, 0, NULL, NULL },
	{ "no recipients", E("Fa@example.com\0\0"), 0, 0, 0, NULL, NULL },
	{ "no sender", E("Tb@example.org\0\0"), 0, 0, 0, NULL, NULL },
	{ "not terminated", E("Fa@example.com\0Tb@example.org\0"), 0, 0, 0,
	  NULL, NULL },
	{ "unterminated field", E("Fa@example.com\0Tb@example.org"), 0, 0, 0,
	  NULL, NULL },
	{ "trailing bytes", E("Fa@example.com\0Tb@example.org\0\0x"), 0, 0, 0,
	  NULL, NULL },
	{ "newline in rcpt", E("Fa@example.com\0Tb@example.org\nrcpt=c@d.e\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "CR in sender", E("Fa@exa\rmple.com\0Tb@example.org\0\0"), 0, 0, 0,
	  NULL, NULL },
	{ "space in rcpt", E("Fa@example.com\0Tb c@example.org\0\0"), 0, 0, 0,
	  NULL, NULL },
	{ "bad domain", E("Fa@example.com\0Tb@-bad-.org\0\0"), 0, 0, 0, NULL,
	  NULL },
	{ "no local part", E("Fa@example.com\0T@example.org\0\0"), 0, 0, 0,
	  NULL, NULL },
	{ "info after sender", E("Fa@example.com\0Iip=1\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "reserved key rcpt", E("Ircpt=x@y.z\0Fa@example.com\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "key with dash", E("Ia-b=1\0Fa@example.com\0Tb@example.org\0\0"), 0,
	  0, 0, NULL, NULL },
	{ "info without =", E("Iip\0Fa@example.com\0Tb@example.org\0\0"), 0, 0,
	  0, NULL, NULL },
	{ "unknown tag", E("Qx\0Fa@example.com\0Tb@example.org\0\0"), 0, 0, 0,
	  NULL, NULL },
	{ "DSN: ret, envid, a recipient's NOTIFY and ORCPT",
	  E("Idsn_ret=HDRS\0Idsn_envid=ab+2B\0Fa@example.com\0Tb@example.org\0"
	    "NSUCCESS rfc822;b@example.org\0Tc@example.org\0\0"),
	  1, 2, 2, "a@example.com", "b@example.org" },
	{ "DSN: N before any T", E("Fa@example.com\0NNEVER -\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: two N for one T",
	  E("Fa@example.com\0Tb@example.org\0NNEVER -\0NNEVER -\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: NEVER with SUCCESS",
	  E("Fa@example.com\0Tb@example.org\0NNEVER,SUCCESS -\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: bad ORCPT xtext",
	  E("Fa@example.com\0Tb@example.org\0N- rfc822;a+zz\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: bad RET", E("Idsn_ret=ALL\0Fa@example.com\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: ENVID not xtext",
	  E("Idsn_envid=a=b\0Fa@example.com\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "DSN: a dsn_rcpt info", E("Idsn_rcpt=0 NEVER -\0Fa@example.com\0"
				    "Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
	{ "two senders", E("Fa@example.com\0Fb@example.com\0Tb@example.org\0\0"),
	  0, 0, 0, NULL, NULL },
};

int main(void)
{
	char name[200], err[200];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct env_case *c = &cases[i];
		char *buf = malloc(c->len + 1);
		struct qfile q;
		int rc;

		memcpy(buf, c->env, c->len);
		rc = queue_env_parse(buf, c->len, &q, err, sizeof err);
		snprintf(name, sizeof name, "env %s: %s", c->name,
			 c->ok ? "accepted" : "refused");
		T_CHECK(name, (rc == 0) == c->ok);
		if (c->ok && rc == 0) {
			snprintf(name, sizeof name, "env %s: counts", c->name);
			T_CHECK(name, q.ninfo == c->ninfo && q.nrcpt == c->nrcpt);
			snprintf(name, sizeof name, "env %s: sender", c->name);
			T_STREQ(name, q.from, c->from);
			snprintf(name, sizeof name, "env %s: first rcpt", c->name);
			T_STREQ(name, q.rcpt[0], c->rcpt0);
		}
		if (rc == 0 && strncmp(c->name, "DSN", 3) == 0) {
			T_CHECK("env DSN: rcpt 0 NOTIFY and ORCPT",
				qfile_dsn(&q, 0).notify == DSN_NOTIFY_SUCCESS &&
				qfile_dsn(&q, 0).orcpt &&
				strcmp(qfile_dsn(&q, 0).orcpt,
				       "rfc822;b@example.org") == 0);
			T_CHECK("env DSN: rcpt 1 none",
				!qfile_dsn(&q, 1).notify && !qfile_dsn(&q, 1).orcpt);
		}
		qfile_free(&q);
		free(buf);
	}
	return t_done();
}
