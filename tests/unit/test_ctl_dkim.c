// links: ctl/ctl_dkim_key.c ctl/ctl_dkim_check.c ctl/ctl_dkim_list.c conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_dkim.c
/* test_ctl_dkim: relayctl dkim's records.  A fixed Ed25519 key gives the
 * record the openssl command gives (golden); a long record is cut into
 * 255-byte strings; published records are compared with a key as a
 * verifier reads them (RFC 6376 3.6.1: tags in any order, folding white
 * space, k= defaulting to rsa, v= first when present, empty p= revoked). */
#include "t.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../ctl/ctl_dkim.h"

static const char ed_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIHDM5aSEaESoHLcGf8xeETrgSM3//A3JpGGvJnCjH4fz\n"
	"-----END PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | tail -c 32 | base64 */
static const char ed_p[] = "C8SNxsW4b0olm8Yww+kKyS+di7RXPmGO8NOCHh5Wkoc=";

static void test_golden(void)
{
	char rec[CTL_DKIM_REC_MAX], want[200];
	int fds[2];
	EVP_PKEY *k;

	if (pipe(fds) < 0)
		return;
	if (write(fds[1], ed_pem, sizeof ed_pem - 1) < 0)
		return;
	close(fds[1]);
	k = ctl_dkim_key_read(fds[0]);
	close(fds[0]);
	T_CHECK("ed25519 PEM read", k != NULL);
	if (!k)
		return;
	T_STREQ("alg", ctl_dkim_key_alg(k), "ed25519");
	T_CHECK("record made", ctl_dkim_key_record(k, rec, sizeof rec) == 0);
	snprintf(want, sizeof want, "v=DKIM1; k=ed25519; p=%s", ed_p);
	T_STREQ("ed25519 record = openssl's raw key", rec, want);
	T_CHECK("record too big for its buffer: -1",
		ctl_dkim_key_record(k, rec, 20) == -1);
	EVP_PKEY_free(k);
}

static void test_zone_line(void)
{
	char rec[600], *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	memset(rec, 'a', sizeof rec - 1);
	rec[sizeof rec - 1] = '\0';
	ctl_dkim_key_zone_line("example.com", "s1", rec, f);
	fclose(f);
	T_CHECK("zone line: name, IN TXT",
		!strncmp(out, "s1._domainkey.example.com. IN TXT \"", 35));
	T_CHECK("zone line: 255 + 255 + 89 bytes in three strings",
		len == 35 + 255 + 3 + 255 + 3 + 89 + 2 &&
		out[35 + 255] == '"' && out[35 + 255 + 2] == '"' &&
		out[len - 2] == '"' && out[len - 1] == '\n');
	free(out);
}

static const struct {
	const char *name, *rec, *alg, *want; /* want: NULL = matches */
} cases[] = {
	{ "plain", "v=DKIM1; k=rsa; p=QUJD", "rsa", NULL },
	{ "no k=: rsa", "v=DKIM1; p=QUJD", "rsa", NULL },
	{ "no v=", "k=rsa; p=QUJD", "rsa", NULL },
	{ "tags in another order", "p=QUJD; v=DKIM1", "rsa", "v=" },
	{ "folding white space", "v=DKIM1;\t k = rsa ;  p = QU\r\n JD ;",
	  "rsa", NULL },
	{ "ed25519", "v=DKIM1; k=ed25519; p=QUJD", "ed25519", NULL },
	{ "k= of another algorithm", "v=DKIM1; k=ed25519; p=QUJD", "rsa", "k=" },
	{ "no k= for an ed25519 key", "v=DKIM1; p=QUJD", "ed25519", "k=" },
	{ "other p=", "v=DKIM1; k=rsa; p=QUJE", "rsa", "p=" },
	{ "revoked", "v=DKIM1; k=rsa; p=", "rsa", "revoked" },
	{ "no p=", "v=DKIM1; k=rsa", "rsa", "no p=" },
	{ "v=DKIM2", "v=DKIM2; k=rsa; p=QUJD", "rsa", "DKIM1" },
	{ "not DKIM at all", "v=spf1 -all", "rsa", "DKIM1" },
	{ "a tag ending in p", "v=DKIM1; xp=QUJD; p=QUJD", "rsa", NULL },
};

int main(void)
{
	char name[128];

	test_golden();
	test_zone_line();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = ctl_dkim_check_record(cases[i].rec, cases[i].alg,
							"QUJD");
		snprintf(name, sizeof name, "check: %s", cases[i].name);
		T_CHECK(name, cases[i].want ? why && strstr(why, cases[i].want)
					    : why == NULL);
	}
	return t_done();
}
