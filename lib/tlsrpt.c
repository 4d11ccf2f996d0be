/* tlsrpt.c: TLS-RPT (RFC 8460) records and the JSON report (tlsrpt.h). */
#include "tlsrpt.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

static const char *const tlsrpt_results[] = {
	"success", "starttls-not-supported", "certificate-host-mismatch",
	"certificate-expired", "certificate-not-trusted", "validation-failure",
	"tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
};

int tlsrpt_result_ok(const char *s)
{
	for (size_t i = 0; i < sizeof tlsrpt_results / sizeof *tlsrpt_results; i++)
		if (strcmp(s, tlsrpt_results[i]) == 0)
			return 1;
	return 0;
}

const char *tlsrpt_verify_type(long err)
{
	switch (err) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate-expired";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

static int tlsrpt_name_ok(const char *s)
{
	if (!*s || strlen(s) >= TLSRPT_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".-_", *s))
			return 0;
	return 1;
}

static int tlsrpt_ip_ok(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int tlsrpt_ok(const struct tlsrpt_rec *r)
{
	return tlsrpt_name_ok(r->domain) && tlsrpt_name_ok(r->mx) &&
	       (strcmp(r->policy, "sts") == 0 || strcmp(r->policy, "tlsa") == 0)
	       && tlsrpt_result_ok(r->result) && tlsrpt_ip_ok(r->ip);
}

int tlsrpt_rec_format(const struct tlsrpt_rec *r, char *buf, size_t n)
{
	int k;

	if (!tlsrpt_ok(r))
		return -1;
	k = snprintf(buf, n, "%s %s %s %s %s", r->domain, r->policy, r->result,
		     r->mx, r->ip);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

int tlsrpt_rec_parse(const char *line, struct tlsrpt_rec *r)
{
	char extra[2];

	memset(r, 0, sizeof *r);
	if (strlen(line) >= TLSRPT_LINE_MAX ||
	    sscanf(line, "%255s %7s %31s %255s %63s %1s", r->domain, r->policy,
		   r->result, r->mx, r->ip, extra) != 5)
		return -1;
	return tlsrpt_ok(r) ? 0 : -1;
}

static void tlsrpt_iso(char *buf, size_t n, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One "policies" entry: the records of policy type pol (every name in
 * them is checked: no JSON escaping is needed). */
static void tlsrpt_policy(struct textbuf *o, const char *domain,
			  const struct tlsrpt_rec *r, size_t n, const char *pol,
			  int *first)
{
	long ok = 0, bad = 0;
	int fd = 1;

	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].policy, pol) == 0)
			*(strcmp(r[i].result, "success") == 0 ? &ok : &bad) +=
				r[i].count;
	if (ok + bad == 0)
		return;
	textbuf_add(o, "%s{\"policy\":{\"policy-type\":\"%s\",\"policy-domain\":"
		   "\"%s\"},\"summary\":{\"total-successful-session-count\":%ld,"
		   "\"total-failure-session-count\":%ld},\"failure-details\":[",
		   *first ? "" : ",", pol, domain, ok, bad);
	*first = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(r[i].policy, pol) || !strcmp(r[i].result, "success"))
			continue;
		textbuf_add(o, "%s{\"result-type\":\"%s\",\"receiving-mx-hostname\":"
			   "\"%s\",\"receiving-ip\":\"%s\",\"failed-session-count\":%ld}",
			   fd ? "" : ",", r[i].result, r[i].mx, r[i].ip, r[i].count);
		fd = 0;
	}
	textbuf_add(o, "]}");
}

char *tlsrpt_json(const char *domain, const struct tlsrpt_rec *r, size_t n,
		  const char *org, const char *id, time_t start, time_t end,
		  size_t *len)
{
	struct textbuf o = { NULL, 0, 4096, 0 };
	char s[32], e[32];
	int first = 1;

	/* every string in the report is a checked name: no escaping */
	if (!tlsrpt_name_ok(domain) || !tlsrpt_name_ok(org) ||
	    !tlsrpt_name_ok(id) || !(o.p = malloc(o.cap)))
		return NULL;
	tlsrpt_iso(s, sizeof s, start);
	tlsrpt_iso(e, sizeof e, end);
	textbuf_add(&o, "{\"organization-name\":\"%s\",\"date-range\":{"
		   "\"start-datetime\":\"%s\",\"end-datetime\":\"%s\"},"
		   "\"contact-info\":\"postmaster@%s\",\"report-id\":\"%s\","
		   "\"policies\":[", org, s, e, org, id);
	tlsrpt_policy(&o, domain, r, n, "sts", &first);
	tlsrpt_policy(&o, domain, r, n, "tlsa", &first);
	textbuf_add(&o, "]}\n");
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
