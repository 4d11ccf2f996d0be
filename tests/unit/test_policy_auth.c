// links: policy/policy_auth.c policy/policy_authcache.c policy/policy_db.c
/* test_policy_auth.c: password checks in a forked child (good, bad,
 * unknown user, mixed-case identity), and the failure throttle per IP and
 * per user over its 10-minute window, exact at the boundary. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "test_policy_auth.h"
#include "settings.h"
#include "t.h"


static int check_pw(const struct policy_lookup *lk, const char *ip,
		    const char *user, const char *pass, long now)
{
	return auth_check(lk, ip, user, pass, now, NULL);
}

int main(void)
{
	struct policy_lookup lk = fake_lk;
	static const struct {
		const char *name, *ip, *user, *pass;
		int want;
	} cases[] = {
		{ "good password", "192.0.2.1", "mailer@example.com", "secret1", 1 },
		{ "identity case-insensitive", "192.0.2.1", "Mailer@EXAMPLE.com", "secret1", 1 },
		{ "bad password", "192.0.2.1", "mailer@example.com", "secret2", 0 },
		{ "password is case-sensitive", "192.0.2.1", "mailer@example.com", "SECRET1", 0 },
		{ "empty password", "192.0.2.1", "mailer@example.com", "", 0 },
		{ "unknown user", "192.0.2.2", "nobody@example.com", "secret1", 0 },
	};

	cf.auth_fail_max = 3;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		T_CHECK(cases[i].name, check_pw(&lk, cases[i].ip, cases[i].user,
					       cases[i].pass, 1000) == cases[i].want);
	/* three failures so far from 192.0.2.1: the address is throttled */
	T_CHECK("ip throttled after auth_fail_max failures",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1000) == 2);
	T_CHECK("still throttled at the end of the window",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1599) == 2);
	T_CHECK("window over: checked again",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1600) == 1);
	/* per user, from different addresses */
	for (int i = 0; i < 3; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "198.51.100.%d", i + 1);
		check_pw(&lk, ip, "mailer@example.com", "wrong", 2000);
	}
	T_CHECK("user throttled from a fresh address",
		check_pw(&lk, "203.0.113.9", "mailer@example.com", "secret1", 2000) == 2);
	T_CHECK("another user from that address is checked",
		check_pw(&lk, "203.0.113.9", "nobody@example.com", "x", 2000) == 0);
	T_CHECK("throttle helpers agree", policy_auth_throttled("user", "MAILER@example.com", 2000) &&
		!policy_auth_throttled("user", "mailer@example.com", 2600));
	/* a flood of new user names (one failure each) does not evict the
	 * counter of a throttled address */
	for (int i = 0; i < 3; i++)
		policy_auth_failed("ip", "192.0.2.77", 3000);
	for (int i = 0; i < 20000; i++) {
		char u[40];
		snprintf(u, sizeof u, "flood%d@example.com", i);
		policy_auth_failed("user", u, 3000);
	}
	T_CHECK("throttled address survives a flood of user names",
		policy_auth_throttled("ip", "192.0.2.77", 3000));
	return t_done();
}
