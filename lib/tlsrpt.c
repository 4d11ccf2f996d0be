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

/* "<mode>,<max_age>,<pattern>,..." with "*." only in front. */
static int tlsrpt_detail_ok(const char *s)
{
	char buf[TLSRPT_DETAIL_MAX], *save = NULL, *f;
	int i = 0;

	if (strlen(s) >= sizeof buf)
		return 0;
	strcpy(buf, s);
	for (f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save), i++) {
		if (i == 0 && strcmp(f, "enforce") && strcmp(f, "testing") &&
		    strcmp(f, "none"))
			return 0;
		if (i == 1 && (strspn(f, "0123456789") != strlen(f) || strlen(f) > 10))
			return 0;
		if (i >= 2 && !tlsrpt_name_ok(strncmp(f, "*.", 2) == 0 ? f + 2 : f))
			return 0;
	}
	return i >= 2 && !strstr(s, ",,") && s[strlen(s) - 1] != ',';
}

static int tlsrpt_ok(const struct tlsrpt_rec *r)
{
	if (strcmp(r->policy, "sts") == 0 ? !tlsrpt_detail_ok(r->detail)
					  : r->detail[0] != '\0')
		return 0;
	return tlsrpt_name_ok(r->domain) && tlsrpt_name_ok(r->mx) &&
	       (strcmp(r->policy, "sts") == 0 || strcmp(r->policy, "tlsa") == 0)
	       && tlsrpt_result_ok(r->result) && tlsrpt_ip_ok(r->ip);
}

int tlsrpt_rec_format(const struct tlsrpt_rec *r, char *buf, size_t n)
{
	int k;

	if (!tlsrpt_ok(r))
		return -1;
	k = snprintf(buf, n, "%s %s %s %s %s%s%s", r->domain, r->policy,
		     r->result, r->mx, r->ip, r->detail[0] ? " " : "", r->detail);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

int tlsrpt_rec_parse(const char *line, struct tlsrpt_rec *r)
{
	char extra[2];
	int k;

	memset(r, 0, sizeof *r);
	if (strlen(line) >= TLSRPT_LINE_MAX)
		return -1;
	k = sscanf(line, "%255s %7s %31s %255s %63s %599s %1s", r->domain,
		   r->policy, r->result, r->mx, r->ip, r->detail, extra);
	if (k != 5 && k != 6)
		return -1;
	return tlsrpt_ok(r) ? 0 : -1;
}

static void tlsrpt_iso(char *buf, size_t n, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#define STS_FIELDS_MAX 20 /* mode, max_age, mx patterns */

/* The same policy: type and detail. */
static int tlsrpt_same(const struct tlsrpt_rec *a, const struct tlsrpt_rec *b)
{
	return !strcmp(a->policy, b->policy) && !strcmp(a->detail, b->detail);
}

/* An sts policy's "policy-string" and "mx-host" from its detail
 * "<mode>,<max_age>,<mx>,..." (checked: no escaping needed). */
static void tlsrpt_sts_fields(struct textbuf *o, const char *detail)
{
	char buf[TLSRPT_DETAIL_MAX], *save = NULL, *f[STS_FIELDS_MAX];
	size_t n = 0;

	snprintf(buf, sizeof buf, "%s", detail);
	for (char *t = strtok_r(buf, ",", &save); t && n < STS_FIELDS_MAX;
	     t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n < 2)
		return;
	textbuf_add(o, ",\"policy-string\":[\"version: STSv1\",\"mode: %s\"",
		    f[0]);
	for (size_t i = 2; i < n; i++)
		textbuf_add(o, ",\"mx: %s\"", f[i]);
	textbuf_add(o, ",\"max_age: %s\"],\"mx-host\":[", f[1]);
	for (size_t i = 2; i < n; i++)
		textbuf_add(o, "%s\"%s\"", i > 2 ? "," : "", f[i]);
	textbuf_add(o, "]");
}

/* One "policies" entry: the records of the policy of r[at] (every name
 * in them is checked: no JSON escaping is needed). */
static void tlsrpt_policy(struct textbuf *o, const char *domain,
			  const struct tlsrpt_rec *r, size_t n, size_t at,
			  int *first)
{
	long ok = 0, bad = 0;
	int fd = 1;

	for (size_t i = 0; i < n; i++)
		if (tlsrpt_same(&r[i], &r[at]))
			*(strcmp(r[i].result, "success") == 0 ? &ok : &bad) +=
				r[i].count;
	textbuf_add(o, "%s{\"policy\":{\"policy-type\":\"%s\"", *first ? "" : ",",
		    r[at].policy);
	if (r[at].detail[0])
		tlsrpt_sts_fields(o, r[at].detail);
	textbuf_add(o, ",\"policy-domain\":\"%s\"},\"summary\":{"
		    "\"total-successful-session-count\":%ld,"
		    "\"total-failure-session-count\":%ld},\"failure-details\":[",
		    domain, ok, bad);
	*first = 0;
	for (size_t i = 0; i < n; i++) {
		if (!tlsrpt_same(&r[i], &r[at]) || !strcmp(r[i].result, "success"))
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
	/* one entry per policy, at its first record */
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < i && !tlsrpt_same(&r[j], &r[i]))
			j++;
		if (j == i)
			tlsrpt_policy(&o, domain, r, n, i, &first);
	}
	textbuf_add(&o, "]}\n");
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
