/* tls_pem.c: a server context from a certificate chain and key held in
 * memory (tls_store.c hands relay-smtpd what root read from the files). */
#include "tls.h"
#include "pemkey.h"

#include <limits.h>

#include <openssl/err.h>
#include <openssl/pem.h>

/* The leaf and then each chain certificate of the PEM text. */
static int use_chain(SSL_CTX *ctx, BIO *bio)
{
	X509 *x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	int ok;

	if (!x)
		return 0;
	ok = SSL_CTX_use_certificate(ctx, x) == 1;
	X509_free(x);
	while (ok && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
		}
	if (ok) {
		/* the end of the text, not a broken certificate, ended it */
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			ERR_clear_error();
		else if (e)
			ok = 0;
	}
	return ok;
}

static int use_key(SSL_CTX *ctx, BIO *bio)
{
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, pem_no_passphrase,
					      NULL);
	int ok;

	if (!k)
		return 0;
	ok = SSL_CTX_use_PrivateKey(ctx, k) == 1;
	EVP_PKEY_free(k);
	return ok;
}

SSL_CTX *tls_server_ctx_pem(const char *cert, size_t certlen,
			    const char *certname, const char *key,
			    size_t keylen, const char *keyname, char *err,
			    size_t errsz)
{
	SSL_CTX *ctx = tls_server_ctx_base(err, errsz);
	BIO *cb = NULL, *kb = NULL;
	int ok = 0;

	if (!ctx)
		return NULL;
	if (certlen > INT_MAX || keylen > INT_MAX ||
	    !(cb = BIO_new_mem_buf(cert, (int)certlen)) ||
	    !(kb = BIO_new_mem_buf(key, (int)keylen)))
		tls_errqs(err, errsz, "tls: %s", "out of memory");
	else if (!use_chain(ctx, cb))
		tls_errqs(err, errsz, "tls: certificate %s", certname);
	else if (!use_key(ctx, kb))
		tls_errqs(err, errsz, "tls: key %s", keyname);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		tls_errqs(err, errsz, "tls: key %s does not match the certificate",
			  keyname);
	else
		ok = 1;
	BIO_free(cb);
	BIO_free(kb);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
