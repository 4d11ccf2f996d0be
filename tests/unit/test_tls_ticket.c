// links:
/* test_tls_ticket.c: session tickets under the certificate store's key
 * (lib/tls_ticket.c).  Two readers of one store stand for two
 * relay-smtpd workers: a ticket one issues resumes on the other (TLS
 * 1.3 and 1.2); after one rotation it still resumes, after two it does
 * not; a store of its own (another relay-master) does not take it.
 * Handshakes run in memory (a BIO pair), the certificate is made with
 * the openssl CLI. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_store.h"
#include "t.h"

static char dir[] = "/tmp/relaybox-test-ticket-XXXXXX";
static char cert[300], key[300];

static int make_cert(void)
{
	char cmd[1024];

	snprintf(cert, sizeof cert, "%s/c.pem", dir);
	snprintf(key, sizeof key, "%s/k.pem", dir);
	snprintf(cmd, sizeof cmd,
		 "cd %s && exec >log 2>&1 && openssl req -x509 -newkey ec "
		 "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem "
		 "-out c.pem -days 2 -subj /CN=ticket", dir);
	return system(cmd);
}

/* A handshake of cctx (offering *sess when set) with sctx; then the
 * client reads the ticket that follows and *sess becomes its session.
 * 1 when resumed, 0 when a full handshake, -1 when it failed. */
static int shake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION **sess)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *bc, *bs;
	int done = 0, reused;
	char b;

	if (!c || !s || BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
		return -1;
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (*sess)
		SSL_set_session(c, *sess);
	for (int i = 0; i < 20 && !done; i++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
		done = rc == 1 && rs == 1;
	}
	/* the server's first byte; the client takes the ticket before it */
	done = done && SSL_write(s, "x", 1) == 1 && SSL_read(c, &b, 1) == 1;
	reused = SSL_session_reused(c);
	SSL_SESSION_free(*sess);
	*sess = SSL_get1_session(c);
	/* freed without a close_notify, its session would be dropped */
	SSL_shutdown(c);
	SSL_free(c);
	SSL_free(s);
	return done ? reused : -1;
}

/* A reader of w's store, as a worker attaches, and its context. */
static SSL_CTX *worker(struct tls_store *w, struct tls_store *r)
{
	char err[512];
	uint64_t seq;
	int empty;

	if (tls_store_attach(r, tls_store_ro_fd(w), err, sizeof err) < 0)
		return NULL;
	return tls_store_ctx(r, &seq, &empty, err, sizeof err);
}

static void test_across(int version)
{
	struct tls_store w, w2, r1, r2, r3;
	SSL_CTX *a, *b, *other, *cctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *sess = NULL, *kept;
	char err[512];

	T_CHECK("stores made and loaded",
		tls_store_create(&w) == 0 && tls_store_create(&w2) == 0 &&
		    tls_store_load(&w, cert, key, err, sizeof err) == 0 &&
		    tls_store_load(&w2, cert, key, err, sizeof err) == 0);
	a = worker(&w, &r1);
	b = worker(&w, &r2);
	other = worker(&w2, &r3);
	T_CHECK("two workers' contexts", a && b && other && cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_proto_version(cctx, version);
	printf("-- %s\n", version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
	T_CHECK("first connection: a full handshake on worker A",
		shake(a, cctx, &sess) == 0 && sess);
	kept = sess;
	SSL_SESSION_up_ref(kept);
	T_CHECK("A's ticket resumes on worker B", shake(b, cctx, &sess) == 1);
	T_CHECK("a store of its own does not open it",
		shake(other, cctx, &kept) == 0);
	T_CHECK("after one rotation the ticket still resumes",
		tls_store_tickets_rotate(&w) == 0 && shake(a, cctx, &sess) == 1);
	SSL_SESSION_free(kept);
	kept = sess;
	SSL_SESSION_up_ref(kept);
	T_CHECK("two rotations on: a full handshake",
		tls_store_tickets_rotate(&w) == 0 &&
		    tls_store_tickets_rotate(&w) == 0 &&
		    shake(b, cctx, &kept) == 0);
	SSL_SESSION_free(sess);
	SSL_SESSION_free(kept);
	SSL_CTX_free(a);
	SSL_CTX_free(b);
	SSL_CTX_free(other);
	SSL_CTX_free(cctx);
}

int main(void)
{
	char cmd[400];

	if (!mkdtemp(dir) || make_cert() != 0) {
		printf("FAIL making a test certificate in %s\n", dir);
		return 1;
	}
	test_across(TLS1_3_VERSION);
	test_across(TLS1_2_VERSION);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("FAIL removing %s\n", dir);
	return t_done();
}
