// links: policy/policy_auth.c policy/policy_authcache.c policy/policy_db.c
/* test_policy_auth.c: password checks in a forked child (good, bad,
 * unknown user, mixed-case identity), and the failure throttle over its
 * 10-minute window, exact at the boundary: per user at an address, per
 * address across users (an IPv6 /64 as one), and a user guessed at from
 * many addresses, which never locks out an address without failures. */
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

/* n wrong passwords at now, the i-th from ipfmt and for userfmt, each
 * formatted with i + first (a format may ignore it). */
static void fail_n(const struct policy_lookup *lk, const char *ipfmt,
		   const char *userfmt, int first, int n, long now)
{
	char ip[64], user[64];

	for (int i = first; i < first + n; i++) {
		snprintf(ip, sizeof ip, ipfmt, i);
		snprintf(user, sizeof user, userfmt, i);
		check_pw(lk, ip, user, "wrong", now);
	}
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
	cf.auth_fail_ip_max = 5;
	cf.auth_fail_user_max = 6;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		T_CHECK(cases[i].name, check_pw(&lk, cases[i].ip, cases[i].user,
					       cases[i].pass, 1000) == cases[i].want);
	/* three failures so far for mailer from 192.0.2.1 */
	T_CHECK("user throttled at an address after auth_fail_max failures",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1000) == 2);
	T_CHECK("still throttled at the end of the window",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1599) == 2);
	T_CHECK("window over: checked again",
		check_pw(&lk, "192.0.2.1", "mailer@example.com", "secret1", 1600) == 1);
	/* the lock-out attempt: failures for the user from other addresses */
	fail_n(&lk, "198.51.100.%d", "mailer@example.com", 1, 3, 2000);
	T_CHECK("no lock-out: the right password from a fresh address works",
		check_pw(&lk, "203.0.113.9", "mailer@example.com", "secret1", 2000) == 1);
	T_CHECK("an address with one failure may still try",
		check_pw(&lk, "198.51.100.1", "mailer@example.com", "secret1", 2000) == 1);
	/* many addresses, one guess each: the user is under attack */
	fail_n(&lk, "198.51.100.%d", "mailer@example.com", 10, 6, 2100);
	T_CHECK("user under attack: an address that failed for it is refused",
		check_pw(&lk, "198.51.100.10", "mailer@example.com", "secret1", 2100) == 2);
	T_CHECK("user under attack: a fresh address is still checked",
		check_pw(&lk, "203.0.113.10", "mailer@example.com", "secret1", 2100) == 1);
	/* one address guessing across user names */
	fail_n(&lk, "192.0.2.50", "spray%d@example.com", 0, 5, 3000);
	T_CHECK("address throttled after auth_fail_ip_max failures (any users)",
		check_pw(&lk, "192.0.2.50", "mailer@example.com", "secret1", 3000) == 2);
	T_CHECK("another address is not",
		check_pw(&lk, "192.0.2.51", "mailer@example.com", "secret1", 3000) == 1);
	/* an IPv6 /64 is one client */
	fail_n(&lk, "2001:db8:1:2::%x", "v6spray%d@example.com", 1, 5, 3000);
	T_CHECK("IPv6: the /64 is throttled as one address",
		check_pw(&lk, "2001:db8:1:2:ffff::9", "mailer@example.com", "secret1", 3000) == 2);
	T_CHECK("IPv6: the next /64 is not",
		check_pw(&lk, "2001:db8:1:3::1", "mailer@example.com", "secret1", 3000) == 1);
	{
		char c[64];
		policy_auth_client("2001:DB8:1:2:a:b:c:d", c, sizeof c);
		T_STREQ("IPv6 client key", c, "2001:db8:1:2::/64");
		policy_auth_client("192.0.2.7", c, sizeof c);
		T_STREQ("IPv4 client key", c, "192.0.2.7");
		policy_auth_client("::ffff:192.0.2.7", c, sizeof c);
		T_STREQ("IPv4-mapped client key: the IPv4 address", c, "192.0.2.7");
	}
	T_CHECK("throttle helpers agree",
		policy_auth_throttled("192.0.2.50", "MAILER@example.com", 3000) == 1 &&
		!policy_auth_throttled("192.0.2.50", "mailer@example.com", 3600));
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
		policy_auth_fails("ip", "192.0.2.77", 3000) == 3);
	/* PLAIN's authzid: the user itself only, counted when refused */
	T_CHECK("authzid: none", policy_auth_authz_ok("", "mailer@example.com"));
	T_CHECK("authzid: the user itself in other case",
		policy_auth_authz_ok("MAILER@Example.COM", "mailer@example.com"));
	T_CHECK("authzid: someone else",
		!policy_auth_authz_ok("other@example.com", "mailer@example.com"));
	T_CHECK("authzid: a prefix of the user",
		!policy_auth_authz_ok("mailer", "mailer@example.com"));
	for (int i = 0; i < 3; i++)
		policy_auth_refuse("192.0.2.90", "Mailer@example.com", 4000);
	T_CHECK("three refused authzids: the user is throttled there",
		check_pw(&lk, "192.0.2.90", "mailer@example.com", "secret1", 4000) == 2);
	policy_auth_refuse("192.0.2.90", "mailer@example.com", 4000);
	T_CHECK("a refusal while throttled is not counted (as for passwords)",
		policy_auth_fails("ip", "192.0.2.90", 4000) == 3);
	return t_done();
}
