/* tls.h: OpenSSL under struct io, for the server (STARTTLS, port 465)
 * and the client (relay-remote).  No cryptography of our own here. */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "io.h"

/* Server context: TLS 1.2 minimum, modern ciphers, server preference.
 * NULL with a message in err when the cert or key cannot be loaded. */
SSL_CTX *tls_server_ctx(const char *certfile, const char *keyfile, char *err,
			size_t errsz);
/* The same from PEM text in memory (tls_pem.c): the chain (leaf first)
 * and the key; the names only label errors. */
SSL_CTX *tls_server_ctx_pem(const char *cert, size_t certlen,
			    const char *certname, const char *key,
			    size_t keylen, const char *keyname, char *err,
			    size_t errsz);
/* The server context before its certificate and key (both above). */
SSL_CTX *tls_server_ctx_base(char *err, size_t errsz);
/* 1 with a warning in msg when group (other than ours) or other may
 * read keyfile; else 0 and msg empty. */
int tls_key_mode_check(const char *keyfile, char *msg, size_t msgsz);
/* err gets the prefix fmt (with arg for its %s) and OpenSSL's errors. */
void tls_errqs(char *err, size_t errsz, const char *fmt, const char *arg);

/* Client context trusting cafile alone; NULL or "" means the system CA
 * store (a private service's own CA: rate_store_ca). */
SSL_CTX *tls_client_ctx(const char *cafile, char *err, size_t errsz);
/* Client context trusting the system CA store and, when cafile is set,
 * its certificates as well (relay-remote's tls_ca for fixed hosts). */
SSL_CTX *tls_client_ctx_plus(const char *cafile, char *err, size_t errsz);

/* Handshake on io's socket (io->rfd == io->wfd), then route io's reads
 * and writes through TLS.  The caller discards buffered plaintext first
 * (io_discard_input); tls_*_start also flushes pending output in clear
 * (the "220 ready") and discards buffered input itself.  The fds are
 * non-blocking while TLS runs (tls_end restores them); every read, write
 * and the handshake are bounded by io->timeout_ms.  A write to a closed
 * peer can raise SIGPIPE: programs ignore it.  0 on success, -1 with a
 * reason in err (io is back to plain I/O then). */
int tls_server_start(struct io *io, SSL_CTX *ctx, char *err, size_t errsz);

/* Client handshake with SNI servername.  verify: TLS_VERIFY_PEER (1)
 * checks the chain and that the certificate names servername, failing
 * the handshake otherwise; TLS_VERIFY_REPORT checks the same but goes on
 * (tls_verify_result tells); TLS_VERIFY_NONE (0) checks nothing.  0 or
 * -1 with err. */
#define TLS_VERIFY_NONE 0
#define TLS_VERIFY_PEER 1
#define TLS_VERIFY_REPORT 2
int tls_client_start(struct io *io, SSL_CTX *ctx, const char *servername,
		     int verify, char *err, size_t errsz);

/* A TLSA record (RFC 6698): usage, selector, matching type, data. */
#define TLS_TLSA_DATA_MAX 1024
struct tls_tlsa {
	unsigned char usage, selector, mtype;
	size_t len;
	unsigned char data[TLS_TLSA_DATA_MAX];
};
/* 1 when OpenSSL's DANE verifies a record like t for SMTP (RFC 7672
 * 3.1: DANE-TA(2) and DANE-EE(3) only; PKIX-TA/EE are unusable). */
int tls_tlsa_usable(const struct tls_tlsa *t);
/* Client handshake authenticated by the usable records of t (RFC 7672):
 * DANE-EE by the key or certificate alone (no name check, no expiry),
 * DANE-TA by a chain to the trust anchor that names servername; none
 * matching fails the handshake.  0 or -1 with err. */
int tls_client_start_dane(struct io *io, SSL_CTX *ctx, const char *servername,
			  const struct tls_tlsa *t, size_t nt, char *err,
			  size_t errsz);
/* The TLSA records of t given to ssl for servername (tls_dane.c); -1
 * when none of them could be used. */
int tls_dane_apply(SSL *ssl, const char *servername,
		   const struct tls_tlsa *t, size_t nt);
/* After a client handshake: 1 when the chain and name verified, else 0
 * with the reason in why. */
int tls_verify_result(const struct io *io, char *why, size_t n);
/* The X509_V_ERR_* of the last client handshake that failed, or of the
 * last tls_verify_result (X509_V_OK when it verified). */
long tls_client_last_verify(void);

/* 1 when io runs TLS now (looked up by io->ctx, so it stays right when
 * the caller wraps io->read/io->write or copies the struct io). */
int tls_active(const struct io *io);

/* 1 when OpenSSL holds input that no read of io returned yet: the rest
 * of a record read, or records (whole or in part) read ahead from the
 * socket; 0 when it holds none or io is plaintext.  No system call. */
int tls_pending(const struct io *io);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384 256", or "" when io is plaintext. */
void tls_describe(const struct io *io, char *buf, size_t n);

/* Shut TLS down (best effort) and free it; io goes back to plain fds
 * (io->read and io->write become io_fd_read/io_fd_write again, dropping
 * any wrapper the caller put around the TLS ones). */
void tls_end(struct io *io);

#endif
