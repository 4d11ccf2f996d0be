/* tls_ticket.c: session tickets under the certificate store's key
 * (tls_store.h), the same in every relay-smtpd worker, instead of
 * OpenSSL's key of each context, which only the worker that issued a
 * ticket could open.  A ticket is AES-256-CBC with HMAC-SHA256, as
 * OpenSSL makes its own; this file only chooses the key. */
#include "tls_store.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static int mac_key(EVP_MAC_CTX *h, unsigned char *key)
{
	OSSL_PARAM p[3];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						(char *)"SHA256", 0);
	p[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(h, p) == 1;
}

/* The keys now, or the last ones read while the writer is writing (its
 * few stores take microseconds: rare, and never waited for). */
static int keys_now(const struct tls_store *st, struct tls_ticket_key k[2])
{
	static struct tls_ticket_key last[2];
	static int have;

	if (tls_store_tickets(st, k) == 0) {
		memcpy(last, k, sizeof last);
		have = 1;
		return 0;
	}
	if (!have)
		return -1;
	memcpy(k, last, sizeof last);
	return 0;
}

/* OpenSSL's ticket callback: enc 1 seals a new ticket under the current
 * key (1; -1 fails the handshake, never 0: OpenSSL 3.0 would send an
 * empty TLS 1.3 ticket); enc 0 opens one under the key its name names,
 * 0 for an unknown key (a full handshake), else 2: a new ticket follows
 * every resumption.  A TLS 1.3 client should use a ticket once (RFC 8446
 * C.4), and without it the server sends nothing after the client's
 * Finished: a client with Nagle then holds its EHLO until our delayed
 * ACK, 40 ms (tests/e2e/test_tls_resume.py). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc)
{
	const struct tls_store *st = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_ticket_key k[2];
	int rc = enc ? -1 : 0, i = 0;

	if (!st || keys_now(st, k) < 0)
		return rc;
	if (enc) {
		if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) == 1 &&
		    EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, k[0].aes,
				       iv) == 1 && mac_key(h, k[0].hmac)) {
			memcpy(name, k[0].name, sizeof k[0].name);
			rc = 1;
		}
	} else {
		while (i < 2 && memcmp(name, k[i].name, sizeof k[i].name))
			i++;
		if (i < 2 && mac_key(h, k[i].hmac) &&
		    EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k[i].aes,
				       iv) == 1)
			rc = 2;
	}
	OPENSSL_cleanse(k, sizeof k);
	return rc;
}

int tls_store_tickets_use(SSL_CTX *ctx, const struct tls_store *st)
{
	struct tls_ticket_key k[2];

	if (tls_store_tickets(st, k) < 0)
		return -1;
	OPENSSL_cleanse(k, sizeof k);
	SSL_CTX_set_app_data(ctx, (void *)st);
	/* a ticket's key outlives it: the previous key opens it still */
	SSL_CTX_set_timeout(ctx, TLS_TICKET_ROTATE);
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1 ? 0 : -1;
}
