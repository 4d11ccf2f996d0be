/* smtp_tls.c: STARTTLS (RFC 3207) and implicit TLS. */
#include "smtp_tls.h"
#include "metrics.h"
#include "smtp_session.h"
#include "legacy.h"
#include "log.h"
#include "settings.h"
#include "tls.h"
#include "tls_store.h"
#include "wire_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The certificate and key, read by root (tls_store.h): relay-master's
 * store, or for a relay-smtpd started alone one it filled itself before
 * dropping root.  The server context outlives the session: a pool worker
 * serves many, and building it costs more than a session.  It is built
 * again when the store's sequence number moved (relay-master published a
 * renewed certificate), so the next connection gets it.
 *
 * Two contexts: one for everybody (TLS 1.2+, modern ciphers), and one
 * for the legacy devices of legacy_clients (legacy.h), chosen by the
 * client's address before the handshake: legacy_tls_min and
 * legacy_tls_ciphers (TLS 1.0 with @SECLEVEL=0 is possible there only). */
struct tls_slot {
	SSL_CTX *ctx;
	uint64_t seq;
	int built;
};
static struct tls_store tls_store = { NULL, -1 };
static struct tls_slot tls_std, tls_old;

void smtp_tls_init(void)
{
	char err[512];
	int r;

	if (!cf.tls_cert[0])
		return;
	r = tls_store_from_env(&tls_store, err, sizeof err);
	if (r < 0)
		log_warn("%s: STARTTLS answers 454", err);
	if (r != 0)
		return;
	if (tls_store_create(&tls_store) < 0) {
		log_warn("tls: no memory for the certificate: STARTTLS answers 454");
		return;
	}
	if (tls_store_load(&tls_store, cf.tls_cert, cf.tls_key, err,
			   sizeof err) < 0) {
		log_warn("%s: STARTTLS answers 454", err);
		tls_store_clear(&tls_store, err);
	} else if (err[0])
		log_warn("%s", err);
	close(tls_store.fd); /* the mapping stays */
	tls_store.fd = -1;
}

/* legacy_tls_ciphers with the ciphers that are no TLS taken out: a NULL
 * cipher (nothing encrypted) or an anonymous one (nobody authenticated)
 * would still count as TLS for AUTH and tls=yes.  1 when OpenSSL took
 * the list. */
static int tls_legacy_ciphers(SSL_CTX *ctx)
{
	static const char never[] = ":!eNULL:!aNULL";
	size_t n = strlen(cf.legacy_tls_ciphers) + sizeof never;
	char *list = malloc(n);
	int ok;

	if (!list)
		return 0;
	snprintf(list, n, "%s%s", cf.legacy_tls_ciphers, never);
	ok = SSL_CTX_set_cipher_list(ctx, list) == 1;
	free(list);
	return ok;
}

/* The legacy devices' settings on a context built like the others.  A
 * session id context of its own: a session (ticket) made with the
 * legacy terms is never resumed by a client that is not a legacy device,
 * which would keep its old cipher, nor the other way round. */
static SSL_CTX *tls_legacy(SSL_CTX *ctx, char *err, size_t errsz)
{
	static const unsigned char sid_ctx[] = "relaybox-legacy";
	int v = legacy_tls_version(cf.legacy_tls_min);

	if (!ctx)
		return NULL;
	if (!v || SSL_CTX_set_min_proto_version(ctx, v) != 1 ||
	    !tls_legacy_ciphers(ctx) ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx,
					   sizeof sid_ctx - 1) != 1) {
		tls_errqs(err, errsz, "legacy_tls_min %s or legacy_tls_ciphers "
			  "not usable", cf.legacy_tls_min);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The server context for this client (legacy or not), built again when
 * the store holds another one.  No log line when the store is empty:
 * its writer logged why, once. */
static SSL_CTX *tls_ctx_ready(struct smtp_session *s)
{
	struct tls_slot *t = s->legacy ? &tls_old : &tls_std;
	uint64_t seq = tls_store_seq(&tls_store);
	char err[512] = "";
	int empty = 0;

	if (!t->built || seq != t->seq) {
		if (t->ctx)
			SSL_CTX_free(t->ctx);
		t->ctx = tls_store_ctx(&tls_store, &t->seq, &empty, err,
				       sizeof err);
		if (s->legacy)
			t->ctx = tls_legacy(t->ctx, err, sizeof err);
		/* OpenSSL keeps a record's plaintext until the next one: an
		 * AUTH line would stay readable by the other sessions of a
		 * worker (ARCHITECTURE.md, trust model) */
		if (t->ctx)
			SSL_CTX_set_options(t->ctx, SSL_OP_CLEANSE_PLAINTEXT);
		t->built = 1;
		if (!t->ctx && !empty)
			log_warn("%s: TLS unavailable: %s", s->ip, err);
	}
	return t->ctx;
}

/* relay_smtpd_tls_total{version=}: the first word of the description */
static void tls_count(const struct smtp_session *s)
{
	char v[32], l[METRICS_LABELS_MAX];

	snprintf(v, sizeof v, "%.*s", (int)strcspn(s->tls_desc, " "),
		 s->tls_desc);
	metrics_add(METRIC_SMTPD_TLS, 1,
		    metrics_labels(l, sizeof l, "version", v, NULL));
}

/* Shake hands on the client socket with ctx (from tls_ctx_ready). */
static int tls_handshake(struct smtp_session *s, SSL_CTX *tls_ctx)
{
	char err[256];

	/* tls.h wants one fd: under UCSPI fds 0 and 1 are the same socket */
	s->io.wfd = s->io.rfd;
	smtp_session_timeout(s, cf.smtp_timeout);
	if (tls_server_start(&s->io, tls_ctx, err, sizeof err) < 0) {
		char clean[3 * 256];
		log_info("%s: TLS handshake failed: %s", s->ip,
			 log_field(clean, sizeof clean, err, strlen(err)));
		s->outcome = "tls_failed";
		return -1;
	}
	s->tls = 1;
	tls_describe(&s->io, s->tls_desc, sizeof s->tls_desc);
	tls_count(s);
	smtp_session_guard(s); /* TLS replaced the read and write functions */
	log_info("%s: TLS %s", s->ip, s->tls_desc);
	return 0;
}

/* No wait between tls_ctx_ready and SSL_new here (nothing to flush
 * yet): the SSL holds ctx before another session could free it. */
int smtp_tls_implicit(struct smtp_session *s)
{
	SSL_CTX *ctx = tls_ctx_ready(s);

	return ctx ? tls_handshake(s, ctx) : -1;
}

/* Policy learns of TLS once the session has it (phase=tls).  Its reply
 * is always accept, so the frame is held and goes out with the next
 * request (the HELO after the client's new EHLO): policy reads them in
 * order, and the session saves a round trip. */
static void tls_tell_policy(struct smtp_session *s)
{
	struct kv req;

	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_TLS);
	kv_add(&req, WIRE_POLICY_TLS, "1");
	kv_add(&req, WIRE_POLICY_CIPHER, s->tls_desc);
	if (smtp_policy_tell(&s->policy, &req, 1) < 0)
		log_warn("%s: policy unreachable at tls", s->ip);
	kv_free(&req);
}

void smtp_tls_starttls(struct smtp_session *s, char *arg)
{
	SSL_CTX *ctx;
	int rc;

	if (s->tls) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		smtp_session_error(s);
		return;
	}
	if (*arg || !cf.tls_cert[0]) {
		smtp_reply(s, *arg ? "501 5.5.4 Syntax: STARTTLS"
				   : "502 5.5.1 STARTTLS not available");
		smtp_session_error(s);
		return;
	}
	if (!(ctx = tls_ctx_ready(s))) {
		/* a broken certificate must not cost the client its session */
		smtp_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* whatever the client sent after STARTTLS came in the clear and
	 * must not be taken as if it came through TLS (CVE-2011-0411) */
	io_discard_input(&s->io);
	/* the flush may wait for the client, and another session of the
	 * worker may meanwhile build a renewed context in ctx's place and
	 * free this one: ctx is held until the SSL took its own reference */
	SSL_CTX_up_ref(ctx);
	rc = io_flush(&s->io) < 0 ? -1 : tls_handshake(s, ctx);
	SSL_CTX_free(ctx);
	if (rc < 0) {
		s->quit = 1;
		return;
	}
	/* back to the state after the greeting (RFC 3207 4.2) */
	smtp_session_reset_tx(s, 1);
	s->helo_seen = s->esmtp = 0;
	s->helo[0] = '\0';
	tls_tell_policy(s);
}

void smtp_tls_close(struct smtp_session *s)
{
	if (s->tls)
		tls_end(&s->io);
	s->tls = 0;
}
