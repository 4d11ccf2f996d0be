/* tls.c: OpenSSL under struct io.  The socket is switched to non-blocking
 * while TLS runs so that every OpenSSL call can be bounded by poll() and
 * io->timeout_ms (a peer that stalls mid-record cannot hang us); io->ctx
 * holds the SSL *, and a list of the live ones remembers the fds'
 * original flags so that tls_end can restore them.  No cryptography of
 * our own here. */
#include "tls.h"
#include "pemkey.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "coro.h"
#include "log.h"

/* TLS 1.2 suites: forward secret AEAD only.  TLS 1.3 suites are all AEAD
 * and keep OpenSSL's defaults. */
#define TLS_CIPHERS12 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"

#ifndef SSL_OP_IGNORE_UNEXPECTED_EOF
#define SSL_OP_IGNORE_UNEXPECTED_EOF 0
#endif

/* Every SSL now running under an io, with what tls_end needs to put
 * back.  tls_active looks io->ctx up here (by pointer, never trusting it
 * blindly) rather than guessing from io->read: a caller may wrap the read
 * or write function after the handshake (smtpd adds a session deadline)
 * or copy the struct io.  Hashed by the pointer: a worker serving
 * thousands of TLS sessions looks one up in a short chain, not a list of
 * them all. */
struct tls_saved {
	SSL *ssl;
	int rflags, wflags;
	struct tls_saved *next;
};
#define TLS_LIVE_BUCKETS 4096
static struct tls_saved *tls_live[TLS_LIVE_BUCKETS];

static struct tls_saved **tls_bucket(const void *ssl)
{
	return &tls_live[((uintptr_t)ssl >> 6) % TLS_LIVE_BUCKETS];
}

static struct tls_saved *tls_find(const struct io *io)
{
	struct tls_saved *sv;
	for (sv = *tls_bucket(io->ctx); sv; sv = sv->next)
		if (sv->ssl == io->ctx)
			return sv;
	return NULL;
}

/* Drain the OpenSSL error queue into err after a prefix: the last error
 * is usually the useful one, but keep them all as far as they fit. */
static void tls_errq(char *err, size_t errsz, const char *what)
{
	unsigned long e;
	size_t used;
	int n;

	if (!err || errsz == 0) {
		ERR_clear_error();
		return;
	}
	n = snprintf(err, errsz, "%s", what);
	used = n < 0 ? 0 : ((size_t)n >= errsz ? errsz - 1 : (size_t)n);
	while ((e = ERR_get_error()) != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof buf);
		if (used + 3 < errsz) {
			n = snprintf(err + used, errsz - used, ": %s", buf);
			if (n > 0)
				used += (size_t)n < errsz - used ? (size_t)n
								: errsz - used - 1;
		}
	}
}

/* A key file that others can read is a warning, not a refusal: the
 * operator may have reasons, but should hear about it.  Group access is
 * fine when the group is the reading process's own (root reads the
 * server key, so "root:root 0640" is); any other group, or other, with
 * read or write access is warned about. */
int tls_key_mode_check(const char *keyfile, char *msg, size_t msgsz)
{
	struct stat st;
	mode_t bad = 007;

	msg[0] = '\0';
	if (stat(keyfile, &st) < 0)
		return 0;
	if (st.st_gid != getegid())
		bad |= 070;
	if (!(st.st_mode & bad))
		return 0;
	snprintf(msg, msgsz, "tls: key file %s is accessible to %s (mode %03o); "
		 "chmod it 600 (relaybox reads it as root)",
		 keyfile, (st.st_mode & 007) ? "other" : "its group",
		 (unsigned)(st.st_mode & 0777));
	return 1;
}

static void tls_key_mode_warn(const char *keyfile)
{
	char msg[PATH_MAX + 128];

	if (tls_key_mode_check(keyfile, msg, sizeof msg))
		log_warn("%s", msg);
}

/* tls_errq with a prefix built from fmt and one string argument. */
void tls_errqs(char *err, size_t errsz, const char *fmt, const char *arg)
{
	char what[320];
	snprintf(what, sizeof what, fmt, arg);
	tls_errq(err, errsz, what);
}

/* What both sides share: TLS 1.2 at least, no compression (CRIME), no
 * renegotiation, a peer that drops TCP without close_notify is an EOF. */
static SSL_CTX *tls_ctx_new(const SSL_METHOD *method, long opts, char *err,
			    size_t errsz)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(method);
	if (!ctx) {
		tls_errq(err, errsz, "tls: SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, opts | SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* RELEASE_BUFFERS: a connection idle between records holds no
	 * read or write buffer (~34 KiB): thousands of idle TLS sessions
	 * in one relay-smtpd */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *tls_server_ctx_base(char *err, size_t errsz)
{
	static const unsigned char sid_ctx[] = "relaybox";
	SSL_CTX *ctx = tls_ctx_new(TLS_server_method(),
				   SSL_OP_CIPHER_SERVER_PREFERENCE, err, errsz);

	if (!ctx)
		return NULL;
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	/* read whole records (header and body in one read, several when
	 * they came together) instead of two reads per record; tls_rw asks
	 * OpenSSL before it polls, so nothing read ahead waits unseen */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* TLS 1.3 sends two tickets after each full handshake by default
	 * (for clients that open connections in parallel); each costs an
	 * encryption and a record.  One keeps resumption for the client
	 * that comes back, on any worker (tls_store_tickets_use). */
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS12) != 1) {
		tls_errq(err, errsz, "tls: cipher list");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_server_ctx(const char *certfile, const char *keyfile, char *err,
			size_t errsz)
{
	SSL_CTX *ctx = tls_server_ctx_base(err, errsz);

	if (!ctx)
		return NULL;
	SSL_CTX_set_default_passwd_cb(ctx, pem_no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1)
		tls_errqs(err, errsz, "tls: certificate %s", certfile);
	else if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1)
		tls_errqs(err, errsz, "tls: key %s", keyfile);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		tls_errqs(err, errsz, "tls: key %s does not match the certificate",
			  keyfile);
	else {
		tls_key_mode_warn(keyfile);
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

/* A client context whose store trusts the system's CAs (system), the
 * certificates of cafile (when set), or both. */
static SSL_CTX *tls_client_ctx_with(int system, const char *cafile,
				    char *err, size_t errsz)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method(), 0, err, errsz);
	int ok = 1;

	if (!ctx)
		return NULL;
	/* DANE (RFC 7672) per connection: tls_client_start_dane */
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		tls_errqs(err, errsz, "tls: %s", "DANE setup");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (system && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_errqs(err, errsz, "tls: CA %s", "(system store)");
		ok = 0;
	} else if (cafile && *cafile &&
		   SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		tls_errqs(err, errsz, "tls: CA %s", cafile);
		ok = 0;
	}
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_client_ctx(const char *cafile, char *err, size_t errsz)
{
	return tls_client_ctx_with(!cafile || !*cafile, cafile, err, errsz);
}

SSL_CTX *tls_client_ctx_plus(const char *cafile, char *err, size_t errsz)
{
	return tls_client_ctx_with(1, cafile, err, errsz);
}

static long tls_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds to deadline (< 0: none): -1 for none, 0 when past. */
static int tls_left(long deadline)
{
	long d;

	if (deadline < 0)
		return -1;
	d = deadline - tls_now_ms();
	return d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

/* After an OpenSSL call asked to be retried, wait for the fd it needs.
 * deadline < 0 means none.  As the plain fd functions do (io.h), with
 * something kept for idle times (smtpd's log lines) it waits at most
 * IO_IDLE_MS first, then calls io->idle(1).  1 ready, 0 timed out, -1
 * error. */
static int tls_wait(struct io *io, int sslerr, long deadline)
{
	int fd = sslerr == SSL_ERROR_WANT_WRITE ? io->wfd : io->rfd;
	short ev = sslerr == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	int left = tls_left(deadline), w;

	if (left == 0)
		return 0;
	if (io->idle && (left < 0 || left > IO_IDLE_MS) && io->idle(0)) {
		if ((w = io_wait(fd, ev, IO_IDLE_MS)) != 0)
			return w;
		io->idle(1);
		if ((left = tls_left(deadline)) == 0)
			return 0;
	}
	return io_wait(fd, ev, left);
}

static long tls_deadline(const struct io *io)
{
	return io->timeout_ms > 0 ? tls_now_ms() + io->timeout_ms : -1;
}

/* Shared by read and write: r is the OpenSSL return value.  Returns 1 to
 * retry the call, 0 at a clean close, -1 with io->err set. */
static int tls_retry(struct io *io, int r, long deadline)
{
	int e = SSL_get_error(io->ctx, r);
	int w;

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		w = tls_wait(io, e, deadline);
		if (w > 0)
			return 1;
		io->err = w == 0 ? IO_ERR_TIMEOUT : IO_ERR_SYS;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		io->err = IO_ERR_EOF;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0) { /* EOF without close_notify */
			io->err = IO_ERR_EOF;
			return 0;
		}
		/* fall through */
	default:
		ERR_clear_error();
		io->err = IO_ERR_SYS;
		return -1;
	}
}

/* Among coroutines, a read whose socket was just seen empty
 * (coro_read_none: smtpd's pipelining check peeks at it) waits first
 * when OpenSSL holds nothing either: an SSL_read now could only say
 * WANT_READ, one system call for nothing (io.c does the same for plain
 * reads).  1 ready, 0 timed out, -1 error; 1 at once when no wait. */
static int tls_wait_first(struct io *io, long deadline)
{
	if (!coro_self() || coro_read_first(io->rfd) || SSL_has_pending(io->ctx))
		return 1;
	return tls_wait(io, SSL_ERROR_WANT_READ, deadline);
}

/* One SSL_read (rbuf) or SSL_write (wbuf), retried until done.  The call
 * is tried before any poll, so bytes OpenSSL already holds (SSL_pending)
 * come back without waiting; the whole call is bounded by timeout_ms, not
 * each poll.  A write to a peer that closed is an error, not EOF. */
static ssize_t tls_rw(struct io *io, void *rbuf, const void *wbuf, size_t n)
{
	long deadline = tls_deadline(io);
	int want = n > INT_MAX ? INT_MAX : (int)n;
	int w = rbuf ? tls_wait_first(io, deadline) : 1;

	if (w <= 0) {
		io->err = w == 0 ? IO_ERR_TIMEOUT : IO_ERR_SYS;
		return -1;
	}
	for (;;) {
		int r, rc;
		ERR_clear_error();
		errno = 0;
		r = rbuf ? SSL_read(io->ctx, rbuf, want)
			 : SSL_write(io->ctx, wbuf, want);
		if (r > 0)
			return r;
		rc = tls_retry(io, r, deadline);
		if (rc == 0 && !rbuf)
			io->err = IO_ERR_SYS;
		if (rc <= 0)
			return rc == 0 && !rbuf ? -1 : rc;
	}
}

static ssize_t tls_read(struct io *io, void *buf, size_t n)
{
	return tls_rw(io, buf, NULL, n);
}

static ssize_t tls_write(struct io *io, const void *buf, size_t n)
{
	return tls_rw(io, NULL, buf, n);
}

/* A socket accepted non-blocking (a worker serving many sessions) is
 * left alone: one system call per handshake, none at its end. */
static int tls_set_nonblock(int fd, int *saved)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	*saved = fl;
	return fl & O_NONBLOCK ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void tls_restore_flags(int fd, int saved)
{
	if (!(saved & O_NONBLOCK))
		fcntl(fd, F_SETFL, saved);
}

/* Common part of both sides: flush plaintext, drop buffered input, make
 * the SSL on io's fds, non-blocking.  NULL with err on failure. */
static SSL *tls_setup(struct io *io, SSL_CTX *ctx, char *err, size_t errsz)
{
	struct tls_saved *sv;
	SSL *ssl;

	/* a reply still in the buffer (the "220 ready") goes out in clear;
	 * anything read before the handshake must not be read after it */
	if (io->out_len && io_flush(io) < 0) {
		snprintf(err, errsz, "tls: flushing before handshake failed");
		return NULL;
	}
	io_discard_input(io);
	ERR_clear_error();
	sv = calloc(1, sizeof *sv);
	ssl = sv ? SSL_new(ctx) : NULL;
	if (!ssl || SSL_set_rfd(ssl, io->rfd) != 1 ||
	    SSL_set_wfd(ssl, io->wfd) != 1) {
		tls_errq(err, errsz, "tls: SSL_new");
		SSL_free(ssl);
		free(sv);
		return NULL;
	}
	if (tls_set_nonblock(io->rfd, &sv->rflags) < 0 ||
	    (io->wfd != io->rfd &&
	     tls_set_nonblock(io->wfd, &sv->wflags) < 0)) {
		snprintf(err, errsz, "tls: fcntl: %s", strerror(errno));
		SSL_free(ssl);
		free(sv);
		return NULL;
	}
	sv->ssl = ssl;
	sv->next = *tls_bucket(ssl);
	*tls_bucket(ssl) = sv;
	SSL_set_app_data(ssl, sv);
	return ssl;
}

/* Undo tls_setup: free SSL, restore fd flags, plain I/O again. */
static void tls_teardown(struct io *io, SSL *ssl)
{
	struct tls_saved *sv = SSL_get_app_data(ssl), **pp;
	if (sv) { /* one socket (rfd == wfd): one flag word to restore */
		if (io->wfd != io->rfd)
			tls_restore_flags(io->wfd, sv->wflags);
		tls_restore_flags(io->rfd, sv->rflags);
		for (pp = tls_bucket(ssl); *pp; pp = &(*pp)->next)
			if (*pp == sv) {
				*pp = sv->next;
				break;
			}
		free(sv);
	}
	SSL_free(ssl);
	io->ctx = NULL;
	io->read = io_fd_read;
	io->write = io_fd_write;
}

/* Run the handshake (accept or connect) to the end, bounded by the io's
 * timeout.  0, or -1 with err. */
static int tls_handshake(struct io *io, SSL *ssl, int server, char *err,
			 size_t errsz)
{
	long deadline = tls_deadline(io);

	for (;;) {
		int r, e, w;
		ERR_clear_error();
		errno = 0;
		r = server ? SSL_accept(ssl) : SSL_connect(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			w = tls_wait(io, e, deadline);
			if (w > 0)
				continue;
			snprintf(err, errsz, "tls: handshake %s",
				 w == 0 ? "timed out" : "poll failed");
			return -1;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			snprintf(err, errsz, "tls: handshake: %s",
				 errno ? strerror(errno) : "connection closed");
			return -1;
		}
		tls_errq(err, errsz, "tls: handshake");
		return -1;
	}
}

int tls_server_start(struct io *io, SSL_CTX *ctx, char *err, size_t errsz)
{
	static const int one = 1;
	SSL *ssl = tls_setup(io, ctx, err, errsz);
	if (!ssl)
		return -1;
	/* the session ticket goes out after the handshake, alone: Nagle
	 * would hold the reply that follows it until the client's delayed
	 * ACK (up to 40 ms); io's buffer already makes one write a reply */
	setsockopt(io->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	io->ctx = ssl;
	if (tls_handshake(io, ssl, 1, err, errsz) < 0) {
		tls_teardown(io, ssl);
		return -1;
	}
	io->read = tls_read;
	io->write = tls_write;
	return 0;
}

/* SNI must be a host name, never an address literal (RFC 6066 3). */
static int tls_is_ip(const char *s)
{
	ASN1_OCTET_STRING *a = a2i_IPADDRESS(s);
	if (!a)
		return 0;
	ASN1_OCTET_STRING_free(a);
	return 1;
}

/* Name checks for the client: chain + host name (or IP) when verify. */
static int tls_client_names(SSL *ssl, const char *servername, int verify)
{
	int isip = servername && *servername && tls_is_ip(servername);

	if (servername && *servername && !isip &&
	    SSL_set_tlsext_host_name(ssl, servername) != 1)
		return -1;
	if (verify == TLS_VERIFY_NONE) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (!servername || !*servername)
		return -1; /* verifying nothing would verify anything */
	/* report: the chain and name are checked all the same, the
	 * handshake goes on whatever the result (tls_verify_result) */
	SSL_set_verify(ssl, verify == TLS_VERIFY_REPORT ? SSL_VERIFY_NONE
							: SSL_VERIFY_PEER, NULL);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (isip) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
		return X509_VERIFY_PARAM_set1_ip_asc(p, servername) == 1 ? 0 : -1;
	}
	return SSL_set1_host(ssl, servername) == 1 ? 0 : -1;
}

static long tls_last_verify = X509_V_OK;

long tls_client_last_verify(void)
{
	return tls_last_verify;
}

/* The handshake with names (or DANE's TLSA records) set up first. */
static int tls_client_go(struct io *io, SSL_CTX *ctx, const char *servername,
			 int verify, const struct tls_tlsa *t, size_t nt,
			 char *err, size_t errsz)
{
	SSL *ssl = tls_setup(io, ctx, err, errsz);

	if (!ssl)
		return -1;
	io->ctx = ssl;
	if ((t ? tls_dane_apply(ssl, servername, t, nt)
	       : tls_client_names(ssl, servername, verify)) < 0) {
		tls_errq(err, errsz, t ? "tls: no usable TLSA record"
				       : "tls: bad server name for verification");
		tls_teardown(io, ssl);
		return -1;
	}
	tls_last_verify = X509_V_OK;
	if (tls_handshake(io, ssl, 0, err, errsz) < 0) {
		long v = SSL_get_verify_result(ssl);
		tls_last_verify = v;
		if (verify != TLS_VERIFY_NONE && v != X509_V_OK)
			snprintf(err, errsz, "tls: verify %s%s failed: %s",
				 t ? "by DANE TLSA of " : "", servername,
				 X509_verify_cert_error_string(v));
		tls_teardown(io, ssl);
		return -1;
	}
	io->read = tls_read;
	io->write = tls_write;
	return 0;
}

int tls_client_start(struct io *io, SSL_CTX *ctx, const char *servername,
		     int verify, char *err, size_t errsz)
{
	return tls_client_go(io, ctx, servername, verify, NULL, 0, err,
			     errsz);
}

int tls_client_start_dane(struct io *io, SSL_CTX *ctx, const char *servername,
			  const struct tls_tlsa *t, size_t nt, char *err,
			  size_t errsz)
{
	if (!t || nt == 0) {
		snprintf(err, errsz, "tls: no TLSA record to verify with");
		return -1;
	}
	return tls_client_go(io, ctx, servername, TLS_VERIFY_PEER, t, nt, err,
			     errsz);
}

int tls_verify_result(const struct io *io, char *why, size_t n)
{
	long v;

	if (!tls_active(io)) {
		snprintf(why, n, "no TLS");
		return 0;
	}
	v = SSL_get_verify_result(io->ctx);
	tls_last_verify = v;
	if (v == X509_V_OK && SSL_get0_peer_certificate(io->ctx))
		return 1;
	snprintf(why, n, "%s", v == X509_V_OK ? "no certificate"
				: X509_verify_cert_error_string(v));
	return 0;
}

int tls_active(const struct io *io)
{
	return io->ctx != NULL && tls_find(io) != NULL;
}

int tls_pending(const struct io *io)
{
	return tls_active(io) && SSL_has_pending(io->ctx);
}

void tls_describe(const struct io *io, char *buf, size_t n)
{
	const SSL_CIPHER *c;
	if (n == 0)
		return;
	buf[0] = '\0';
	if (!tls_active(io))
		return;
	c = SSL_get_current_cipher(io->ctx);
	snprintf(buf, n, "%s %s %d", SSL_get_version(io->ctx),
		 c ? SSL_CIPHER_get_name(c) : "unknown",
		 c ? SSL_CIPHER_get_bits(c, NULL) : 0);
}

void tls_end(struct io *io)
{
	SSL *ssl;
	if (!tls_active(io))
		return;
	ssl = io->ctx;
	/* one attempt at close_notify; never wait for the peer's */
	if (io->out_len)
		io_flush(io);
	ERR_clear_error();
	SSL_shutdown(ssl);
	ERR_clear_error();
	io_discard_input(io);
	tls_teardown(io, ssl);
}
