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

/* The h= list, as long as the header section makes it (never cut: a
 * name dropped while its oversigned twin stays would make the twin
 * select a real, unhashed field).  Folded between names (\001, see
 * queue_dkim_ed_sign) so that no line passes 998 octets (RFC 5322
 * 2.1.1); relaxed canonicalization hashes the fold as one space. */
struct hlist {
	char *s;
	size_t len, cap, line; /* line: octets since the last fold */
	int oom;
};

#define HL_FOLD 72 /* fold before a name that would pass this column */

static void hl_add(struct hlist *l, const char *name, size_t n)
{
	char *s = l->s;

	if (l->len + n + 3 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		while (cap < l->len + n + 3)
			cap *= 2;
		if (l->oom || !(s = realloc(l->s, cap))) {
			l->oom = 1;
			return;
		}
		l->s = s;
		l->cap = cap;
	}
	if (l->len) {
		s[l->len++] = ':';
		l->line++;
		if (l->line + n > HL_FOLD) {
			s[l->len++] = '\001';
			l->line = 1; /* the tab */
		}
	}
	memcpy(s + l->len, name, n);
	l->len += n;
	l->line += n;
	s[l->len] = '\0';
}

/* Hash the fields of the sign list bottom-up (RFC 6376 5.4.2) and list
 * their names in h=, then each oversigned name once more. */
static void ed_fields(struct canon *c, const char *h, size_t *f, size_t nf,
		      const char *const *sign, const char *const *over,
		      struct hlist *hl)
{
	hl->line = 4; /* "\th=" */
	for (; *sign; sign++)
		for (size_t k = nf; k-- > 0;) {
			size_t nl = field_name(h + f[k], f[k + 1] - f[k]);
			if (nl != strlen(*sign) || strncasecmp(h + f[k], *sign, nl))
				continue;
			hdr_relaxed(c, h + f[k], f[k + 1] - f[k], 1);
			hl_add(hl, h + f[k], nl);
		}
	for (; *over; over++)
		hl_add(hl, *over, strlen(*over));
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
		snprintf(err, errsz, "%s", !k ? "not a PEM private key" :
			 EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519
				 ? "not an Ed25519 key" : "Ed25519 signing failed");
	EVP_MD_CTX_free(m);
	if (owned)
		EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* The signature header without b='s value, \001 for each fold. */
static char *ed_template(const struct queue_dkim_edsig *s, long long t,
			 const char *hl, const char *bh)
{
	char x[40] = "", *tmpl;

	if (s->expire > 0)
		snprintf(x, sizeof x, " x=%lld;", t + s->expire);
	if (asprintf(&tmpl, "DKIM-Signature: v=1; a=ed25519-sha256; "
		     "c=relaxed/relaxed; d=%s;\001s=%s; t=%lld;%s\001h=%s;"
		     "\001bh=%s;\001b=", s->domain, s->selector, t, x, hl,
		     bh) < 0)
		return NULL;
	return tmpl;
}

/* The template hashed (relaxed, no CRLF: RFC 6376 3.7), each fold a
 * space, into the header hash; the hash's value into hash[]. */
static int ed_hash_sig(struct canon *c, const char *tmpl,
		       unsigned char *hash)
{
	char *t = strdup(tmpl);

	if (!t)
		return -1;
	for (char *p = strchr(t, '\001'); p; p = strchr(p, '\001'))
		*p = ' ';
	hdr_relaxed(c, t, strlen(t), 0);
	free(t);
	EVP_DigestUpdate(c->md, c->b, c->n);
	EVP_DigestFinal_ex(c->md, hash, NULL);
	return 0;
}

/* The header as written: the template, each fold a CRLF TAB, then b64
 * and CRLF. */
static char *ed_written(const char *tmpl, const char *b64)
{
	size_t n = strlen(tmpl), folds = 0, o = 0;
	char *out;

	for (const char *p = tmpl; (p = strchr(p, '\001')); p++)
		folds++;
	out = malloc(n + 2 * folds + strlen(b64) + 3);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (tmpl[i] != '\001') {
			out[o++] = tmpl[i];
			continue;
		}
		memcpy(out + o, "\r\n\t", 3);
		o += 3;
	}
	sprintf(out + o, "%s\r\n", b64);
	return out;
}

char *queue_dkim_ed_sign(struct queue_dkim_ed *e, const char *hdr,
			 size_t hlen, const char *pem,
			 const struct queue_dkim_edsig *s, char *err,
			 size_t errsz)
{
	char bh[64], b64[100], *tmpl = NULL, *out = NULL;
	unsigned char hash[EVP_MAX_MD_SIZE];
	struct canon c = { EVP_MD_CTX_new(), "", 0 };
	struct hlist hl = { NULL, 0, 0, 0, 0 };
	size_t nf, *f = fields_split(hdr, hlen, &nf);

	ed_body_end(e, bh);
	if (c.md && f && EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) == 1) {
		ed_fields(&c, hdr, f, nf, s->sign, s->over, &hl);
		if (!hl.oom)
			tmpl = ed_template(s, (long long)queue_now(),
					   hl.s ? hl.s : "", bh);
	}
	free(f);
	free(hl.s);
	if (!tmpl || ed_hash_sig(&c, tmpl, hash) < 0)
		snprintf(err, errsz, "out of memory");
	else if (ed_sign_hash(pem, hash, b64, err, errsz) == 0 &&
		 !(out = ed_written(tmpl, b64)))
		snprintf(err, errsz, "out of memory");
	EVP_MD_CTX_free(c.md);
	free(tmpl);
	return out;
}
