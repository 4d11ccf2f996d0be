/* queue_dkim.c: DKIM signing inside relay-queue, as the message streams
 * in (ARCHITECTURE.md "DKIM signing" says why here).  The header section
 * is held until it is complete; its From: domain picks the keys
 * (rules.cdb); from then on every chunk goes straight to libopendkim,
 * which canonicalizes (relaxed/relaxed), selects the headers and hashes
 * (SHA-256).  At the end, once the envelope names the customer, each
 * handle signs (RSA, Ed25519) and the DKIM-Signature lines go on top of
 * the message in the queue file. */
#include "queue.h"
#include "idna.h"
#include "log.h"
#include "settings.h"

#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DK_HEADER, DK_SIGNING, DK_SKIP, DK_FAIL };

/* Signed when present; oversigned (listed once more than present, so none
 * can be added after signing) for the fields a reader sees and that
 * appear once: From above all, as Gmail and rspamd do. */
static const char *sign_hdrs[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to",
	"sender", "in-reply-to", "references", "mime-version",
	"content-type", "content-transfer-encoding", "list-unsubscribe",
	"list-unsubscribe-post", "list-id", NULL
};
static const char *oversign_hdrs[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", NULL
};

static DKIM_LIB *dk_lib(void)
{
	static DKIM_LIB *lib;
	unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;

	/* the header lists go by address: the option's size is a pointer's */

	if (lib)
		return lib;
	lib = dkim_init(NULL, NULL);
	if (lib && (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
				 sizeof flags) != DKIM_STAT_OK ||
		    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
				 sign_hdrs, sizeof(char **)) != DKIM_STAT_OK ||
		    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
				 oversign_hdrs, sizeof(char **)) !=
			    DKIM_STAT_OK)) {
		dkim_close(lib);
		lib = NULL;
	}
	return lib;
}

/* x= follows from the library's signature TTL: set per signature, just
 * before the library reads it (one thread signs). */
static void dk_ttl(long expire)
{
	uint64_t ttl = (uint64_t)expire;
	dkim_options(dk_lib(), DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl,
		     sizeof ttl);
}

static void dk_stop(struct queue_dkim *d, int state, int log_it,
		    const char *fmt, const char *arg)
{
	d->state = state;
	d->log_why = log_it;
	snprintf(d->why, sizeof d->why, fmt, arg);
	free(d->hdr);
	d->hdr = NULL;
	d->len = d->cap = 0;
}

void queue_dkim_init(struct queue_dkim *d)
{
	memset(d, 0, sizeof *d);
	d->state = DK_HEADER;
	d->bol = 1;
}

void queue_dkim_free(struct queue_dkim *d)
{
	for (int i = 0; i < d->n; i++) {
		if (d->h[i])
			dkim_free(d->h[i]);
		queue_dkim_ed_free(d->ed[i]);
		free(d->key[i]);
		free(d->path[i]);
	}
	free(d->hdr);
	queue_dkim_init(d);
}

/* A message the library cannot parse (a malformed DKIM-Signature it
 * carries already, say) is relayed unsigned: deferring it would only
 * bring it back.  Anything else is a failure of ours (dkim_fail). */
static void dk_chunk(struct queue_dkim *d, const char *p, size_t n)
{
	for (int i = 0; i < d->n && d->state == DK_SIGNING; i++) {
		if (d->ed[i])
			continue; /* the body only, and dk_body does it */
		DKIM_STAT st = dkim_chunk(d->h[i], (u_char *)p, n);
		const char *e = dkim_geterror(d->h[i]);
		if (st == DKIM_STAT_SYNTAX)
			dk_stop(d, DK_SKIP, 1, "the header does not parse: %s",
				e ? e : "syntax");
		else if (st != DKIM_STAT_OK)
			dk_stop(d, DK_FAIL, 1, "hashing: %s",
				e ? e : dkim_getresultstr(st));
	}
}

/* Body bytes (after the header section) for the Ed25519 signatures. */
static void dk_body(struct queue_dkim *d, const char *p, size_t n)
{
	for (int i = 0; i < d->n && d->state == DK_SIGNING; i++)
		if (d->ed[i])
			queue_dkim_ed_body(d->ed[i], p, n);
}

/* An Ed25519 signature: its body hash, and a copy of its key. */
static int dk_ed(struct queue_dkim *d, const char *key)
{
	d->ed[d->n] = queue_dkim_ed_new();
	d->key[d->n] = strdup(key);
	return d->ed[d->n] && d->key[d->n] ? 0 : -1;
}

/* A key's failure, for the log: which file, d= and selector, and why
 * (with several keys and domains the operator must know which). */
static void dk_key_err(char *err, size_t errsz, const char *path,
		       const char *domain, const char *selector,
		       const char *why)
{
	snprintf(err, errsz, "key %s (d=%s s=%s): %s", path, domain, selector,
		 why);
}

static void dk_key_fail(struct queue_dkim *d, const struct dkimkey_sig *s,
			const char *why)
{
	char err[QUEUE_DKIM_ERR_MAX];

	dk_key_err(err, sizeof err, s->path, d->domain, s->selector, why);
	dk_stop(d, DK_FAIL, 1, "%s", err);
}

/* Why the key text is no key of alg, or NULL.  Asked before a handle
 * starts: libopendkim finds a bad RSA key only at the end, and loses
 * memory then (dkim_privkey_load), at every message. */
static const char *dk_key_bad(const char *pem, int alg)
{
	int owned, id;
	EVP_PKEY *k = queue_dkim_pkey(pem, &owned);

	id = k ? EVP_PKEY_get_base_id(k) : EVP_PKEY_NONE;
	if (owned)
		EVP_PKEY_free(k);
	if (!k)
		return "not a PEM private key";
	if (alg == DKIMKEY_ED25519)
		return id == EVP_PKEY_ED25519 ? NULL : "not an Ed25519 key";
	return id == EVP_PKEY_RSA ? NULL : "not an RSA key";
}

/* One signing handle per key; -1 after dk_stop. */
static int dk_handles(struct queue_dkim *d, struct dkimkey_sig *sigs, int n)
{
	char err[300];
	DKIM_STAT st = DKIM_STAT_NORESOURCE;

	for (int i = 0; i < n; i++) {
		const char *key = queue_dkim_key(sigs[i].path, err, sizeof err);
		const char *bad = key ? dk_key_bad(key, sigs[i].alg) : err;
		if (bad || !dk_lib()) {
			dk_key_fail(d, &sigs[i], bad ? bad : "libopendkim did "
							     "not start");
			return -1;
		}
		dk_ttl(sigs[i].expire);
		if (!(d->path[d->n] = strdup(sigs[i].path)) ||
		    (sigs[i].alg == DKIMKEY_ED25519 ? dk_ed(d, key) < 0 :
		    !(d->h[d->n] = dkim_sign(dk_lib(), (u_char *)"relay-queue",
					     NULL, (dkim_sigkey_t)key,
					     (u_char *)sigs[i].selector,
					     (u_char *)d->domain,
					     DKIM_CANON_RELAXED,
					     DKIM_CANON_RELAXED,
					     DKIM_SIGN_RSASHA256, -1, &st)))) {
			d->n++; /* freed with the others */
			dk_key_fail(d, &sigs[i], sigs[i].alg == DKIMKEY_ED25519
				    ? "out of memory" : dkim_getresultstr(st));
			return -1;
		}
		d->alg[d->n] = sigs[i].alg;
		d->expire[d->n] = sigs[i].expire;
		memcpy(d->selector[d->n], sigs[i].selector,
		       sizeof d->selector[0]);
		d->n++;
	}
	return 0;
}

/* The header section is complete (hlen bytes; body bytes may follow in
 * d->hdr): find the keys, start the handles, hash what is held. */
static void dk_start(struct queue_dkim *d, size_t hlen, int no_body)
{
	struct dkimkey_sig sigs[DKIMKEY_SIGS_MAX];
	char from[2048], *user, *dom, alabel[256];
	int nfrom = queue_dkim_from(d->hdr, hlen, from, sizeof from), n;
	enum idna_status idna;
	const char *why;

	if (nfrom == 0 || nfrom > 1) {
		dk_stop(d, DK_SKIP, 1, "%s", nfrom ? "several From: headers"
						   : "no From: header");
		return;
	}
	if (nfrom < 0 || dkim_mail_parse((u_char *)from, (u_char **)&user,
					 (u_char **)&dom) != 0 ||
	    !dom || !*dom || strlen(dom) >= sizeof d->domain) {
		dk_stop(d, DK_SKIP, 1, "%s", "From: address unreadable");
		return;
	}
	for (char *p = dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	/* rules.cdb holds A-labels; a U-label From: (SMTPUTF8) is signed
	 * with its A-label as d= (RFC 8616 4) */
	if ((idna = idna_alabel(dom, alabel, sizeof alabel, &why)) != IDNA_OK) {
		dk_stop(d, idna == IDNA_TEMP ? DK_FAIL : DK_SKIP, 1,
			"From: domain has no A-label: %s", why);
		return;
	}
	n = queue_dkim_lookup(alabel, d->domain, sizeof d->domain, d->customer,
			      sizeof d->customer, sigs);
	if (n <= 0) {
		dk_stop(d, DK_SKIP, 0, "%s", "no key");
		return;
	}
	if (dk_handles(d, sigs, n) < 0)
		return;
	d->state = DK_SIGNING;
	d->hlen = hlen;
	dk_body(d, d->hdr + hlen, d->len - hlen);
	dk_chunk(d, d->hdr, d->len); /* may stop: d->hdr is gone then */
	if (no_body) /* headers only (ending in CRLF, queue_dkim_feed) */
		dk_chunk(d, "\r\n", 2);
	if (d->state != DK_SIGNING)
		return;
	for (int i = 0; i < d->n; i++)
		if (d->ed[i])
			return; /* Ed25519 hashes the header section at the end */
	free(d->hdr);
	d->hdr = NULL;
	d->len = d->cap = 0;
}

/* Held whole: the chunk's body bytes do not count against the limit
 * (dk_take), so at most QUEUE_DKIM_HDR_MAX + one chunk. */
static int dk_hold(struct queue_dkim *d, const char *p, size_t n)
{
	if (d->len + n > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		while (cap < d->len + n)
			cap *= 2;
		char *h = realloc(d->hdr, cap);
		if (!h) {
			dk_stop(d, DK_FAIL, 1, "%s", "out of memory");
			return -1;
		}
		d->hdr = h;
		d->cap = cap;
	}
	memcpy(d->hdr + d->len, p, n);
	d->len += n;
	return 0;
}

static void dk_take(struct queue_dkim *d, const char *p, size_t n)
{
	size_t old = d->len;
	long eoh;

	if (d->state == DK_SIGNING) {
		dk_chunk(d, p, n);
		dk_body(d, p, n);
		return;
	}
	if (d->state != DK_HEADER || dk_hold(d, p, n) < 0)
		return;
	eoh = queue_dkim_eoh(d->hdr, d->len, old);
	if (eoh > QUEUE_DKIM_HDR_MAX ||
	    (eoh < 0 && d->len > QUEUE_DKIM_HDR_MAX))
		dk_stop(d, DK_SKIP, 1, "%s", "header section over 256 KiB");
	else if (eoh >= 0)
		dk_start(d, (size_t)eoh, 0);
}

/* The signers hash what relay-remote sends: every line end a CRLF, a
 * bare CR or LF too, and a CRLF after a last line without one
 * (send/remote_dot.c does the same on the wire). */
void queue_dkim_feed(void *arg, const char *p, size_t n)
{
	struct queue_dkim *d = arg;
	char out[8192];
	size_t o = 0;

	/* decided not to sign (no key, most mail): the rest of the message
	 * needs no pass byte by byte */
	if (d->state == DK_SKIP || d->state == DK_FAIL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (o + 3 > sizeof out) {
			dk_take(d, out, o);
			o = 0;
		}
		if (d->cr) {
			d->cr = 0;
			memcpy(out + o, "\r\n", 2);
			o += 2;
			d->bol = 1;
			if (p[i] == '\n')
				continue;
		}
		if (p[i] == '\r') {
			d->cr = 1;
			continue;
		}
		if (p[i] == '\n')
			out[o++] = '\r';
		out[o++] = p[i];
		d->bol = p[i] == '\n';
	}
	if (o) /* libopendkim takes an empty chunk for the end */
		dk_take(d, out, o);
}

/* "DKIM-Signature: " value CRLF onto *out, every fold made CRLF. */
static int dk_append(char **out, size_t *olen, const u_char *v, size_t vlen)
{
	char *o = realloc(*out, *olen + sizeof DKIM_SIGNHEADER + 2 * vlen + 5);
	size_t l = *olen;

	if (!o)
		return -1;
	l += (size_t)sprintf(o + l, "%s: ", DKIM_SIGNHEADER);
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r'))
			o[l++] = '\r';
		o[l++] = (char)v[i];
	}
	memcpy(o + l, "\r\n", 3);
	*out = o;
	*olen = l + 2;
	return 0;
}

/* The Ed25519 signature i onto *out; -1 (out freed) with err. */
static int dk_sign_ed(struct queue_dkim *d, int i, char **out, size_t *olen,
		      char *err, size_t errsz)
{
	const struct queue_dkim_edsig s = { d->domain, d->selector[i],
					    d->expire[i], sign_hdrs,
					    oversign_hdrs };
	char why[300] = "out of memory";
	char *sig = queue_dkim_ed_sign(d->ed[i], d->hdr, d->hlen, d->key[i],
				       &s, why, sizeof why);
	char *o = sig ? realloc(*out, *olen + strlen(sig) + 1) : NULL;

	if (!o) {
		dk_key_err(err, errsz, d->path[i], d->domain, d->selector[i],
			   why);
		free(sig);
		free(*out);
		return -1;
	}
	memcpy(o + *olen, sig, strlen(sig) + 1);
	*olen += strlen(sig);
	*out = o;
	free(sig);
	return 0;
}

static const char *dk_error(DKIM *h, DKIM_STAT st)
{
	const char *e = dkim_geterror(h);
	return e && *e ? e : dkim_getresultstr(st);
}

/* RSA signature i (libopendkim) onto *out; -1 (out freed) with err. */
static int dk_sign_rsa(struct queue_dkim *d, int i, char **out,
		       size_t *olen, char *err, size_t errsz)
{
	u_char *v = NULL;
	size_t vlen = 0;
	DKIM_STAT st;

	dk_ttl(d->expire[i]);
	if ((st = dkim_chunk(d->h[i], NULL, 0)) != DKIM_STAT_OK ||
	    (st = dkim_eom(d->h[i], NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(d->h[i], sizeof DKIM_SIGNHEADER + 1, &v,
				   &vlen)) != DKIM_STAT_OK ||
	    dk_append(out, olen, v, vlen) < 0) {
		dk_key_err(err, errsz, d->path[i], d->domain, d->selector[i],
			   dk_error(d->h[i], st));
		free(*out);
		return -1;
	}
	return 0;
}

/* Every signature, in order (RSA first). */
static int dk_sign_all(struct queue_dkim *d, const struct qfile *q,
		       char **sig, char *err, size_t errsz)
{
	char *out = NULL, names[DKIMKEY_SIGS_MAX * 80] = "";
	size_t olen = 0, nl = 0;

	for (int i = 0; i < d->n; i++) {
		if ((d->ed[i] ? dk_sign_ed : dk_sign_rsa)(d, i, &out, &olen,
							  err, errsz) < 0)
			return -1;
		nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s%s:%s",
				       i ? "," : "", dkimkey_alg_name(d->alg[i]),
				       d->selector[i]);
	}
	log_info("%s: dkim=signed d=%s s=%s", q->qid, d->domain, names);
	*sig = out;
	return 0;
}

int queue_dkim_finish(struct queue_dkim *d, const struct qfile *q,
		      char **sig, char *err, size_t errsz)
{
	const char *cust = qfile_get_info(q, QFILE_INFO_CUSTOMER);

	*sig = NULL;
	if (d->cr || !d->bol)
		dk_take(d, "\r\n", 2);
	d->cr = 0;
	d->bol = 1;
	if (d->state == DK_HEADER) /* the message ended in its header */
		dk_start(d, d->len, 1);
	/* One customer never gets mail signed for another's domain.  Asked
	 * before a failure: a key that would not be used (another customer's,
	 * or no customer's as for relay-send's DSNs) must not defer mail. */
	if ((d->state == DK_SIGNING || d->state == DK_FAIL) && d->customer[0] &&
	    (!cust || strcmp(cust, d->customer))) {
		d->state = DK_SKIP;
		d->log_why = 1;
		snprintf(d->why, sizeof d->why, "From: domain %s is customer "
			 "%s's, the message was relayed for %s", d->domain,
			 d->customer, cust && *cust ? cust : "no customer");
	}
	if (d->state == DK_FAIL) {
		snprintf(err, errsz, "%s", d->why);
		return -1;
	}
	if (d->state == DK_SKIP) {
		if (d->log_why)
			log_info("%s: dkim=unsigned: %s", q->qid, d->why);
		return 0;
	}
	return dk_sign_all(d, q, sig, err, errsz);
}
