/* policy_authcache.h: the verified-credentials cache of relay-policy.
 * Smarthost clients (Exchange, Postfix, printers) authenticate on every
 * connection with the same password, and each yescrypt check costs ~22 ms
 * of CPU and ~16 MiB; like Dovecot's auth cache we remember successful
 * checks for cf.auth_cache_ttl seconds.
 *
 * An entry is (user, HMAC-SHA256(k, user NUL password NUL stored-hash)) ->
 * expiry, with k 32 random bytes that live only in this process's memory:
 * the table holds nothing from which a password can be guessed offline
 * without k, and since the stored hash is part of the input, a password
 * change in users.cdb makes every old entry unreachable at once.  Only
 * successes are added; failures always go to crypt (and the throttle).
 * The table has cf.auth_cache_size slots (fixed, allocated once); a new
 * entry replaces the least recently used of a few slots chosen by the
 * MAC.  cf.auth_cache_ttl = 0 turns the cache off.  Key and entries are
 * wiped at exit. */
#ifndef POLICY_AUTHCACHE_H
#define POLICY_AUTHCACHE_H

#include <stddef.h>

#define AUTHCACHE_MAC 32

/* mac = HMAC(k, user NUL pass NUL hash); 0, or -1 when the cache is off
 * or could not be set up (the caller then simply verifies with crypt). */
int policy_authcache_mac(const char *user, const char *pass,
			 const char *hash, unsigned char mac[AUTHCACHE_MAC]);
/* 1 when (user, mac) was added less than cf.auth_cache_ttl seconds
 * before now, else 0. */
int policy_authcache_hit(const char *user,
			 const unsigned char mac[AUTHCACHE_MAC], long now);
/* Remember a successful verification. */
void policy_authcache_add(const char *user,
			  const unsigned char mac[AUTHCACHE_MAC], long now);
/* Forget every entry and use key from now on, exposed for tests (the
 * daemon's key is random); 0, or -1 when the cache is off. */
int policy_authcache_key(const unsigned char key[32]);
/* Forget everything and wipe the key (registered with atexit). */
void policy_authcache_wipe(void);

#endif
