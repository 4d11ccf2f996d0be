// links:
/* test_tlsrpt.c: TLS-RPT records (lib/tlsrpt.c): the line form both
 * ways, strict refusals, the verify error mapping, and the JSON report
 * (counts summed, one failure-details entry per distinct failure). */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "t.h"
#include "tlsrpt.h"

static const struct {
	const char *line;
	int ok;
} lines[] = {
	{ "example.com sts success mx1.example.com 192.0.2.1 enforce,86400,mx1.example.com", 1 },
	{ "example.com tlsa validation-failure mx.example.com 2001:db8::1", 1 },
	{ "example.com sts certificate-expired mx.example.com 192.0.2.1 "
	  "testing,1,*.example.com,mx.example.org", 1 },
	{ "example.com sts success mx1.example.com 192.0.2.1", 0 },
	{ "example.com tlsa success mx1.example.com 192.0.2.1 enforce,1,a.b", 0 },
	{ "example.com sts success mx1.example.com 192.0.2.1 strict,1,a.b", 0 },
	{ "example.com sts success mx1.example.com 192.0.2.1 enforce,x,a.b", 0 },
	{ "example.com sts success mx1.example.com 192.0.2.1 enforce,1,a.*.b", 0 },
	{ "example.com sts success mx1.example.com 192.0.2.1 enforce,1,a\"b", 0 },
	{ "example.com sts success mx1.example.com 192.0.2.1 enforce,1,,a.b", 0 },
	{ "example.com dane success mx.example.com 192.0.2.1", 0 },
	{ "example.com sts bogus-type mx.example.com 192.0.2.1", 0 },
	{ "example.com sts success mx.example.com 192.0.2.300", 0 },
	{ "example.com sts success mx.example.com", 0 },
	{ "example.com sts success mx.example.com 192.0.2.1 extra", 0 },
	{ "exa\"mple.com sts success mx.example.com 192.0.2.1", 0 },
	{ "example.com sts success mx,example.com 192.0.2.1", 0 },
	{ "", 0 },
};

static void test_lines(void)
{
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		struct tlsrpt_rec r;
		char buf[TLSRPT_LINE_MAX], name[96];
		int rc = tlsrpt_rec_parse(lines[i].line, &r);
		snprintf(name, sizeof name, "line %zu", i);
		if (!lines[i].ok) {
			T_CHECK(name, rc < 0);
			continue;
		}
		T_CHECK(name, rc == 0 && tlsrpt_rec_format(&r, buf, sizeof buf) == 0 &&
			strcmp(buf, lines[i].line) == 0);
	}
}

static void test_verify(void)
{
	T_STREQ("host mismatch", tlsrpt_verify_type(X509_V_ERR_HOSTNAME_MISMATCH),
		"certificate-host-mismatch");
	T_STREQ("expired", tlsrpt_verify_type(X509_V_ERR_CERT_HAS_EXPIRED),
		"certificate-expired");
	T_STREQ("self-signed", tlsrpt_verify_type(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
		"certificate-not-trusted");
	T_STREQ("other", tlsrpt_verify_type(X509_V_ERR_CERT_REVOKED),
		"validation-failure");
}

static void test_json(void)
{
	struct tlsrpt_rec r[3];
	size_t len = 0;
	char *j;

	tlsrpt_rec_parse("a.test sts success mx.a.test 192.0.2.1 enforce,600,mx.a.test,*.b.test", &r[0]);
	r[0].count = 7;
	tlsrpt_rec_parse("a.test sts certificate-expired mx.a.test 192.0.2.2 enforce,600,mx.a.test,*.b.test", &r[1]);
	r[1].count = 2;
	tlsrpt_rec_parse("a.test tlsa validation-failure mx.a.test 192.0.2.3", &r[2]);
	r[2].count = 1;
	j = tlsrpt_json("a.test", r, 3, "relay.test", "42.1", 86400, 172800, &len);
	T_CHECK("json made", j && len == strlen(j));
	T_CHECK("json sts summary", j && strstr(j, "\"policy-domain\":"
		"\"a.test\"},\"summary\":{\"total-successful-session-count\":7,"
		"\"total-failure-session-count\":2}"));
	T_CHECK("json failure details", j && strstr(j, "{\"result-type\":\"certificate-expired\","
		"\"receiving-mx-hostname\":\"mx.a.test\",\"receiving-ip\":\"192.0.2.2\","
		"\"failed-session-count\":2}"));
	T_CHECK("json tlsa policy", j && strstr(j, "{\"policy-type\":\"tlsa\","
		"\"policy-domain\":\"a.test\"}"));
	T_CHECK("json sts policy-string, mx-host", j && strstr(j,
		"\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: mx.a.test\","
		"\"mx: *.b.test\",\"max_age: 600\"],\"mx-host\":[\"mx.a.test\",\"*.b.test\"]"));
	T_CHECK("json date range", j && strstr(j, "\"start-datetime\":\"1970-01-02T00:00:00Z\","
		"\"end-datetime\":\"1970-01-03T00:00:00Z\""));
	free(j);
	T_CHECK("json refuses a name that needs escaping",
		tlsrpt_json("a.test", r, 3, "re\"lay", "1", 0, 1, &len) == NULL);
}

int main(void)
{
	test_lines();
	test_verify();
	test_json();
	return t_done();
}
