// links: conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_write.c conf/mkfile.c conf/makecdb_dkim.c
/* test_makecdb_dkim.c: the dkim statement: each refusal of a key file
 * (missing, wrong kind, too small, readable by others, wrong owner), the
 * statement's own errors with line and column, and the dkim: keys
 * written (RSA first, subdomains under "dkim:.<domain>"). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../conf/makecdb.h"
#include "dkimkey.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"
#include "t.h"

#define BASE "customer acme\ndomain example.com customer=acme\n" \
	     "rule acme lan senders=domain auth=ip\nip acme lan 192.0.2.1\n"

static char dir[] = "/tmp/test_makecdb_dkim.XXXXXX";

/* A key file dir/name: RSA of bits (0: Ed25519), PKCS#8 or traditional. */
static void key_write(const char *name, int bits, int traditional, int mode)
{
	char path[256];
	EVP_PKEY *k = bits ? EVP_RSA_gen((unsigned)bits)
			   : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	b = BIO_new_file(path, "w");
	if (!k || !b)
		exit(1);
	if (traditional)
		PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL,
						     NULL);
	else
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	BIO_free(b);
	chmod(path, (mode_t)mode);
	EVP_PKEY_free(k);
}

struct dcase {
	const char *text;     /* after BASE (line 5 on); %s is the key dir */
	long owner_delta;     /* the signing uid is ours + this */
	int errors, warnings;
	const char *diag;
};

static const struct dcase cases[] = {
	{ "dkim example.com s1 key=%s/rsa.key", 0, 0, 0, "" },
	{ "dkim example.com s1 key=%s/rsa-trad.key", 0, 0, 0, "" },
	{ "dkim example.com s1 alg=ed25519 key=%s/ed.key", 0, 0, 0, "" },
	{ "dkim Example.COM S1 key=%s/rsa.key", 0, 0, 0, "" },
	{ "dkim example.com s1 alg=ed25519 key=%s/rsa.key", 0, 1, 0,
	  "t:5:37: error: key /tmp/test_makecdb_dkim" },
	{ "dkim example.com s1 alg=ed25519 key=%s/rsa.key", 0, 1, 0, "not an Ed25519 key (alg=ed25519)" },
	{ "dkim example.com s1 key=%s/ed.key", 0, 1, 0, "not an RSA key (alg=rsa)" },
	{ "dkim example.com s1 key=%s/small.key", 0, 1, 0, "RSA key of 512 bits (1024 to 4096 accepted)" },
	{ "dkim example.com s1 key=%s/open.key", 0, 1, 0, "mode 0640 gives group or others access" },
	{ "dkim example.com s1 key=%s/rsa.key", 1, 1, 0, "must be uid" },
	{ "dkim example.com s1 key=%s/missing.key", 0, 1, 0, "No such file or directory" },
	{ "dkim example.com s1 key=%s/junk.key", 0, 1, 0, "not an unencrypted PEM private key" },
	{ "dkim example.com s1 key=%s/missing.key enabled=no", 0, 0, 0, "" },
	{ "dkim other.test s1 key=%s/rsa.key", 0, 1, 0,
	  "t:5:6: error: other.test is not a domain of any customer" },
	{ "dkim example.com s_1 key=%s/rsa.key", 0, 1, 0, "t:5:18: error: bad selector \"s_1\"" },
	{ "dkim example.com .s1 key=%s/rsa.key", 0, 1, 0, "bad selector" },
	{ "dkim example.com", 0, 1, 0, "t:5:1: error: usage: dkim DOMAIN SELECTOR" },
	{ "dkim example.com s1 alg=dsa key=%s/rsa.key", 0, 1, 0, "t:5:25: error: bad value \"dsa\" for alg" },
	{ "dkim example.com s1 expire=-5 key=%s/rsa.key", 0, 1, 0, "bad value \"-5\" for expire" },
	{ "dkim example.com s1 key=%s/rsa.key\ndkim example.com s1 key=%s/rsa.key", 0, 1, 0,
	  "t:6:18: error: selector s1 of example.com already declared at line 5" },
	{ "dkim example.com a key=%s/rsa.key\ndkim example.com b key=%s/rsa.key\n"
	  "dkim example.com c key=%s/rsa.key\ndkim example.com d key=%s/rsa.key\n"
	  "dkim example.com e key=%s/rsa.key", 0, 1, 0, "t:9:6: error: example.com has 4 enabled dkim lines already" },
	{ "dkim example.com s1 expire=3600 key=%s/rsa.key", 0, 0, 1,
	  "t:5:28: warning: expire=3600 is shorter than queue_lifetime (432000)" },
	{ "dkim example.com s1", 0, 0, 0, "" }, /* the default path */
};

static char *run(const char *fmt, struct mk *m, long owner, int write)
{
	static char *out;
	char text[2048], buf[2600], rp[300], up[300];
	size_t len;
	FILE *f;

	free(out);
	f = open_memstream(&out, &len);
	snprintf(text, sizeof text, fmt, dir, dir, dir, dir, dir);
	snprintf(buf, sizeof buf, "%s%s\n", BASE, text);
	mk_init(m, "t");
	m->diag = f;
	m->dir = dir;
	m->dkim_owner = owner;
	mk_parse_text(m, "t", buf);
	if (!m->errors)
		mk_check(m);
	if (write && !m->errors) {
		snprintf(rp, sizeof rp, "%s/rules.cdb", dir);
		snprintf(up, sizeof up, "%s/users.cdb", dir);
		mk_write(m, rp, up);
	}
	fclose(f);
	return out;
}

static void test_cases(void)
{
	struct mk m;
	char name[300];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dcase *c = &cases[i];
		char *out = run(c->text, &m, (long)geteuid() + c->owner_delta, 0);
		snprintf(name, sizeof name, "makecdb dkim: %.70s", c->text);
		for (char *p = name; *p; p++)
			if (*p == '\n')
				*p = '|';
		T_CHECK(name, m.errors == c->errors && m.warnings == c->warnings &&
				strstr(out, c->diag) != NULL);
		if (m.errors != c->errors || m.warnings != c->warnings || !strstr(out, c->diag))
			printf("   got %d errors %d warnings:\n%s", m.errors, m.warnings, out);
		mk_free(&m);
	}
}

/* Ed25519 declared first, RSA written first; only subdomains=yes lines
 * under dkim:.example.com; a disabled line nowhere. */
static void test_written(void)
{
	struct mk m;
	struct rcdb r;
	char path[300], val[RK_VALMAX], want[2048];
	struct dkimkey_sig s;
	const char *pos, *v;
	size_t len;

	run("dkim example.com ed alg=ed25519 key=%s/ed.key subdomains=yes expire=864000\n"
	    "dkim example.com rs key=%s/rsa.key\n"
	    "dkim example.com old key=%s/missing.key enabled=no", &m, geteuid(), 1);
	T_CHECK("dkim written: no errors", m.errors == 0);
	mk_free(&m);
	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	T_CHECK("dkim written: open", rcdb_init(&r, path) == 0 && r.fd >= 0);
	snprintf(want, sizeof want, "customer=acme\ndomain=example.com\n"
		 "sig=rsa rs 0 %s/rsa.key\nsig=ed25519 ed 864000 %s/ed.key\n", dir, dir);
	T_CHECK("dkim written: exact key, RSA first",
		rcdb_gets(&r, "dkim:example.com", val, sizeof val) > 0 && !strcmp(val, want));
	snprintf(want, sizeof want, "customer=acme\ndomain=example.com\n"
		 "sig=ed25519 ed 864000 %s/ed.key\n", dir);
	T_CHECK("dkim written: subdomains key",
		rcdb_gets(&r, "dkim:.example.com", val, sizeof val) > 0 && !strcmp(val, want));
	pos = val;
	v = rk_next(&pos, "sig", &len);
	T_CHECK("dkim written: sig line parses",
		v && dkimkey_sig_parse(v, len, &s) == 0 && s.alg == DKIMKEY_ED25519 &&
		!strcmp(s.selector, "ed") && s.expire == 864000 && strstr(s.path, "/ed.key"));
	T_CHECK("dkim sig parse: refuses a bad alg", dkimkey_sig_parse("dsa s 0 /k", 10, &s) < 0);
	T_CHECK("dkim sig parse: refuses no path", dkimkey_sig_parse("rsa s 0 ", 8, &s) < 0);
	rcdb_close(&r);
}

int main(void)
{
	char path[300];
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	cf.queue_lifetime = 432000;
	key_write("rsa.key", 1024, 0, 0600);
	key_write("rsa-trad.key", 1024, 1, 0600);
	key_write("ed.key", 0, 0, 0600);
	key_write("small.key", 512, 0, 0600);
	key_write("open.key", 1024, 0, 0640);
	snprintf(path, sizeof path, "%s/junk.key", dir);
	if ((f = fopen(path, "w")))
		fputs("not a key\n", f), fclose(f);
	chmod(path, 0600);
	snprintf(path, sizeof path, "%s/dkim", dir);
	mkdir(path, 0700);
	key_write("dkim/example.com.s1.key", 1024, 0, 0600);
	test_cases();
	test_written();
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return t_done();
}
