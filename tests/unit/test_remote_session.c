// links: send/remote_session.c send/remote_reply.c send/remote_auth.c send/remote_conn.c send/remote_dns.c send/remote_job.c
/* test_remote_session.c: EHLO keyword parsing (what the server offers
 * decides PIPELINING, SIZE, STARTTLS, DSN and the AUTH mechanism). */
#include "../../send/remote.h"
#include "t.h"

static const struct {
	const char *name;
	const char *lines[8];
	unsigned ext;
	long size;
} cases[] = {
	{ "aiosmtpd", { "250-mx.test", "250-SIZE 33554432", "250-8BITMIME",
	  "250-SMTPUTF8", "250-STARTTLS", "250 HELP" },
	  REMOTE_EXT_SIZE | REMOTE_EXT_8BITMIME | REMOTE_EXT_STARTTLS |
	  REMOTE_EXT_SMTPUTF8, 33554432 },
	{ "postfix", { "250-mx", "250-PIPELINING", "250-SIZE 10240000",
	  "250-AUTH PLAIN LOGIN", "250 DSN" },
	  REMOTE_EXT_PIPELINING | REMOTE_EXT_SIZE | REMOTE_EXT_AUTH_PLAIN |
	  REMOTE_EXT_AUTH_LOGIN | REMOTE_EXT_DSN, 10240000 },
	{ "old AUTH=", { "250-mx", "250-AUTH=LOGIN", "250 pipelining" },
	  REMOTE_EXT_AUTH_LOGIN | REMOTE_EXT_PIPELINING, 0 },
	{ "greeting only", { "250 mx.test STARTTLS PIPELINING" }, 0, 0 },
	{ "SIZE without number", { "250-mx", "250 SIZE" }, REMOTE_EXT_SIZE, 0 },
	{ "lookalikes", { "250-mx", "250-STARTTLSX", "250-XPIPELINING",
	  "250-AUTHX PLAIN", "250 AUTH CRAM-MD5" }, 0, 0 },
};

/* An implicit-TLS connection and a STARTTLS one to the same host and
 * port are cached apart: neither serves a job set up the other way. */
static void test_cache_key(void)
{
	static struct remote_job job; /* big: not on the stack */
	char plain[512], wrap[512];

	memset(&job, 0, sizeof job);
	strcpy(job.host, "smart.test");
	job.tls = REMOTE_TLS_VERIFY;
	remote_conn_key(plain, sizeof plain, "smart.test", 465, &job);
	job.tls_wrap = 1;
	remote_conn_key(wrap, sizeof wrap, "smart.test", 465, &job);
	T_CHECK("cache key: implicit TLS apart from STARTTLS",
		strcmp(plain, wrap) != 0);
}

int main(void)
{
	char name[128];

	test_cache_key();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct remote_reply r = { 0 };
		struct remote_conn c;
		memset(&c, 0, sizeof c);
		for (size_t k = 0; k < 8 && cases[i].lines[k]; k++)
			remote_reply_feed(&r, cases[i].lines[k],
					  strlen(cases[i].lines[k]));
		remote_session_ehlo_ext(&c, &r);
		snprintf(name, sizeof name, "ehlo %s: extensions", cases[i].name);
		T_CHECK(name, c.ext == cases[i].ext);
		snprintf(name, sizeof name, "ehlo %s: size", cases[i].name);
		T_CHECK(name, c.size_max == cases[i].size);
	}
	return t_done();
}
