/* policy_authcache.c: remembered successful AUTH checks (see the header
 * for what is stored and why it does not weaken the password hashes). */
#include "policy_authcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "addr.h"
#include "log.h"
#include "settings.h"

/* A new entry may go into any of WAYS slots picked by its MAC (which the
 * key makes unpredictable, so nobody can aim entries at one set). */
#define WAYS 4

struct ac_entry {
	unsigned char mac[AUTHCACHE_MAC];
	char user[ADDR_MAX + 1];
	long added;         /* when crypt said yes */
	uint64_t used;      /* LRU stamp */
	int live;
};

static unsigned char ac_key[32];
static struct ac_entry *ac_tab;
static size_t ac_n;
static uint64_t ac_tick;
static EVP_MAC *ac_alg;
/* HMAC-SHA256 under ac_key, initialised once: each MAC starts from a
 * copy of it, so SHA-256 is not looked up by name and the key not
 * hashed into its pads at every check.  It holds the key's pads: made
 * and freed with the key. */
static EVP_MAC_CTX *ac_tmpl;

void policy_authcache_wipe(void)
{
	if (ac_tab) {
		explicit_bzero(ac_tab, ac_n * sizeof *ac_tab);
		free(ac_tab);
	}
	ac_tab = NULL;
	ac_n = 0;
	EVP_MAC_CTX_free(ac_tmpl); /* clears its copy of the key */
	ac_tmpl = NULL;
	explicit_bzero(ac_key, sizeof ac_key);
}

/* The keyed template under key (NULL: random bytes); 0, or -1. */
static int ac_keyed(const unsigned char *key)
{
	static char digest[] = "SHA256";
	OSSL_PARAM par[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};

	EVP_MAC_CTX_free(ac_tmpl);
	ac_tmpl = NULL;
	if (key)
		memcpy(ac_key, key, sizeof ac_key);
	else if (RAND_bytes(ac_key, sizeof ac_key) != 1)
		return -1;
	if (!(ac_tmpl = EVP_MAC_CTX_new(ac_alg)))
		return -1;
	return EVP_MAC_init(ac_tmpl, ac_key, sizeof ac_key, par) == 1 ? 0 : -1;
}

/* Key and table on first use (or again when auth_cache_size changed);
 * 0, or -1 when the cache is off or cannot be had. */
static int ac_setup(void)
{
	static int registered;

	if (cf.auth_cache_ttl <= 0 || cf.auth_cache_size <= 0)
		return -1;
	if (ac_tab && ac_n == (size_t)cf.auth_cache_size)
		return 0;
	policy_authcache_wipe();
	if (!ac_alg && !(ac_alg = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)))
		return -1;
	ac_tab = calloc((size_t)cf.auth_cache_size, sizeof *ac_tab);
	if (!ac_tab || ac_keyed(NULL) < 0) {
		policy_authcache_wipe();
		log_warn("auth cache unavailable: every AUTH runs crypt");
		return -1;
	}
	ac_n = (size_t)cf.auth_cache_size;
	if (!registered)
		registered = atexit(policy_authcache_wipe) == 0;
	return 0;
}

int policy_authcache_mac(const char *user, const char *pass,
			 const char *hash, unsigned char mac[AUTHCACHE_MAC])
{
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int ok;

	if (ac_setup() < 0 || !(ctx = EVP_MAC_CTX_dup(ac_tmpl)))
		return -1;
	/* the NULs keep ("ab","c") and ("a","bc") apart */
	ok = EVP_MAC_update(ctx, (const void *)user, strlen(user) + 1) == 1 &&
	     EVP_MAC_update(ctx, (const void *)pass, strlen(pass) + 1) == 1 &&
	     EVP_MAC_update(ctx, (const void *)hash, strlen(hash)) == 1 &&
	     EVP_MAC_final(ctx, mac, &len, AUTHCACHE_MAC) == 1 &&
	     len == AUTHCACHE_MAC;
	EVP_MAC_CTX_free(ctx);     /* clears its copy of the key */
	return ok ? 0 : -1;
}

int policy_authcache_key(const unsigned char key[32])
{
	if (ac_setup() < 0)
		return -1;
	explicit_bzero(ac_tab, ac_n * sizeof *ac_tab); /* under the old key */
	if (ac_keyed(key) == 0)
		return 0;
	policy_authcache_wipe();
	return -1;
}

static struct ac_entry *ac_slot(const unsigned char *mac, size_t way)
{
	uint32_t h = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 |
		     (uint32_t)mac[2] << 8 | mac[3];
	return &ac_tab[(h + way) % ac_n];
}

/* A clock that went backwards makes an entry stale, never immortal. */
static int ac_fresh(const struct ac_entry *e, long now)
{
	return e->live && now >= e->added && now - e->added < cf.auth_cache_ttl;
}

static int ac_same(const struct ac_entry *e, const char *user,
		   const unsigned char *mac)
{
	return e->live && !strcmp(e->user, user) &&
	       CRYPTO_memcmp(e->mac, mac, AUTHCACHE_MAC) == 0;
}

int policy_authcache_hit(const char *user,
			 const unsigned char mac[AUTHCACHE_MAC], long now)
{
	if (ac_setup() < 0)
		return 0;
	for (size_t w = 0; w < WAYS && w < ac_n; w++) {
		struct ac_entry *e = ac_slot(mac, w);
		if (ac_same(e, user, mac) && ac_fresh(e, now)) {
			e->used = ++ac_tick;
			return 1;
		}
	}
	return 0;
}

/* Where (user, mac) goes: its own slot if present, else a free or stale
 * one, else the least recently used of its set. */
static struct ac_entry *ac_victim(const char *user, const unsigned char *mac,
				  long now)
{
	struct ac_entry *v = NULL;

	for (size_t w = 0; w < WAYS && w < ac_n; w++) {
		struct ac_entry *e = ac_slot(mac, w);
		if (ac_same(e, user, mac) || !ac_fresh(e, now))
			return e;
		if (!v || e->used < v->used)
			v = e;
	}
	return v;
}

void policy_authcache_add(const char *user,
			  const unsigned char mac[AUTHCACHE_MAC], long now)
{
	struct ac_entry *e;

	if (ac_setup() < 0 || strlen(user) >= sizeof e->user)
		return;
	e = ac_victim(user, mac, now);
	explicit_bzero(e, sizeof *e);
	memcpy(e->mac, mac, AUTHCACHE_MAC);
	memcpy(e->user, user, strlen(user) + 1);
	e->added = now;
	e->used = ++ac_tick;
	e->live = 1;
}
