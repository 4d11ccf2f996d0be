/* legacy.c: which clients are legacy devices (legacy.h). */
#include "legacy.h"
#include "log.h"
#include "settings.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

int legacy_parse(const char *list, struct cidr *out, size_t max, char *err,
		 size_t errsz)
{
	const char *p = list ? list : "";
	size_t n = 0;

	while (*p) {
		char word[128];
		size_t len = strcspn(p, " \t,");
		if (len == 0) {
			p++;
			continue;
		}
		snprintf(word, sizeof word, "%.*s", (int)len, p);
		if (n == max) {
			snprintf(err, errsz, "more than %zu ranges", max);
			return -1;
		}
		if (len >= sizeof word || cidr_parse(word, &out[n]) < 0) {
			snprintf(err, errsz, "bad address or range \"%s\"", word);
			return -1;
		}
		if (cidr_spans_v4mapped(&out[n])) {
			snprintf(err, errsz, "range \"%s\" holds every IPv4 "
				 "address (as ::ffff:0:0/96); write IPv4 ranges "
				 "as IPv4", word);
			return -1;
		}
		n++;
		p += len;
	}
	return (int)n;
}

int legacy_client(const char *ip)
{
	static struct cidr nets[LEGACY_CIDRS_MAX];
	static int n = -2; /* -2: not parsed yet; -1: bad list */
	struct ipaddr a;
	char err[200];

	if (n == -2 &&
	    (n = legacy_parse(cf.legacy_clients, nets, LEGACY_CIDRS_MAX, err,
			      sizeof err)) < 0)
		log_warn("legacy_clients: %s: no client is a legacy device", err);
	if (n <= 0 || !ip || ipaddr_parse(ip, &a) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (cidr_match(&nets[i], &a))
			return 1;
	return 0;
}

int legacy_tls_version(const char *name)
{
	static const struct {
		const char *name;
		int version;
	} v[] = {
		{ "TLSv1", TLS1_VERSION }, { "TLSv1.1", TLS1_1_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (name && strcmp(name, v[i].name) == 0)
			return v[i].version;
	return 0;
}
