/* queue_dkim_ed.c: Ed25519-SHA256 signatures (RFC 8463), made with
 * OpenSSL's EVP.  libopendkim 2.11.0~beta2 (Debian 12) makes them right
 * but never frees the key it loads for one (dkim_free() frees only RSA
 * keys): some 500 bytes lost per signature, which a long-running
 * relay-queue cannot afford.  So for Ed25519 this file does what the
 * library does for RSA: relaxed body (RFC 6376 3.4.4) hashed as it
 * streams, relaxed headers (3.4.2) picked bottom-up by name, the
 * DKIM-Signature header hashed without its b= value, and that SHA-256
 * signed with Ed25519. */
#include "queue.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct queue_dkim_ed {
	EVP_MD_CTX *bh;     /* the body hash */
	char out[4096];     /* canonical bytes not hashed yet */
	size_t olen;
	size_t empty;       /* empty lines held back: dropped at the end */
	int wsp, cr, text;  /* blanks held, a CR held, the line has text */
};

struct queue_dkim_ed *queue_dkim_ed_new(void)
{
	struct queue_dkim_ed *e = calloc(1, sizeof *e);

	if (e && (!(e->bh = EVP_MD_CTX_new()) ||
		  EVP_DigestInit_ex(e->bh, EVP_sha256(), NULL) != 1)) {
		queue_dkim_ed_free(e);
		e = NULL;
	}
	return e;
}

void queue_dkim_ed_free(struct queue_dkim_ed *e)
{
	if (e)
		EVP_MD_CTX_free(e->bh);
	free(e);
}

static void ed_put(struct queue_dkim_ed *e, const char *p, size_t n)
{
	if (e->olen + n > sizeof e->out) {
		EVP_DigestUpdate(e->bh, e->out, e->olen);
		e->olen = 0;
	}
	memcpy(e->out + e->olen, p, n);
	e->olen += n;
}

/* A byte of a line's text: held-back empty lines and blanks go first. */
static void ed_text(struct queue_dkim_ed *e, char c)
{
	for (; e->empty; e->empty--)
		ed_put(e, "\r\n", 2);
	if (e->wsp)
		ed_put(e, " ", 1);
	e->wsp = 0;
	ed_put(e, &c, 1);
	e->text = 1;
}

/* The end of a line: blanks at its end are dropped; an empty line is
 * held until text follows (empty lines at the end do not count). */
static void ed_eol(struct queue_dkim_ed *e)
{
	if (e->text)
		ed_put(e, "\r\n", 2);
	else
		e->empty++;
	e->text = e->wsp = 0;
}

void queue_dkim_ed_body(struct queue_dkim_ed *e, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (e->cr && c != '\n')
			ed_text(e, '\r'); /* a bare CR is text */
		e->cr = 0;
		if (c == '\r')
			e->cr = 1;
		else if (c == '\n')
			ed_eol(e);
		else if (c == ' ' || c == '\t')
			e->wsp = 1;
		else
			ed_text(e, c);
	}
}

/* The end of the body: its hash, base64, into bh[]. */
static void ed_body_end(struct queue_dkim_ed *e, char *bh)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (e->cr)
		ed_text(e, '\r');
	if (e->text)
		ed_put(e, "\r\n", 2);
	EVP_DigestUpdate(e->bh, e->out, e->olen);
	EVP_DigestFinal_ex(e->bh, md, &mdlen);
	EVP_EncodeBlock((unsigned char *)bh, md, (int)mdlen);
}

/* Relaxed header canonicalization into a digest, through a buffer. */
struct canon {
	EVP_MD_CTX *md;
	char b[1024];
	size_t n;
};

static void cput(struct canon *c, char ch)
{
	if (c->n == sizeof c->b) {
		EVP_DigestUpdate(c->md, c->b, c->n);
		c->n = 0;
	}
	c->b[c->n++] = ch;
}

/* Name lowercased, blanks around the colon and at the end gone, folds
 * undone, runs of blanks one space; CRLF after all but the signature. */
static void hdr_relaxed(struct canon *c, const char *p, size_t n, int crlf)
{
	size_t i;
	int wsp = 0, started = 0;

	for (i = 0; i < n && p[i] != ':'; i++)
		if (p[i] != ' ' && p[i] != '\t')
			cput(c, (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32
								   : p[i]));
	cput(c, ':');
	for (i++; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (p[i] == ' ' || p[i] == '\t') {
			wsp = 1;
			continue;
		}
		if (wsp && started)
			cput(c, ' ');
		wsp = 0;
		started = 1;
		cput(c, p[i]);
	}
	if (crlf) {
		cput(c, '\r');
		cput(c, '\n');
	}
}

/* Field name length (before blanks and the colon); 0 for no colon. */
static size_t field_name(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	size_t l = colon ? (size_t)(colon - p) : 0;

	while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
		l--;
	return l;
}

/* The fields of the header section: start offsets, and one past the end. */
static size_t *fields_split(const char *h, size_t len, size_t *nf)
{
	size_t cap = 64, n = 0, i = 0, *f = malloc(cap * sizeof *f);

	*nf = 0;

	while (f && i < len && h[i] != '\r' && h[i] != '\n') {
		if (n + 2 > cap) {
			size_t *g = realloc(f, (cap *= 2) * sizeof *f);
			if (!g) {
				free(f);
				return NULL;
			}
			f = g;
		}
		f[n++] = i;
		do { /* the field's lines: the first, then those with blanks */
			const char *nl = memchr(h + i, '\n', len - i);
			i = nl ? (size_t)(nl - h) + 1 : len;
		} while (i < len && (h[i] == ' ' || h[i] == '\t'));
	}
	if (f)
		f[n] = i;
	*nf = n;
	return f;
}

/* Hash the fields of the sign list bottom-up (RFC 6376 5.4.2) and list
 * their names in h=, then each oversigned name once more. */
static void ed_fields(struct canon *c, const char *h, size_t *f, size_t nf,
		      const char *const *sign, const char *const *over,
		      char *hl, size_t hn)
{
	size_t l = 0;

	hl[0] = '\0';
	for (; *sign; sign++)
		for (size_t k = nf; k-- > 0;) {
			size_t nl = field_name(h + f[k], f[k + 1] - f[k]);
			if (nl != strlen(*sign) || strncasecmp(h + f[k], *sign, nl) ||
			    l + nl + 300 > hn) /* room kept for the oversigned */
				continue;
			hdr_relaxed(c, h + f[k], f[k + 1] - f[k], 1);
			l += (size_t)snprintf(hl + l, hn - l, "%s%.*s", l ? ":" : "",
					      (int)nl, h + f[k]);
		}
	for (; *over && l + strlen(*over) + 2 < hn; over++)
		l += (size_t)snprintf(hl + l, hn - l, "%s%s", l ? ":" : "", *over);
}

/* The Ed25519 signature of hash, base64, into b64[]; 0 or -1. */
static int ed_sign_hash(const char *pem, const unsigned char *hash,
			char *b64, char *err, size_t errsz)
{
	int owned;
	EVP_PKEY *k = queue_dkim_pkey(pem, &owned);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned char sig[64];
	size_t slen = sizeof sig;
	int ok = k && m && EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 &&
		 EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(m, sig, &slen, hash, 32) == 1;

	if (ok)
		EVP_EncodeBlock((unsigned char *)b64, sig, (int)slen);
	else
		snprintf(err, errsz, "Ed25519 signing failed (not an Ed25519 "
			 "key?)");
	EVP_MD_CTX_free(m);
	if (owned)
		EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

char *queue_dkim_ed_sign(struct queue_dkim_ed *e, const char *hdr,
			 size_t hlen, const char *pem,
			 const struct queue_dkim_edsig *s, char *err,
			 size_t errsz)
{
	char bh[64], hl[2048], x[40] = "", tmpl[2600], b64[100], *out;
	unsigned char hash[EVP_MAX_MD_SIZE];
	struct canon c = { EVP_MD_CTX_new(), "", 0 };
	size_t nf, *f = fields_split(hdr, hlen, &nf);
	long long t = (long long)queue_now();

	ed_body_end(e, bh);
	if (!c.md || !f || EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) != 1) {
		snprintf(err, errsz, "out of memory");
		EVP_MD_CTX_free(c.md);
		free(f);
		return NULL;
	}
	ed_fields(&c, hdr, f, nf, s->sign, s->over, hl, sizeof hl);
	free(f);
	if (s->expire > 0)
		snprintf(x, sizeof x, " x=%lld;", t + s->expire);
	/* \001 marks a fold: a space when hashed, CRLF TAB when written */
	snprintf(tmpl, sizeof tmpl, "DKIM-Signature: v=1; a=ed25519-sha256; "
		 "c=relaxed/relaxed; d=%s;\001s=%s; t=%lld;%s\001h=%s;\001bh=%s;"
		 "\001b=", s->domain, s->selector, t, x, hl, bh);
	for (char *p = strchr(tmpl, '\001'); p; p = strchr(p, '\001'))
		*p = ' ';
	hdr_relaxed(&c, tmpl, strlen(tmpl), 0);
	EVP_DigestUpdate(c.md, c.b, c.n);
	EVP_DigestFinal_ex(c.md, hash, NULL);
	EVP_MD_CTX_free(c.md);
	if (ed_sign_hash(pem, hash, b64, err, errsz) < 0)
		return NULL;
	if (asprintf(&out, "DKIM-Signature: v=1; a=ed25519-sha256; "
		     "c=relaxed/relaxed; d=%s;\r\n\ts=%s; t=%lld;%s\r\n\th=%s;"
		     "\r\n\tbh=%s;\r\n\tb=%s\r\n", s->domain, s->selector, t, x,
		     hl, bh, b64) < 0) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	return out;
}
