// links: send/remote_mx.c send/remote_dns.c send/remote_job.c
/* test_remote_mx.c: MX ordering (preference order, shuffling only among
 * equal preferences, every order reachable) and null MX detection. */
#include "../../send/remote.h"
#include "t.h"
#include "settings.h"

static unsigned seq_rand(void *arg)
{
	unsigned *s = arg;
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static unsigned zero_rand(void *arg)
{
	(void)arg;
	return 0;
}

static void fill(struct remote_mx *mx, const int *pref, const char **name,
		 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mx[i].pref = pref[i];
		snprintf(mx[i].name, sizeof mx[i].name, "%s", name[i]);
	}
}

static void test_order(void)
{
	static const int pref[] = { 30, 10, 20, 10, 0 };
	static const char *name[] = { "c", "a1", "b", "a2", "z" };
	struct remote_mx mx[5];
	unsigned seed = 1;
	int saw_a1_first = 0, saw_a2_first = 0, sorted = 1;

	for (int round = 0; round < 200; round++) {
		fill(mx, pref, name, 5);
		remote_mx_order(mx, 5, seq_rand, &seed);
		for (size_t i = 1; i < 5; i++)
			sorted &= mx[i - 1].pref <= mx[i].pref;
		sorted &= strcmp(mx[0].name, "z") == 0 &&
			  strcmp(mx[3].name, "b") == 0 &&
			  strcmp(mx[4].name, "c") == 0;
		saw_a1_first |= strcmp(mx[1].name, "a1") == 0;
		saw_a2_first |= strcmp(mx[1].name, "a2") == 0;
	}
	T_CHECK("mx order: always by preference", sorted);
	T_CHECK("mx order: equal preferences shuffled (a1 first seen)",
		saw_a1_first);
	T_CHECK("mx order: equal preferences shuffled (a2 first seen)",
		saw_a2_first);
	fill(mx, pref, name, 5);
	remote_mx_order(mx, 5, zero_rand, NULL);
	T_CHECK("mx order: deterministic with a fixed rng",
		mx[0].pref == 0 && mx[1].pref == 10 && mx[2].pref == 10 &&
		    mx[3].pref == 20 && mx[4].pref == 30);
	remote_mx_order(mx, 0, zero_rand, NULL);
	T_CHECK("mx order: empty list", 1);
}

static void test_null(void)
{
	struct remote_mx mx[3];
	size_t n;
	static const int p0[] = { 0 }, p2[] = { 0, 10 };
	static const char *n0[] = { "" }, *n2[] = { "", "mx.test" };

	fill(mx, p0, n0, 1);
	n = 1;
	T_CHECK("null mx: alone is a null MX", remote_mx_null(mx, &n) == 1 &&
						       n == 0);
	fill(mx, p2, n2, 2);
	n = 2;
	T_CHECK("null mx: among others it is dropped",
		remote_mx_null(mx, &n) == 0 && n == 1 &&
		    strcmp(mx[0].name, "mx.test") == 0);
	n = 0;
	T_CHECK("null mx: empty list is not null", remote_mx_null(mx, &n) == 0);
}

static void test_targets_fixed(void)
{
	struct remote_job job;
	struct remote_target t[4];
	size_t n;

	memset(&job, 0, sizeof job);
	cf.smtp_port = 25;
	snprintf(job.host, sizeof job.host, "[192.0.2.1]");
	job.port = 2525;
	T_CHECK("targets fixed host: one target",
		remote_mx_targets(&job, t, 4, &n) == 0 && n == 1);
	T_STREQ("targets fixed host: name", t[0].name, "[192.0.2.1]");
	T_CHECK("targets fixed host: port", t[0].port == 2525);
	job.port = 0;
	remote_mx_targets(&job, t, 4, &n);
	T_CHECK("targets fixed host: default port", t[0].port == 25);
	snprintf(job.host, sizeof job.host, "[smart.example]");
	remote_mx_targets(&job, t, 4, &n);
	T_STREQ("targets fixed host: [name] is the name", t[0].name,
		"smart.example");
	snprintf(job.host, sizeof job.host, "[IPv6:::1]");
	remote_mx_targets(&job, t, 4, &n);
	T_STREQ("targets fixed host: literal kept", t[0].name, "[IPv6:::1]");
}

int main(void)
{
	test_order();
	test_null();
	test_targets_fixed();
	return t_done();
}
