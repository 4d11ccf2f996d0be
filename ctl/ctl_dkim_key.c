/* ctl_dkim_key.c: the key work of relayctl dkim, with OpenSSL's EVP:
 * making an RSA or Ed25519 key, writing it as PEM to an open file,
 * reading one back, and the "v=DKIM1; k=...; p=..." TXT record of its
 * public half (RFC 6376 3.6.1: RSA as a base64 SubjectPublicKeyInfo;
 * RFC 8463: Ed25519 as the base64 of the raw 32-byte key). */
#include "ctl_dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkimkey.h"
#include "pemkey.h"
#include "regfile.h"

EVP_PKEY *ctl_dkim_key_new(int ed25519, int bits)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_id(ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA,
				  NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    (!ed25519 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) <= 0) ||
	    EVP_PKEY_keygen(ctx, &pkey) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int ctl_dkim_key_write(int fd, EVP_PKEY *pkey)
{
	BIO *b = BIO_new_fd(fd, BIO_NOCLOSE);
	int ok = b && PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL,
					       NULL) == 1 &&
		 BIO_flush(b) == 1;

	BIO_free(b);
	return ok ? 0 : -1;
}

EVP_PKEY *ctl_dkim_key_read(int fd)
{
	BIO *b = BIO_new_fd(fd, BIO_NOCLOSE);
	EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL,
						     pem_no_passphrase, NULL)
			   : NULL;

	BIO_free(b);
	return pkey;
}

const char *ctl_dkim_key_alg(EVP_PKEY *pkey)
{
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		return "rsa";
	case EVP_PKEY_ED25519:
		return "ed25519";
	default:
		return NULL;
	}
}

/* The public key bytes a p= tag carries, in buf; their length or -1. */
static int ctl_dkim_key_pub(EVP_PKEY *pkey, unsigned char *buf, size_t n)
{
	unsigned char *p = buf;
	size_t len = n;
	int der;

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		return EVP_PKEY_get_raw_public_key(pkey, buf, &len) == 1 ?
			       (int)len : -1;
	der = i2d_PUBKEY(pkey, NULL);
	if (der <= 0 || (size_t)der > n)
		return -1;
	return i2d_PUBKEY(pkey, &p);
}

int ctl_dkim_key_p(EVP_PKEY *pkey, char *p, size_t n)
{
	unsigned char pub[CTL_DKIM_PUB_MAX];
	int len = ctl_dkim_key_pub(pkey, pub, sizeof pub);

	if (len < 0 || n < 4 * (((size_t)len + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)p, pub, len);
	return 0;
}

int ctl_dkim_key_record(EVP_PKEY *pkey, char *rec, size_t n)
{
	char p[CTL_DKIM_P_MAX];
	const char *alg = ctl_dkim_key_alg(pkey);

	if (!alg || ctl_dkim_key_p(pkey, p, sizeof p) < 0)
		return -1;
	if ((size_t)snprintf(rec, n, "v=DKIM1; k=%s; p=%s", alg, p) >= n)
		return -1;
	return 0;
}

void ctl_dkim_key_zone_line(const char *domain, const char *selector,
			    const char *rec, FILE *out)
{
	size_t len = strlen(rec);

	/* character-strings hold at most 255 bytes: a zone file's long
	 * record is several of them, which verifiers join */
	fprintf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	for (size_t i = 0; i < len; i += 255)
		fprintf(out, " \"%.*s\"", (int)(len - i < 255 ? len - i : 255),
			rec + i);
	fputc('\n', out);
}

EVP_PKEY *ctl_dkim_key_load(const char *path, struct stat *st, char *why,
			    size_t n)
{
	EVP_PKEY *pkey;
	/* as root, in relay-queue's dkim/ */
	int fd = regfile_open(path, st, why, n);

	if (fd < 0)
		return NULL;
	pkey = ctl_dkim_key_read(fd);
	close(fd);
	if (!pkey || !ctl_dkim_key_alg(pkey)) {
		snprintf(why, n, "not an RSA or Ed25519 private key in PEM");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

void ctl_dkim_key_describe(EVP_PKEY *pkey, char *buf, size_t n)
{
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		snprintf(buf, n, "rsa-%d", EVP_PKEY_get_bits(pkey));
	else
		snprintf(buf, n, "%s", ctl_dkim_key_alg(pkey));
}
