/* admit.c: the admission proofs and receipts of admit.h: HMAC-SHA256
 * (OpenSSL) over length-prefixed fields, so that no two transactions
 * give the same bytes to the MAC. */
#include "admit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* OpenSSL objects fetched once and reused (each one-shot call would look
 * the algorithm up again: twice the time); per thread. */
static _Thread_local EVP_MD *sha256;
static _Thread_local EVP_MD_CTX *md_ctx;
static _Thread_local EVP_MAC_CTX *mac_ctx;
static _Thread_local unsigned char mac_key[ADMIT_KEY_LEN];

static void digest(const void *p, size_t n, unsigned char *out)
{
	unsigned int len = 0;

	if (!sha256 && !(sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)))
		abort();
	if (!md_ctx && !(md_ctx = EVP_MD_CTX_new()))
		abort();
	if (!EVP_DigestInit_ex(md_ctx, sha256, NULL) ||
	    !EVP_DigestUpdate(md_ctx, p, n) ||
	    !EVP_DigestFinal_ex(md_ctx, out, &len))
		abort();
}

/* HMAC-SHA256 of p under key into out (ADMIT_HASH_LEN bytes). */
static void hmac(const struct admit_key *key, const void *p, size_t n,
		 unsigned char *out)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	size_t len = 0;
	int rekey = !mac_ctx || memcmp(mac_key, key->k, sizeof mac_key) != 0;

	if (!mac_ctx) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		if (!mac || !(mac_ctx = EVP_MAC_CTX_new(mac)))
			abort();
		EVP_MAC_free(mac); /* the context keeps its own reference */
	}
	if (rekey)
		memcpy(mac_key, key->k, sizeof mac_key);
	if (!EVP_MAC_init(mac_ctx, rekey ? key->k : NULL,
			  rekey ? sizeof key->k : 0, rekey ? params : NULL) ||
	    !EVP_MAC_update(mac_ctx, p, n) ||
	    !EVP_MAC_final(mac_ctx, out, &len, ADMIT_HASH_LEN))
		abort();
}

int admit_key_load(struct admit_key *key)
{
	const char *v = getenv(ADMIT_KEY_ENV);
	size_t got = 0;
	char *end;
	long fd;

	memset(key, 0, sizeof *key);
	if (!v)
		return 0;
	fd = strtol(v, &end, 10);
	unsetenv(ADMIT_KEY_ENV);
	if (*end || end == v || fd < 0 || fd > 1024)
		return -1;
	while (got < sizeof key->k) {
		ssize_t n = read((int)fd, key->k + got, sizeof key->k - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close((int)fd);
	key->ok = got == sizeof key->k;
	return key->ok ? 1 : -1;
}

int admit_key_new(struct admit_key *key)
{
	memset(key, 0, sizeof *key);
	if (getrandom(key->k, sizeof key->k, 0) != (ssize_t)sizeof key->k)
		return -1;
	key->ok = 1;
	return 0;
}

int admit_key_pass(const struct admit_key *key)
{
	int p[2];
	char num[16];

	if (pipe(p) < 0)
		return -1;
	/* 32 bytes fit in any pipe: the write never waits for the reader */
	if (write(p[1], key->k, sizeof key->k) != (ssize_t)sizeof key->k)
		return -1;
	close(p[1]);
	if (p[0] != ADMIT_KEY_FD) {
		if (dup2(p[0], ADMIT_KEY_FD) < 0)
			return -1;
		close(p[0]);
	}
	snprintf(num, sizeof num, "%d", ADMIT_KEY_FD);
	return setenv(ADMIT_KEY_ENV, num, 1);
}

void admit_rcpt_start(unsigned char h[ADMIT_HASH_LEN])
{
	memset(h, 0, ADMIT_HASH_LEN);
}

/* h = SHA-256(h, length, rcpt): the order and the boundaries count. */
void admit_rcpt_add(unsigned char h[ADMIT_HASH_LEN], const char *rcpt)
{
	size_t n = strlen(rcpt);
	unsigned char buf[ADMIT_HASH_LEN + 8 + 512];

	if (n > 512)
		n = 512; /* longer than any mailbox: the queue refuses it */
	memcpy(buf, h, ADMIT_HASH_LEN);
	for (int i = 0; i < 8; i++)
		buf[ADMIT_HASH_LEN + i] = (unsigned char)(n >> (8 * i));
	memcpy(buf + ADMIT_HASH_LEN + 8, rcpt, n);
	digest(buf, ADMIT_HASH_LEN + 8 + n, h);
}

/* The bytes the MAC covers: a tag, then each field as length + bytes. */
struct mac_buf {
	unsigned char b[8192]; /* more than every field at its longest */
	size_t n;
};

static void put(struct mac_buf *m, const void *p, size_t n)
{
	size_t k = n < sizeof m->b - m->n - 8 ? n : sizeof m->b - m->n - 8;

	for (int i = 0; i < 8; i++) /* the full length, even if cut */
		m->b[m->n++] = (unsigned char)(n >> (8 * i));
	memcpy(m->b + m->n, p, k);
	m->n += k;
}

static void put_str(struct mac_buf *m, const char *s)
{
	put(m, s ? s : "", s ? strlen(s) : 0);
}

static void put_u64(struct mac_buf *m, unsigned long long v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put(m, b, sizeof b);
}

static void hexmac(const struct admit_key *key, const struct mac_buf *m,
		   char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[ADMIT_HASH_LEN];

	hmac(key, m->b, m->n, mac);
	for (unsigned int i = 0; i < ADMIT_HASH_LEN; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[ADMIT_MAC_HEX] = '\0';
}

static void txn_mac(const struct admit_key *key, const struct admit_txn *t,
		    char *out)
{
	struct mac_buf m = { .n = 0 };

	put_str(&m, "relaybox admit 1");
	put_u64(&m, t->epoch);
	put_u64(&m, t->seq);
	put_u64(&m, t->ms);
	put_str(&m, t->ip);
	put_str(&m, t->helo);
	put_str(&m, t->auth);
	put_str(&m, t->customer);
	put_str(&m, t->registered);
	put_str(&m, t->helo_named);
	put_str(&m, t->from);
	put_str(&m, t->null_sender);
	put(&m, t->rcpts, ADMIT_HASH_LEN);
	hexmac(key, &m, out);
}

void admit_proof(const struct admit_key *key, const struct admit_txn *t,
		 char *out)
{
	char mac[ADMIT_MAC_HEX + 1];

	txn_mac(key, t, mac);
	snprintf(out, ADMIT_PROOF_MAX, "%016llx.%llu.%llu.%s", t->epoch,
		 t->seq, t->ms, mac);
}

static int parse_num(const char **p, int base, char stop,
		     unsigned long long *v)
{
	char *end;

	if (!**p || **p == '-' || **p == '+' || **p == ' ')
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, base);
	if (errno || end == *p || *end != stop)
		return -1;
	*p = end + 1;
	return 0;
}

int admit_proof_parse(const char *proof, struct admit_txn *t,
		      const char **mac)
{
	const char *p = proof;

	if (!proof || parse_num(&p, 16, '.', &t->epoch) < 0 ||
	    parse_num(&p, 10, '.', &t->seq) < 0 ||
	    parse_num(&p, 10, '.', &t->ms) < 0 || strlen(p) != ADMIT_MAC_HEX ||
	    strspn(p, "0123456789abcdef") != ADMIT_MAC_HEX)
		return -1;
	*mac = p;
	return 0;
}

int admit_proof_ok(const struct admit_key *key, const struct admit_txn *t,
		   const char *proof)
{
	struct admit_txn given;
	const char *mac;
	char want[ADMIT_MAC_HEX + 1];

	if (!key->ok || admit_proof_parse(proof, &given, &mac) < 0 ||
	    given.epoch != t->epoch || given.seq != t->seq ||
	    given.ms != t->ms)
		return 0;
	txn_mac(key, t, want);
	return CRYPTO_memcmp(want, mac, ADMIT_MAC_HEX) == 0;
}

void admit_receipt(const struct admit_key *key, unsigned long long epoch,
		   unsigned long long seq, const char *qid, char *out)
{
	struct mac_buf m = { .n = 0 };

	put_str(&m, "relaybox receipt 1");
	put_u64(&m, epoch);
	put_u64(&m, seq);
	put_str(&m, qid);
	hexmac(key, &m, out);
}

int admit_receipt_ok(const struct admit_key *key, unsigned long long epoch,
		     unsigned long long seq, const char *qid,
		     const char *receipt)
{
	char want[ADMIT_MAC_HEX + 1];

	if (!key->ok || !receipt || strlen(receipt) != ADMIT_MAC_HEX)
		return 0;
	admit_receipt(key, epoch, seq, qid, want);
	return CRYPTO_memcmp(want, receipt, ADMIT_MAC_HEX) == 0;
}

unsigned long long admit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ULL +
	       (unsigned long long)ts.tv_nsec / 1000000ULL;
}
