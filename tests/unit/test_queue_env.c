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
		qfile_free(&q);
		free(buf);
	}
	return t_done();
}
