// links: send/remote_sts.c
/* test_remote_sts.c: relay-remote's MTA-STS memo, failure memory and
 * cache (send/remote_sts.c) over a stubbed DNS and policy fetch: one
 * domain in any case is one entry in each, so a failed fetch for
 * "Fail.Example" is not tried again for "fail.example" within
 * STS_RETRY, and a policy cached for "Good.Example" serves
 * "GOOD.example" without a fetch. */
#include "../../send/remote.h"
#include "t.h"
#include "settings.h"

#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int fetches;

/* "_mta-sts.fail.*" and "_mta-sts.good.*" (any case) have a record;
 * the other names have none. */
enum dns_status dns_txt(const char *name, char (*txt)[DNS_TXT_MAX],
			size_t max, size_t *n)
{
	*n = 0;
	if (max && (!strncasecmp(name, "_mta-sts.fail.", 14) ||
		    !strncasecmp(name, "_mta-sts.good.", 14))) {
		snprintf(txt[0], DNS_TXT_MAX, "v=STSv1; id=20261208;");
		*n = 1;
	}
	return *n ? DNS_OK : DNS_NODATA;
}

/* The policy server of "good.*" answers; the others fail. */
int remote_sts_fetch(const char *domain, int refuse_private, char *buf,
		     size_t max, size_t *len, char *why, size_t n)
{
	static const char policy[] = "version: STSv1\nmode: enforce\n"
				     "mx: mx.good.example\nmax_age: 86400\n";

	(void)refuse_private;
	fetches++;
	if (strncasecmp(domain, "good.", 5) != 0 || max < sizeof policy) {
		snprintf(why, n, "connection refused");
		return -1;
	}
	memcpy(buf, policy, sizeof policy - 1);
	*len = sizeof policy - 1;
	return 0;
}

/* Push every earlier domain out of the memo (STS_MEMO_MAX entries):
 * names without a record, so they touch neither the failure memory nor
 * the fetch count. */
static void memo_flush(void)
{
	struct sts_policy p;
	char d[64];

	for (int i = 0; i < 32; i++) {
		snprintf(d, sizeof d, "filler%d.example", i);
		remote_sts_get(d, 0, &p);
	}
}

static void test_failure_any_case(void)
{
	struct sts_policy p;

	fetches = 0;
	T_CHECK("a failed fetch: no policy",
		remote_sts_get("Fail.Example", 0, &p) == 0 && fetches == 1);
	memo_flush();
	T_CHECK("the same domain in another case: the failure is remembered, "
		"no second fetch", remote_sts_get("fail.example", 0, &p) == 0 &&
		fetches == 1);
	memo_flush();
	T_CHECK("and in a third case", remote_sts_get("FAIL.EXAMPLE", 0, &p) ==
		0 && fetches == 1);
}

static void test_cache_any_case(const char *dir)
{
	struct sts_policy p;
	char path[512];
	struct stat st;

	fetches = 0;
	T_CHECK("a policy fetched", remote_sts_get("Good.Example", 0, &p) == 1 &&
		p.mode == STS_ENFORCE && fetches == 1);
	snprintf(path, sizeof path, "%s/%s/good.example", dir, STS_CACHE_DIR);
	T_CHECK("cached under the lowercase name", stat(path, &st) == 0);
	memo_flush();
	T_CHECK("another case: the cached policy, no fetch",
		remote_sts_get("GOOD.example", 0, &p) == 1 &&
		p.mode == STS_ENFORCE && fetches == 1);
}

int main(void)
{
	char dir[] = "/tmp/test_remote_sts.XXXXXX", sub[64], path[128];

	if (!mkdtemp(dir))
		return 1;
	snprintf(sub, sizeof sub, "%s/%s", dir, STS_CACHE_DIR);
	if (mkdir(sub, 0700) < 0)
		return 1;
	cf.dir = dir;
	cf.mta_sts = 1;
	test_failure_any_case();
	test_cache_any_case(dir);
	snprintf(path, sizeof path, "%s/good.example", sub);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	return t_done();
}
