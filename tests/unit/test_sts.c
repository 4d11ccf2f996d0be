// links:
/* test_sts.c: MTA-STS parsing (lib/sts.c): TXT records, policy files
 * (strict: each bad line refuses the policy), mx pattern matching and
 * the cache file round trip. */
#include <string.h>

#include "sts.h"
#include "t.h"

static const struct {
	const char *txt, *id; /* id NULL: refused */
} txts[] = {
	{ "v=STSv1; id=20160831085700Z;", "20160831085700Z" },
	{ "v=STSv1; id=abc", "abc" },
	{ "v=STSv1;id=abc;ext=1", "abc" },
	{ "v=STSv1; id=abc; id=def;", NULL },
	{ "v=STSv1;", NULL },
	{ "v=STSv2; id=abc;", NULL },
	{ " v=STSv1; id=abc;", NULL },
	{ "v=spf1 -all", NULL },
	{ "v=STSv1; id=a-b;", NULL },
	{ "v=STSv1; id=123456789012345678901234567890123;", NULL },
};

static const struct {
	const char *text;
	int ok;
	enum sts_mode mode;
	long max_age;
	size_t nmx;
} policies[] = {
	{ "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	  "mx: *.example.net\r\nmax_age: 604800\r\n", 1, STS_ENFORCE, 604800, 2 },
	{ "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 86400\n", 1,
	  STS_TESTING, 86400, 1 },
	{ "version: STSv1\nmode: none\nmax_age: 86400\n", 1, STS_NONE, 86400, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nfoo: bar\n",
	  1, STS_ENFORCE, 1, 1 },
	{ "version: STSv1\nmode: enforce\nmax_age: 86400\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.test\n", 0, 0, 0, 0 },
	{ "mode: enforce\nmx: a.test\nmax_age: 86400\n", 0, 0, 0, 0 },
	{ "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 86400\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 86400\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 8\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 86400\n", 0, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 86400\ngarbage\n", 0, 0, 0, 0 },
	{ "<html>404</html>", 0, 0, 0, 0 },
};

static void test_txt(void)
{
	for (size_t i = 0; i < sizeof txts / sizeof txts[0]; i++) {
		char id[STS_ID_MAX + 1] = "", name[128];
		int rc = sts_txt_parse(txts[i].txt, id);
		snprintf(name, sizeof name, "txt %zu: %s", i, txts[i].txt);
		if (txts[i].id)
			T_CHECK(name, rc == 0 && strcmp(id, txts[i].id) == 0);
		else
			T_CHECK(name, rc < 0);
	}
}

static void test_policy(void)
{
	for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
		struct sts_policy p;
		char err[128], name[64];
		int rc = sts_policy_parse(policies[i].text,
					  strlen(policies[i].text), &p, err,
					  sizeof err);
		snprintf(name, sizeof name, "policy %zu", i);
		if (!policies[i].ok) {
			T_CHECK(name, rc < 0 && err[0]);
			continue;
		}
		T_CHECK(name, rc == 0 && p.mode == policies[i].mode &&
			p.max_age == policies[i].max_age &&
			p.nmx == policies[i].nmx);
	}
}

static void test_match(void)
{
	struct sts_policy p;
	char err[64];
	const char *t = "version: STSv1\nmode: enforce\nmx: Mail.Example.com\n"
			"mx: *.example.net\nmax_age: 86400\n";

	sts_policy_parse(t, strlen(t), &p, err, sizeof err);
	T_CHECK("match exact, any case", sts_mx_match(&p, "mail.EXAMPLE.com"));
	T_CHECK("match trailing dot", sts_mx_match(&p, "mail.example.com."));
	T_CHECK("match wildcard one label", sts_mx_match(&p, "mx1.example.net"));
	T_CHECK("no match wildcard two labels",
		!sts_mx_match(&p, "a.mx1.example.net"));
	T_CHECK("no match wildcard bare", !sts_mx_match(&p, "example.net"));
	T_CHECK("no match other", !sts_mx_match(&p, "evil.example.org"));
	T_CHECK("no match suffix", !sts_mx_match(&p, "xmail.example.com"));
}

/* RFC 8461 sets no limit on mx lines: hundreds are kept and matched,
 * and a policy with more than the pool holds is refused whole (never
 * enforced with patterns missing). */
static void test_many_mx(void)
{
	static char t[STS_POLICY_MAX];
	static struct sts_policy p;
	char err[128];
	size_t o = (size_t)snprintf(t, sizeof t, "version: STSv1\nmode: enforce\n");
	size_t n = 0;

	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(t + o, sizeof t - o, "mx: mx%03d.example.com\n", i);
	o += (size_t)snprintf(t + o, sizeof t - o, "max_age: 86400\n");
	T_CHECK("300 mx lines: parsed",
		sts_policy_parse(t, o, &p, err, sizeof err) == 0 && p.nmx == 300);
	T_CHECK("300 mx lines: the 17th matches", sts_mx_match(&p, "mx016.example.com"));
	T_CHECK("300 mx lines: the last matches", sts_mx_match(&p, "mx299.example.com"));
	T_CHECK("300 mx lines: another does not", !sts_mx_match(&p, "mx300.example.com"));
	for (const char *m = sts_mx_next(&p, NULL); m; m = sts_mx_next(&p, m))
		n++;
	T_CHECK("300 mx lines: each listed once", n == 300);
	/* 100 patterns of 244 bytes: more than STS_MX_POOL */
	o = (size_t)snprintf(t, sizeof t, "version: STSv1\nmode: enforce\n"
			     "max_age: 86400\n");
	for (int i = 0; i < 100; i++) {
		o += (size_t)snprintf(t + o, sizeof t - o, "mx: %03d", i);
		for (int l = 0; l < 4; l++)
			o += (size_t)snprintf(t + o, sizeof t - o, "%s%.60s",
					      l ? "." : "",
					      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		o += (size_t)snprintf(t + o, sizeof t - o, ".test\n");
	}
	T_CHECK("mx patterns over the pool: the policy is refused",
		sts_policy_parse(t, o, &p, err, sizeof err) < 0 &&
		    strstr(err, "mx patterns over") != NULL);
}

static void test_cache(void)
{
	const char *t = "version: STSv1\r\nmode: testing\r\nmx: a.test\r\n"
			"max_age: 600\r\n";
	char buf[1024], id[STS_ID_MAX + 1];
	struct sts_policy p;
	size_t n = 0;
	time_t f = 0;

	T_CHECK("cache format", sts_cache_format(buf, sizeof buf, "id42", 1000,
						 t, strlen(t), &n) == 0);
	T_CHECK("cache parse", sts_cache_parse(buf, n, id, &f, &p) == 0 &&
		strcmp(id, "id42") == 0 && f == 1000 && p.mode == STS_TESTING &&
		p.max_age == 600);
	T_CHECK("cache too small", sts_cache_format(buf, 40, "id42", 1000, t,
						    strlen(t), &n) < 0);
	T_CHECK("cache damaged", sts_cache_parse("relaybox-mta-sts 1\nid=x\n",
						 24, id, &f, &p) < 0);
}

int main(void)
{
	test_txt();
	test_policy();
	test_match();
	test_many_mx();
	test_cache();
	return t_done();
}
