/* ctl_dkim_check.c: relayctl dkim check DOMAIN.  For each key of the
 * domain (relay.rules' dkim lines, then key files not yet in the rules)
 * it asks DNS, through the resolver relay-remote uses (lib/dns.c,
 * relay.conf's resolver), for SELECTOR._domainkey.DOMAIN TXT and
 * compares the record's k= and p= with the key.  One line per selector;
 * the exit status is 0 when every record matches its key, 100 when one
 * is absent, different, revoked or not alone, 111 when a lookup failed
 * for a temporary reason (and nothing was wrong otherwise). */
#include "ctl_dkim.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "exitcodes.h"
#include "settings.h"

#define CTL_DKIM_TXT_MAX 4    /* records read for one name */

/* The value of tag in a "tag=value; tag=value" record, folding white
 * space removed (RFC 6376 3.2); 1 found, 0 absent, -1 too long. */
static int ctl_dkim_tag(const char *rec, const char *tag, char *out,
			size_t n)
{
	size_t tlen = strlen(tag);

	for (const char *p = rec; *p;) {
		const char *end = strchr(p, ';');
		size_t len;
		if (!end)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		len = (size_t)(end - p);
		if (len > tlen && !strncmp(p, tag, tlen)) {
			const char *v = p + tlen;
			while (v < end && isspace((unsigned char)*v))
				v++;
			if (v < end && *v == '=') {
				size_t k = 0;
				for (v++; v < end; v++)
					if (!isspace((unsigned char)*v)) {
						if (k + 1 >= n)
							return -1;
						out[k++] = *v;
					}
				out[k] = '\0';
				return 1;
			}
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

const char *ctl_dkim_check_record(const char *rec, const char *alg,
				  const char *p)
{
	char v[16], k[16], pub[CTL_DKIM_P_MAX];
	int hp;

	if (ctl_dkim_tag(rec, "v", v, sizeof v) != 0 &&
	    (strcmp(v, "DKIM1") != 0 || strncmp(rec, "v=", 2) != 0))
		return "not a DKIM1 record (v= must come first and be DKIM1)";
	if (ctl_dkim_tag(rec, "k", k, sizeof k) == 0)
		strcpy(k, "rsa");   /* RFC 6376 3.6.1: the default */
	hp = ctl_dkim_tag(rec, "p", pub, sizeof pub);
	if (hp == 0)
		return "no p= tag";
	if (hp < 0)
		return "p= differs from the key";
	if (!*pub)
		return "revoked (empty p=)";
	if (strcasecmp(k, alg) != 0)
		return "k= names another algorithm than the key's";
	if (strcmp(pub, p) != 0)
		return "p= differs from the key";
	return NULL;
}

/* Check one selector; prints its line, returns an exit status. */
static int ctl_dkim_check_one(const struct ctl_dkim_entry *e)
{
	static char txt[CTL_DKIM_TXT_MAX][DNS_TXT_MAX];
	char name[NS_MAXDNAME], why[128], p[CTL_DKIM_P_MAX], desc[32];
	const char *bad = NULL;
	struct stat st;
	EVP_PKEY *pkey = ctl_dkim_key_load(e->path, &st, why, sizeof why);
	enum dns_status s;
	size_t n = 0;

	snprintf(name, sizeof name, "%s._domainkey.%s", e->selector, e->domain);
	if (!pkey || ctl_dkim_key_p(pkey, p, sizeof p) < 0) {
		printf("%s: cannot read the key %s: %s\n", name, e->path,
		       pkey ? "no public key" : why);
		EVP_PKEY_free(pkey);
		return EXIT_PERM;
	}
	ctl_dkim_key_describe(pkey, desc, sizeof desc);
	s = dns_txt(name, txt, CTL_DKIM_TXT_MAX, &n);
	if (s == DNS_TEMP) {
		printf("%s: lookup failed (temporary: SERVFAIL, timeout or "
		       "refused; resolver %s)\n", name,
		       *cf.resolver ? cf.resolver : "of /etc/resolv.conf");
	} else if (s != DNS_OK) {
		printf("%s: no TXT record published (%s)\n", name,
		       s == DNS_NXDOMAIN ? "NXDOMAIN" : s == DNS_BADDATA
		       ? "TXT records too long or malformed"
		       : "no TXT at that name");
	} else if (n > 1) {
		printf("%s: %zu TXT records: a verifier may take any, publish "
		       "one\n", name, n);
	} else if ((bad = ctl_dkim_check_record(txt[0],
						ctl_dkim_key_alg(pkey), p))) {
		printf("%s: published record does not match the key (%s): %s\n",
		       name, desc, bad);
	} else {
		printf("%s: published, matches the key (%s)%s\n", name, desc,
		       e->in_rules ? "" : "; not yet in relay.rules");
	}
	EVP_PKEY_free(pkey);
	if (s == DNS_TEMP)
		return EXIT_TEMP;
	return s == DNS_OK && n == 1 && !bad ? EXIT_DONE : EXIT_PERM;
}

int ctl_dkim_check(int argc, char **argv)
{
	struct ctl_dkim_entry *e;
	size_t n;
	int rc = EXIT_DONE;

	if (argc != 1 || argv[0][0] == '-') {
		fprintf(stderr, "usage: relayctl dkim check DOMAIN\n");
		return EXIT_PERM;
	}
	if (ctl_dkim_list(argv[0], &e, &n) < 0)
		return EXIT_TEMP;
	if (n == 0) {
		fprintf(stderr, "relayctl: dkim check: no key for %s (relayctl "
				"dkim keygen %s SELECTOR)\n", argv[0], argv[0]);
		free(e);
		return EXIT_PERM;
	}
	for (size_t i = 0; i < n; i++) {
		int r = ctl_dkim_check_one(&e[i]);
		if (r == EXIT_PERM || (r == EXIT_TEMP && rc == EXIT_DONE))
			rc = r;
	}
	free(e);
	return rc;
}
