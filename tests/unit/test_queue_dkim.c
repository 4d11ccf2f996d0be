// links: queue/queue_dkim.c queue/queue_dkim_hdr.c queue/queue_dkim_keys.c queue/queue_rules.c queue/queue_dkim_ed.c queue/queue_dirs.c
/* test_queue_dkim.c: the signer on canned messages, fed in chunks of
 * several sizes, each signature checked by an independent verifier
 * (python3-dkim, the public key handed to it as the DNS answer): RSA,
 * Ed25519 and both; odd messages (8-bit, 998-octet lines, folded headers,
 * trailing blank lines, no body, no final CRLF, odd case, dot lines); a
 * tampered body that must fail; the tags (oversigned From, t=, x=, no
 * l=); the messages left unsigned and the failure when a key is gone. */
#include <cdb.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../queue/queue.h"
#include "settings.h"
#include "t.h"

static char dir[] = "/tmp/test_queue_dkim.XXXXXX";
static char rec_rsa[1600], rec_ed[1600]; /* room for any b64[] */

/* A key file and its DNS record (p= the base64 of the public key). */
static void key_make(const char *name, int rsa, char *rec, size_t rn)
{
	char path[256];
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048)
			  : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	unsigned char der[1024], *p = der, b64[1500];
	size_t rawlen = 32;
	int n;
	BIO *b;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	b = BIO_new_file(path, "w");
	if (!k || !b)
		exit(1);
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	BIO_free(b);
	chmod(path, 0600);
	if (rsa)
		n = i2d_PUBKEY(k, &p);
	else
		n = EVP_PKEY_get_raw_public_key(k, der, &rawlen) == 1 ? 32 : -1;
	if (n < 0)
		exit(1);
	EVP_EncodeBlock(b64, der, n);
	snprintf(rec, rn, "v=DKIM1; k=%s; p=%s", rsa ? "rsa" : "ed25519", b64);
	EVP_PKEY_free(k);
}

static void cdb_put(struct cdb_make *cm, const char *k, const char *v)
{
	cdb_make_add(cm, k, (unsigned)strlen(k), v, (unsigned)strlen(v));
}

/* rules.cdb as makecdb writes it (conf/RULES.md, lib/dkimkey.h). */
static void rules_make(void)
{
	char path[256], v[2048];
	struct cdb_make cm;
	int fd;

	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cdb_make_start(&cm, fd);
	snprintf(v, sizeof v, "customer=acme\ndomain=example.com\n"
		 "sig=rsa rs1 0 %s/rsa.key\n", dir);
	cdb_put(&cm, "dkim:example.com", v);
	cdb_put(&cm, "dkim:.example.com", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=ed.example\n"
		 "sig=ed25519 ed1 86400 %s/ed.key\n", dir);
	cdb_put(&cm, "dkim:ed.example", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=dual.example\n"
		 "sig=rsa rs1 0 %s/rsa.key\nsig=ed25519 ed1 0 %s/ed.key\n",
		 dir, dir);
	cdb_put(&cm, "dkim:dual.example", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=gone.example\n"
		 "sig=rsa rs1 0 %s/missing.key\n", dir);
	cdb_put(&cm, "dkim:gone.example", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=xn--bcher-kva.example\n"
		 "sig=rsa rs1 0 %s/rsa.key\n", dir);
	cdb_put(&cm, "dkim:xn--bcher-kva.example", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=badalg.example\n"
		 "sig=ed25519 edbad 0 %s/rsa.key\n", dir);
	cdb_put(&cm, "dkim:badalg.example", v);
	snprintf(v, sizeof v, "customer=acme\ndomain=junk.example\n"
		 "sig=rsa rsbad 0 %s/junk.key\n", dir);
	cdb_put(&cm, "dkim:junk.example", v);
	cdb_make_finish(&cm);
	close(fd);
	cf.rules_cdb = strdup(path);
}

/* Sign msg fed in chunks of step bytes for customer cust; the signed
 * message (signature lines + msg) in *out, or NULL when unsigned.
 * Returns what queue_dkim_finish returned. */
static int sign(const char *msg, size_t len, size_t step, const char *cust,
		char **out)
{
	struct queue_dkim d;
	struct qfile q;
	char err[300], *sig = NULL;
	int rc;

	memset(&q, 0, sizeof q);
	strcpy(q.qid, "TESTQID");
	q.info[0].key = "customer";
	q.info[0].value = (char *)cust;
	q.ninfo = cust ? 1 : 0;
	queue_dkim_init(&d);
	for (size_t i = 0; i < len; i += step)
		queue_dkim_feed(&d, msg + i, len - i < step ? len - i : step);
	rc = queue_dkim_finish(&d, &q, &sig, err, sizeof err);
	queue_dkim_free(&d);
	*out = NULL;
	if (sig) {
		*out = malloc(strlen(sig) + len + 1);
		strcpy(*out, sig);
		memcpy(*out + strlen(sig), msg, len);
		(*out)[strlen(sig) + len] = '\0';
		free(sig);
	}
	return rc;
}

/* python3-dkim on every signature of the message: "ok ok", "ok fail"... */
static const char *verify(const char *msg, size_t len)
{
	static char res[64];
	static const char py[] =
		"import sys, dkim\n"
		"m = open(sys.argv[1], 'rb').read()\n"
		"recs = {'rs1': sys.argv[2].encode(), 'ed1': sys.argv[3].encode()}\n"
		"def dns(name, timeout=5):\n"
		"    return recs.get(name.decode().split('.')[0])\n"
		"def one(i):\n"
		"    try:\n"
		"        return 'ok' if dkim.DKIM(m).verify(idx=i, dnsfunc=dns) else 'fail'\n"
		"    except dkim.DKIMException:\n"
		"        return 'fail'\n"
		"d = dkim.DKIM(m)\n"
		"n = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])\n"
		"print(' '.join(one(i) for i in range(n)))\n";
	char path[256], cmd[4096];
	FILE *f, *p;

	snprintf(path, sizeof path, "%s/msg", dir);
	f = fopen(path, "wb");
	fwrite(msg, 1, len, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/verify.py", dir);
	f = fopen(path, "w");
	fputs(py, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s/msg '%s' '%s' 2>&1", path,
		 dir, rec_rsa, rec_ed);
	res[0] = '\0';
	if ((p = popen(cmd, "r"))) {
		char line[512];
		if (!fgets(res, sizeof res, p))
			res[0] = '\0';
		while (fgets(line, sizeof line, p)) /* a traceback */
			fputs(line, stderr);
		pclose(p);
	}
	res[strcspn(res, "\n")] = '\0';
	return res;
}

#define HDRS "To: Bob <bob@example.org>\r\nSubject: test\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"

struct scase {
	const char *name, *msg;
	const char *cust;      /* the envelope's customer */
	const char *want;      /* the verifier's verdicts; NULL: unsigned */
	const char *tag;       /* in the signature lines */
};

static const struct scase cases[] = {
	{ "rsa", "From: Joe <joe@example.com>\r\n" HDRS "\r\nHello\r\n", "acme", "ok", "a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rs1;" },
	{ "ed25519 with x=", "From: joe@ed.example\r\n" HDRS "\r\nHello\r\n", "acme", "ok", "a=ed25519-sha256;" },
	{ "dual: RSA on top", "From: joe@dual.example\r\n" HDRS "\r\nHello\r\n", "acme", "ok ok", "DKIM-Signature: v=1; a=rsa-sha256;" },
	{ "subdomain: d= the parent", "From: joe@mail.Example.COM\r\n" HDRS "\r\nHi\r\n", "acme", "ok", "d=example.com;" },
	{ "8-bit body", "From: joe@example.com\r\n" HDRS "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f\x65 \xe2\x82\xac\r\n", "acme", "ok", "h=" },
	{ "folded headers with tabs", "From:\r\n\tJoe\r\n\t<joe@example.com>\r\nSubject: a\r\n\t b  \t c\r\nTo: x@y.org\r\n\r\nbody\r\n", "acme", "ok", "s=rs1" },
	{ "trailing blank lines", "From: joe@example.com\r\n" HDRS "\r\nbody\r\n\r\n\r\n\r\n", "acme", "ok", "s=rs1" },
	{ "empty body", "From: joe@example.com\r\n" HDRS "\r\n", "acme", "ok", "s=rs1" },
	{ "headers only", "From: joe@example.com\r\n" HDRS, "acme", "ok", "s=rs1" },
	{ "no final CRLF", "From: joe@example.com\r\n" HDRS "\r\nlast line", "acme", "ok", "s=rs1" },
	{ "odd case", "fROM: \"Joe, Q.\" <Joe@EXAMPLE.com> (the boss)\r\nsUbJeCt: x\r\nTO: a@b.c\r\n\r\nx\r\n", "acme", "ok", "d=example.com" },
	{ "dot lines", "From: joe@example.com\r\n" HDRS "\r\n.\r\n..\r\n.x\r\n", "acme", "ok", "s=rs1" },
	{ "signed already: ours on top", "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=other.example; s=x; h=from; bh=AA==; b=AA==\r\nFrom: joe@example.com\r\n" HDRS "\r\nx\r\n", "acme", "ok fail", "d=example.com" },
	{ "malformed DKIM-Signature: unsigned", "DKIM-Signature: v=1; d=x\r\nFrom: joe@example.com\r\n" HDRS "\r\nx\r\n", "acme", NULL, NULL },
	{ "malformed DKIM-Signature, headers only: unsigned", "DKIM-Signature: v=1; d=x\r\nFrom: joe@example.com\r\n" HDRS, "acme", NULL, NULL },
	{ "no From: unsigned", HDRS "\r\nx\r\n", "acme", NULL, NULL },
	{ "two From: unsigned", "From: joe@example.com\r\nFrom: eve@example.com\r\n" HDRS "\r\nx\r\n", "acme", NULL, NULL },
	{ "another customer: unsigned", "From: joe@example.com\r\n" HDRS "\r\nx\r\n", "evil", NULL, NULL },
	{ "no customer: unsigned", "From: joe@example.com\r\n" HDRS "\r\nx\r\n", NULL, NULL, NULL },
	{ "U-label From: signed, d= the A-label", "From: joe@b\xc3\xbc" "cher.example\r\n" HDRS "\r\nx\r\n", "acme", "ok", "d=xn--bcher-kva.example;" },
	{ "U-label From, upper case: signed", "From: joe@B\xc3\x9c" "CHER.example\r\n" HDRS "\r\nx\r\n", "acme", "ok", "d=xn--bcher-kva.example;" },
	{ "A-label From: signed", "From: joe@xn--bcher-kva.example\r\n" HDRS "\r\nx\r\n", "acme", "ok", "d=xn--bcher-kva.example;" },
	{ "From: domain with no A-label: unsigned", "From: joe@b\xff\xfe.example\r\n" HDRS "\r\nx\r\n", "acme", NULL, NULL },
	{ "no key: unsigned", "From: joe@example.net\r\n" HDRS "\r\nx\r\n", "acme", NULL, NULL },
	{ "envelope domain does not count", "From: joe@example.net\r\nSender: joe@example.com\r\n" HDRS "\r\nx\r\n", "acme", NULL, NULL },
};

static void test_cases(void)
{
	static const size_t steps[] = { 1, 7, 65536 };
	char name[200], *out;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct scase *c = &cases[i];
		for (size_t s = 0; s < 3; s++) {
			int rc = sign(c->msg, strlen(c->msg), steps[s], c->cust, &out);
			snprintf(name, sizeof name, "dkim sign: %s (chunks of %zu)",
				 c->name, steps[s]);
			if (!c->want) {
				T_CHECK(name, rc == 0 && !out);
				free(out);
				continue;
			}
			const char *v = out ? verify(out, strlen(out)) : "unsigned";
			T_CHECK(name, rc == 0 && out && !strcmp(v, c->want) &&
					strstr(out, c->tag));
			if (!out || strcmp(v, c->want) || !strstr(out, c->tag))
				printf("   verifier: %s\n%s\n", v, out ? out : "");
			free(out);
		}
	}
}

/* Folds out of the signature lines: "\r\n\t" and the blanks after. */
static void unfold(char *s)
{
	char *w = s;

	for (char *r = s; s && *r;) {
		if (r[0] == '\r' && r[1] == '\n' && r[2] == '\t') {
			for (r += 3; *r == ' '; r++)
				;
			continue;
		}
		*w++ = *r++;
	}
	if (s)
		*w = '\0';
}

/* The tags: From oversigned, t= always, x= = t= + expire, no l=. */
static void test_tags(void)
{
	const char *m = "From: joe@ed.example\r\n" HDRS "\r\nx\r\n";
	char *out, *t, *x;

	sign(m, strlen(m), 4096, "acme", &out);
	unfold(out);
	T_CHECK("dkim tags: From oversigned, To/Cc/Reply-To too", out &&
		strstr(out, "h=From:To:Subject:Date:Message-ID:From:To:Cc:Subject:Date:Message-ID:Reply-To;"));
	t = out ? strstr(out, " t=") : NULL;
	x = out ? strstr(out, " x=") : NULL;
	/* unfolded: "s=ed1; t=... x=..." or "s=ed1;t=..." */
	t = t ? t : out ? strstr(out, ";t=") : NULL;
	x = x ? x : out ? strstr(out, ";x=") : NULL;
	T_CHECK("dkim tags: t= and x= = t= + 86400",
		t && x && atoll(x + 3) - atoll(t + 3) == 86400);
	T_CHECK("dkim tags: no l=", out && !strstr(out, " l=") && !strstr(out, ";l="));
	free(out);
	m = "From: joe@example.com\r\n" HDRS "\r\nx\r\n";
	sign(m, strlen(m), 4096, "acme", &out);
	unfold(out);
	T_CHECK("dkim tags: no x= without expire", out && strstr(out, ";t=") && !strstr(out, "x="));
	free(out);
}

/* A changed body or From: fails: the verifier can say no. */
static void test_tampered(void)
{
	const char *m = "From: joe@dual.example\r\n" HDRS "\r\nPay 100 EUR\r\n";
	char *out, *p;

	sign(m, strlen(m), 4096, "acme", &out);
	p = out ? strstr(out, "Pay 100") : NULL;
	if (p)
		p[4] = '9';
	T_STREQ("dkim tampered body fails", out ? verify(out, strlen(out)) : "", "fail fail");
	free(out);
	sign(m, strlen(m), 4096, "acme", &out);
	p = out ? strstr(out, "From: joe@dual") : NULL;
	if (p)
		memcpy(p + 6, "eve", 3);
	T_STREQ("dkim tampered From: fails", out ? verify(out, strlen(out)) : "", "fail fail");
	free(out);
}

/* A key rewritten in place (same inode) with one of the same size, its
 * mtime kept (cp -p, touch -r, a restore): the new key signs. */
static void test_rewrite(void)
{
	const char *m = "From: joe@ed.example\r\n" HDRS "\r\nx\r\n";
	char path[256], *out;
	struct stat before, after;
	struct timespec times[2];

	sign(m, strlen(m), 4096, "acme", &out); /* the old key cached */
	free(out);
	snprintf(path, sizeof path, "%s/ed.key", dir);
	stat(path, &before);
	key_make("ed.key", 0, rec_ed, sizeof rec_ed);
	times[0] = before.st_atim;
	times[1] = before.st_mtim;
	utimensat(AT_FDCWD, path, times, 0);
	stat(path, &after);
	T_CHECK("dkim key rewrite: same inode, size and mtime",
		after.st_ino == before.st_ino && after.st_size == before.st_size &&
		after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
	sign(m, strlen(m), 4096, "acme", &out);
	T_STREQ("dkim key rewritten in place: the new key signs",
		out ? verify(out, strlen(out)) : "unsigned", "ok");
	free(out);
}

/* The failure of signing msg for customer acme: its text in err, or
 * "" when it was signed or left unsigned. */
static void sign_err(const char *msg, char *err, size_t errsz)
{
	struct queue_dkim d;
	struct qfile q;
	char *sig = NULL;

	memset(&q, 0, sizeof q);
	q.info[0].key = "customer";
	q.info[0].value = "acme";
	q.ninfo = 1;
	queue_dkim_init(&d);
	queue_dkim_feed(&d, msg, strlen(msg));
	if (queue_dkim_finish(&d, &q, &sig, err, errsz) == 0)
		err[0] = '\0';
	queue_dkim_free(&d);
	free(sig);
}

/* A key failure names the file, d= and the selector, RSA and Ed25519. */
static void test_key_errors(void)
{
	static const struct {
		const char *name, *from, *want[4];
	} c[] = {
		{ "RSA key gone", "gone.example",
		  { "missing.key", "d=gone.example", "s=rs1", "No such file" } },
		{ "RSA key garbage", "junk.example",
		  { "junk.key", "d=junk.example", "s=rsbad", "not a PEM" } },
		{ "Ed25519 line, RSA key", "badalg.example",
		  { "rsa.key", "d=badalg.example", "s=edbad", "not an Ed25519" } },
	};
	char path[256], msg[200], err[QUEUE_DKIM_ERR_MAX], name[200];
	FILE *f;

	snprintf(path, sizeof path, "%s/junk.key", dir);
	if ((f = fopen(path, "w"))) {
		fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
		fclose(f);
	}
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int all = 1;
		snprintf(msg, sizeof msg, "From: joe@%s\r\n" HDRS "\r\nx\r\n",
			 c[i].from);
		sign_err(msg, err, sizeof err);
		for (int k = 0; k < 4; k++)
			all = all && strstr(err, c[i].want[k]);
		snprintf(name, sizeof name, "dkim key error names file, d=, s=: %s",
			 c[i].name);
		T_CHECK(name, *err && all);
		if (!*err || !all)
			printf("   got: %s\n", err);
	}
}

/* Limits and failures: a huge header section is left unsigned; a key
 * that vanished is a failure (the caller defers or relays unsigned). */
static void test_limits(void)
{
	size_t n = QUEUE_DKIM_HDR_MAX + 4096, off;
	char *big = malloc(n + 256 + 100), *out;
	const char *gone = "From: joe@gone.example\r\n\r\nx\r\n";
	char err[QUEUE_DKIM_ERR_MAX];

	off = (size_t)sprintf(big, "From: joe@example.com\r\n");
	while (off < n)
		off += (size_t)sprintf(big + off, "X-Pad: %090d\r\n", 0);
	strcpy(big + off, "\r\nbody\r\n");
	T_CHECK("dkim: header section over 256 KiB left unsigned",
		sign(big, strlen(big), 65536, "acme", &out) == 0 && !out);
	free(out);
	/* just under the limit, its body in the same chunks: signed */
	off = (size_t)sprintf(big, "From: joe@example.com\r\n");
	while (off + 200 < QUEUE_DKIM_HDR_MAX)
		off += (size_t)sprintf(big + off, "X-Pad: %090d\r\n", 0);
	/* the last field ends the section 10 bytes under the limit */
	off += (size_t)sprintf(big + off, "X-Fill: %0*d\r\n\r\n",
			       (int)(QUEUE_DKIM_HDR_MAX - 10 - off - 12), 0);
	while (off < n)
		off += (size_t)sprintf(big + off, "body %090d\r\n", 0);
	T_CHECK("dkim: header section just under 256 KiB signed",
		sign(big, off, 1000, "acme", &out) == 0 && out &&
		!strcmp(verify(out, strlen(out)), "ok"));
	free(out);
	free(big);
	sign_err(gone, err, sizeof err);
	T_CHECK("dkim: a missing key is a failure", strstr(err, "missing.key"));
	/* a key that would not be used fails nothing: the mail of another
	 * customer, or with none (relay-send's DSNs), is relayed unsigned */
	T_CHECK("dkim: missing key of another customer's domain: unsigned",
		sign(gone, strlen(gone), 4096, "evil", &out) == 0 && !out);
	free(out);
	T_CHECK("dkim: missing key, no customer (a DSN): unsigned",
		sign(gone, strlen(gone), 4096, NULL, &out) == 0 && !out);
	free(out);
}

/* Bare CR and LF, and a last line without CRLF, are hashed as
 * relay-remote sends them: each a CRLF. */
static void test_wire(void)
{
	const char *raw = "From: joe@dual.example\nSubject: x\r\n\r\nline\rnext\nlast \t";
	const char *wire = "From: joe@dual.example\r\nSubject: x\r\n\r\nline\r\nnext\r\nlast \t\r\n";
	char *out, *sent;

	for (size_t step = 1; step <= 4096; step *= 4096) {
		sign(raw, strlen(raw), step, "acme", &out);
		sent = out ? malloc(strlen(out) + strlen(wire) + 1) : NULL;
		if (sent) {
			memcpy(sent, out, strlen(out) - strlen(raw));
			strcpy(sent + strlen(out) - strlen(raw), wire);
		}
		T_STREQ(step == 1 ? "dkim: hashed as sent (bytewise)" : "dkim: hashed as sent",
			sent ? verify(sent, strlen(sent)) : "", "ok ok");
		free(sent);
		free(out);
	}
}

static void test_scan(void)
{
	char v[64];
	T_CHECK("eoh: CRLF", queue_dkim_eoh("A: b\r\n\r\nx", 9, 0) == 8);
	T_CHECK("eoh: split over chunks", queue_dkim_eoh("A: b\r\n\r\n", 8, 7) == 8);
	T_CHECK("eoh: none yet", queue_dkim_eoh("A: b\r\n\r", 7, 0) == -1);
	T_CHECK("eoh: starts empty", queue_dkim_eoh("\r\nbody", 6, 0) == 2);
	T_CHECK("from: folded, counted", queue_dkim_from("X: y\r\nFrom : a\r\n b\r\nfrom: c\r\n", 29, v, sizeof v) == 2 &&
		!strcmp(v, " a b"));
	T_CHECK("from: From-ish names are not From", queue_dkim_from("From-X: a\r\nFromage: b\r\n", 23, v, sizeof v) == 0);
	T_CHECK("from: too long", queue_dkim_from("From: aaaaaaaaaa\r\n", 18, v, 5) == -1);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	key_make("rsa.key", 1, rec_rsa, sizeof rec_rsa);
	key_make("ed.key", 0, rec_ed, sizeof rec_ed);
	rules_make();
	test_scan();
	test_cases();
	test_tags();
	test_tampered();
	test_rewrite();
	test_limits();
	test_key_errors();
	test_wire();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
