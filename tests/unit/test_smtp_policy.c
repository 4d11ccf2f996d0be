// links: smtpd/smtp_policy.c smtpd/smtp_frame.c
/* test_smtp_policy.c: parsing relay-policy's verdicts; garbage must never
 * turn into an acceptance. */
#include "t.h"
#include "../../smtpd/smtp_policy.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *payload;
	int rc;
	enum smtp_action action;
	int code;
	const char *esc, *text;
} cases[] = {
	{ "action=accept\n", 0, SMTP_ACCEPT, 0, "", "" },
	{ "action=accept\ncode=250\nesc=2.1.0\ntext=Ok\n", 0, SMTP_ACCEPT, 250,
	  "2.1.0", "Ok" },
	{ "action=reject\ncode=550\nesc=5.7.0\ntext=Mail relay denied [192.0.2.1].\n",
	  0, SMTP_REJECT, 550, "5.7.0", "Mail relay denied [192.0.2.1]." },
	{ "action=tempfail\ncode=450\nesc=4.2.1\ntext=Peak\n", 0, SMTP_TEMPFAIL,
	  450, "4.2.1", "Peak" },
	{ "action=reject\ncode=450\nesc=4.2.1\ntext=Peak\n", 0, SMTP_REJECT,
	  450, "4.2.1", "Peak" },
	{ "action=accept\ncode=550\n", -1, 0, 0, NULL, NULL },   /* contradiction */
	{ "action=reject\ncode=250\n", -1, 0, 0, NULL, NULL },
	{ "action=maybe\n", -1, 0, 0, NULL, NULL },
	{ "code=250\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=25\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=2500\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=abc\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=699\n", -1, 0, 0, NULL, NULL },
	{ "action=accept", -1, 0, 0, NULL, NULL },
	{ "garbage\n", -1, 0, 0, NULL, NULL },
	{ "action=reject\ncode=550\ntext=a\rb\x01\n", 0, SMTP_REJECT, 550, "",
	  "a?b?" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256], name[64];
		struct smtp_verdict v;
		int rc;
		snprintf(buf, sizeof buf, "%s", cases[i].payload);
		rc = smtp_policy_parse(buf, strlen(buf), &v);
		snprintf(name, sizeof name, "verdict case %zu", i);
		T_CHECK(name, rc == cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			T_CHECK(name, v.action == cases[i].action &&
					      v.code == cases[i].code);
			T_STREQ(name, v.esc, cases[i].esc);
			T_STREQ(name, v.text, cases[i].text);
		}
	}
	{
		char buf[] = "action=accept\nfrom=postmaster@example.com\n"
			     "customer=acme\nuser=u@example.com\n";
		struct smtp_verdict v;
		T_CHECK("rewrite parsed",
			smtp_policy_parse(buf, strlen(buf), &v) == 0 && v.has_from);
		T_STREQ("rewrite from", v.from, "postmaster@example.com");
		T_STREQ("customer", v.customer, "acme");
		T_STREQ("user", v.user, "u@example.com");
		smtp_policy_defaults(&v, 250, "2.1.0", "Ok");
		T_CHECK("defaults filled", v.code == 250 && !strcmp(v.esc, "2.1.0"));
	}
	return t_done();
}
