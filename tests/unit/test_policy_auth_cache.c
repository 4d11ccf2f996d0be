// links: policy/policy_auth.c policy/policy_authcache.c policy/policy_db.c
/* test_policy_auth_cache.c: the verified-credentials cache, through
 * policy_auth_start (a hit is AUTH_OK at once: no child, no pipe, the
 * MAC wiped) and directly:
 * hit, miss on a wrong password, miss after the stored hash changes,
 * expiry on an injected clock, replacement when the table is full, ttl 0
 * turns it off, failures never cached, the throttle still comes first. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "test_policy_auth.h"
#include "../../policy/policy_authcache.h"
#include "settings.h"
#include "t.h"

#define H1 FAKE_H1

static int hit;  /* the last check was answered from the cache */

static int check_pw(const struct policy_lookup *lk, const char *ip,
		    const char *pass, long now)
{
	return auth_check(lk, ip, "mailer@example.com", pass, now, &hit);
}

static int cached(const char *user, const char *pass, const char *hash,
		  long now)
{
	unsigned char mac[AUTHCACHE_MAC];
	return policy_authcache_mac(user, pass, hash, mac) == 0 &&
	       policy_authcache_hit(user, mac, now);
}

static void add(const char *user, const char *pass, long now)
{
	unsigned char mac[AUTHCACHE_MAC];
	if (policy_authcache_mac(user, pass, H1, mac) == 0)
		policy_authcache_add(user, mac, now);
}

static void through_auth(const struct policy_lookup *lk)
{
	T_CHECK("first check runs crypt", check_pw(lk, "192.0.2.1", "secret1", 1000) == 1 && !hit);
	T_CHECK("second check is a hit", check_pw(lk, "192.0.2.1", "secret1", 1001) == 1 && hit);
	T_CHECK("wrong password misses and fails", check_pw(lk, "192.0.2.1", "secret2", 1002) == 0 && !hit);
	T_CHECK("failure not cached", check_pw(lk, "192.0.2.1", "secret2", 1003) == 0 && !hit);
	T_CHECK("still a hit after it", check_pw(lk, "192.0.2.1", "secret1", 1004) == 1 && hit);
	T_CHECK("expired at ttl", check_pw(lk, "192.0.2.1", "secret1", 1000 + 300) == 1 && !hit);
	T_CHECK("re-added by that check", check_pw(lk, "192.0.2.1", "secret1", 1301) == 1 && hit);
	/* a password change: the old password is refused at once */
	snprintf(fake_hash, sizeof fake_hash, "%s", "$6$abcdefgh$notthesamehash");
	T_CHECK("changed hash: old password misses and fails",
		check_pw(lk, "192.0.2.1", "secret1", 1302) == 0 && !hit);
	snprintf(fake_hash, sizeof fake_hash, "%s", H1);
	/* the throttle comes before the cache */
	check_pw(lk, "192.0.2.1", "bad", 1303);
	T_CHECK("throttled even with a cached password",
		check_pw(lk, "192.0.2.1", "secret1", 1304) == 2);
}

static void direct(void)
{
	T_CHECK("hit", (add("a@x", "pw", 5000), cached("a@x", "pw", H1, 5001)));
	T_CHECK("miss: wrong password", !cached("a@x", "pW", H1, 5001));
	T_CHECK("miss: other user", !cached("b@x", "pw", H1, 5001));
	T_CHECK("miss: stored hash changed", !cached("a@x", "pw", H1 "x", 5001));
	T_CHECK("live at ttl-1", cached("a@x", "pw", H1, 5299));
	T_CHECK("expired at ttl", !cached("a@x", "pw", H1, 5300));
	T_CHECK("clock went back: stale", !cached("a@x", "pw", H1, 4999));
	/* a full table of 4: the least recently used goes */
	cf.auth_cache_size = 4;
	add("u1@x", "p", 6000);
	add("u2@x", "p", 6000);
	add("u3@x", "p", 6000);
	add("u4@x", "p", 6000);
	T_CHECK("four fit", cached("u1@x", "p", H1, 6001) && cached("u2@x", "p", H1, 6001) &&
		cached("u3@x", "p", H1, 6001) && cached("u4@x", "p", H1, 6001));
	cached("u1@x", "p", H1, 6002);  /* u2 is now the least recent */
	add("u5@x", "p", 6003);
	T_CHECK("fifth replaces the least recently used",
		cached("u5@x", "p", H1, 6004) && !cached("u2@x", "p", H1, 6004) &&
		cached("u1@x", "p", H1, 6004) && cached("u3@x", "p", H1, 6004) &&
		cached("u4@x", "p", H1, 6004));
	cf.auth_cache_ttl = 0;
	add("u6@x", "p", 6005);
	T_CHECK("ttl 0: nothing cached", !cached("u6@x", "p", H1, 6005) &&
		!cached("u1@x", "p", H1, 6005));
	cf.auth_cache_ttl = 300;
	policy_authcache_wipe();
	T_CHECK("wiped: gone", !cached("u1@x", "p", H1, 6006));
}

/* The MAC is HMAC-SHA256(k, user NUL pass NUL hash), computed here by
 * OpenSSL's one-shot HMAC() under a key the test sets, also after a
 * rekey (the template the cache copies follows its key). */
static int mac_is_hmac(const unsigned char key[32], const char *user,
		       const char *pass, const char *hash)
{
	unsigned char in[512], want[EVP_MAX_MD_SIZE], got[AUTHCACHE_MAC];
	unsigned int wlen = 0;
	size_t n = 0;

	memcpy(in, user, strlen(user) + 1);
	n += strlen(user) + 1;
	memcpy(in + n, pass, strlen(pass) + 1);
	n += strlen(pass) + 1;
	memcpy(in + n, hash, strlen(hash));
	n += strlen(hash);
	if (policy_authcache_key(key) < 0 ||
	    policy_authcache_mac(user, pass, hash, got) < 0 ||
	    !HMAC(EVP_sha256(), key, 32, in, n, want, &wlen))
		return 0;
	return wlen == AUTHCACHE_MAC && !memcmp(got, want, wlen);
}

static void mac_value(void)
{
	unsigned char k1[32], k2[32];

	memset(k1, 0x5a, sizeof k1);
	for (int i = 0; i < 32; i++)
		k2[i] = (unsigned char)(i * 7 + 1);
	T_CHECK("MAC = HMAC-SHA256 of user NUL pass NUL hash",
		mac_is_hmac(k1, "mailer@example.com", "secret1", H1));
	T_CHECK("the same twice (each MAC starts from a fresh copy)",
		mac_is_hmac(k1, "mailer@example.com", "secret1", H1) &&
		mac_is_hmac(k1, "a@x", "", "h"));
	T_CHECK("under a new key", mac_is_hmac(k2, "a@x", "pw", H1));
	add("a@x", "pw", 8000);
	T_CHECK("a new key forgets the entries",
		cached("a@x", "pw", H1, 8001) &&
		policy_authcache_key(k1) == 0 && !cached("a@x", "pw", H1, 8001));
}

int main(void)
{
	struct policy_lookup lk = fake_lk;

	cf.auth_fail_max = 3;
	cf.auth_fail_ip_max = 20;
	cf.auth_fail_user_max = 50;
	cf.auth_cache_size = 1024;
	cf.auth_cache_ttl = 300;
	through_auth(&lk);
	direct();
	mac_value();
	cf.auth_cache_ttl = 0;
	T_CHECK("ttl 0: every check runs crypt",
		check_pw(&lk, "192.0.2.9", "secret1", 7000) == 1 && !hit &&
		check_pw(&lk, "192.0.2.9", "secret1", 7001) == 1 && !hit);
	return t_done();
}
