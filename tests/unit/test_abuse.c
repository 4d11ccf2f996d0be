// links:
/* test_abuse.c: abuse monitoring's account names (lib/abuse.h): one word
 * per account whatever the HELO holds; "user:" after AUTH only; without
 * it the device, and "sender:" beside it for a registered sender; a device by address and HELO only when the HELO
 * named the customer, by the address alone otherwise; lowercased, a
 * trailing dot dropped, an IPv6 client by its /64; a HELO that does not
 * fit gives the address alone, never a failure; split back into the
 * kind and name relay-policy looks up. */
#include <string.h>

#include "abuse.h"
#include "susp.h"
#include "t.h"

static void test_accounts(void)
{
	static const struct {
		const char *auth, *reg, *ip, *helo;
		int named;
		const char *want, *want2;
	} c[] = {
		{ "alice@example.com", "", "192.0.2.7", "x", 0,
		  "user:alice@example.com", NULL },
		{ "Alice@Example.COM", "bob@example.com", "192.0.2.7", "x", 1,
		  "user:alice@example.com", NULL },
		{ "", "bob@example.com", "192.0.2.7", "x", 0,
		  "device:192.0.2.7", "sender:bob@example.com" },
		{ NULL, "b b@example.com", "192.0.2.7", "x.example", 1,
		  "device:192.0.2.7/x.example", "sender:b%20b@example.com" },
		{ "", "", "192.0.2.7", "printer.example.com", 1,
		  "device:192.0.2.7/printer.example.com", NULL },
		{ "", "", "192.0.2.7", "PRINTER.Example.com.", 1,
		  "device:192.0.2.7/printer.example.com", NULL },
		{ "", "", "192.0.2.7", "printer.example.com", 0,
		  "device:192.0.2.7", NULL },
		{ "", "", "192.0.2.7", "anything.invalid", 0,
		  "device:192.0.2.7", NULL },
		{ NULL, NULL, "2001:db8:1:2:aaaa::5", "h.example", 1,
		  "device:2001%3Adb8%3A1%3A2%3A%3A%2F64/h.example", NULL },
		{ NULL, NULL, "2001:db8:1:2:bbbb:cccc:dddd:eeee", "x", 0,
		  "device:2001%3Adb8%3A1%3A2%3A%3A%2F64", NULL },
		{ "", NULL, "192.0.2.7", "a b=c/d%", 1,
		  "device:192.0.2.7/a%20b%3Dc%2Fd%25", NULL },
		{ "", "", "192.0.2.7", "", 1, "device:192.0.2.7", NULL },
		{ "", "", "192.0.2.7", ".", 1, "device:192.0.2.7", NULL },
	};
	char out[ABUSE_KEY_MAX], kind[16], helo[256];
	char two[ABUSE_ACCOUNTS_MAX][ABUSE_KEY_MAX];
	const char *name;

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int n = abuse_accounts(two, c[i].auth, c[i].reg, c[i].ip,
				       c[i].helo, c[i].named);
		T_CHECK("accounts made", n == (c[i].want2 ? 2 : 1));
		T_STREQ("account text", two[0], c[i].want);
		T_CHECK("one word", !strchr(two[0], ' ') && !strchr(two[0], '='));
		if (c[i].want2 && n == 2)
			T_STREQ("second account", two[1], c[i].want2);
	}
	/* 255 bytes that each take three when encoded: the address alone */
	memset(helo, '#', 255);
	helo[255] = '\0';
	T_CHECK("long HELO: made", abuse_device(out, sizeof out, "192.0.2.7",
						helo, 1) == 0);
	T_CHECK("long HELO: kept when named", strlen(out) == 17 + 3 * 255);
	T_CHECK("long HELO, small buffer: made", abuse_device(out, 100,
		"192.0.2.7", helo, 1) == 0);
	T_STREQ("long HELO, small buffer: the address alone", out,
		"device:192.0.2.7");
	T_CHECK("long HELO, not named: made", abuse_device(out, sizeof out,
		"192.0.2.7", helo, 0) == 0);
	T_STREQ("long HELO, not named: the address", out, "device:192.0.2.7");
	T_CHECK("the longest user fits", abuse_accounts(two,
		"\"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\""
		"@a.example", "", "", "", 0) == 1);
	T_CHECK("typed: as before", abuse_device_typed(out, sizeof out,
		"192.0.2.7", "Dev1.Example.com") == 0 &&
		!strcmp(out, "device:192.0.2.7/Dev1.Example.com"));
	abuse_device(out, sizeof out, "192.0.2.7", "printer.example.com", 1);
	T_CHECK("split device", abuse_split(out, kind, sizeof kind, &name) == 0 &&
		!strcmp(kind, "device") &&
		!strcmp(name, "192.0.2.7/printer.example.com"));
	T_CHECK("split user", abuse_split("user:a@b.example", kind, sizeof kind,
					  &name) == 0 && !strcmp(kind, "user") &&
		!strcmp(name, "a@b.example"));
	T_CHECK("split sender", abuse_split("sender:a@b.example", kind,
					    sizeof kind, &name) == 0 &&
		!strcmp(kind, "sender") && !strcmp(name, "a@b.example"));
	T_CHECK("split: unknown kind", abuse_split("customer:x", kind,
						   sizeof kind, &name) < 0);
	T_CHECK("split: no name", abuse_split("user:", kind, sizeof kind,
					      &name) < 0);
	T_CHECK("split: no colon", abuse_split("user", kind, sizeof kind,
					       &name) < 0);
	T_CHECK("too small a buffer: refused", abuse_device(out, 10,
		"192.0.2.7", "printer.example.com", 1) < 0);
}

/* abuse/suspended: the line relay-queue writes is the one relay-policy
 * finds from the name as the client gives it. */
static void test_suspended_lines(void)
{
	char line[ABUSE_KEY_MAX + 16], acct[ABUSE_KEY_MAX];
	char text[] = "user o%27brien@example.com\n"
		      "device 192.0.2.7/a%20b.example\n";
	struct susp s = { .data = text };

	T_CHECK("user line", abuse_susp_line(line, sizeof line,
					     "user:o%27brien@example.com") == 0);
	T_STREQ("user line text", line, "user o%27brien@example.com\n");
	T_CHECK("line: not an account", abuse_susp_line(line, sizeof line,
							"o'brien") < 0);
	T_CHECK("line: too long", abuse_susp_line(line, 10,
						  "user:a@example.com") < 0);
	T_CHECK("user found by the address as given",
		abuse_susp_has(&s, "user", "o'brien@example.com"));
	T_CHECK("user found whatever the case",
		abuse_susp_has(&s, "user", "O'Brien@Example.com"));
	T_CHECK("another user not", !abuse_susp_has(&s, "user",
						    "obrien@example.com"));
	T_CHECK("the encoded form is not an address",
		!abuse_susp_has(&s, "user", "o%27brien@example.com"));
	abuse_device(acct, sizeof acct, "192.0.2.7", "a b.example", 1);
	T_CHECK("device found by its account name",
		abuse_susp_has(&s, "device", acct + strlen("device:")));
	s.data = NULL;
	T_CHECK("no file: nothing", !abuse_susp_has(&s, "user",
						    "o'brien@example.com"));
}

/* A refusal for spam or policy by its enhanced code only. */
static void test_policy_reply(void)
{
	char d[ABUSE_DOMAIN_MAX];

	T_CHECK("554 5.7.1", abuse_policy_reply(554, "5.7.1 rejected"));
	T_CHECK("550 5.7.26 alone", abuse_policy_reply(550, "5.7.26"));
	T_CHECK("5.7.1 later in the text: no",
		!abuse_policy_reply(550, "5.1.1 no such user, see "
				    "https://help.example/5.7.1-faq"));
	T_CHECK("4xx: no", !abuse_policy_reply(450, "5.7.1 x"));
	T_CHECK("5.7.x not a number: no", !abuse_policy_reply(554, "5.7.x y"));
	T_CHECK("5.7.1234: no", !abuse_policy_reply(554, "5.7.1234 y"));
	T_CHECK("5.7.1, glued: no", !abuse_policy_reply(554, "5.7.1,x"));
	T_CHECK("NULL: no", !abuse_policy_reply(554, NULL));
	T_CHECK("domain", abuse_rcpt_domain(d, sizeof d, "A@Mail.Example") == 0
		&& !strcmp(d, "mail.example"));
	T_CHECK("domain after the last @", abuse_rcpt_domain(
			d, sizeof d, "\"a@b\"@c.example") == 0 &&
		!strcmp(d, "c.example"));
	T_CHECK("no domain", abuse_rcpt_domain(d, sizeof d, "postmaster") < 0);
	T_CHECK("odd byte: %xx", abuse_rcpt_domain(d, sizeof d,
						   "a@b,c.example") == 0 &&
		!strcmp(d, "b%2cc.example"));
	T_CHECK("U-label: its A-label", abuse_rcpt_domain(
			d, sizeof d, "a@B\xc3\x9c" "cher.example") == 0 &&
		!strcmp(d, "xn--bcher-kva.example"));
	T_CHECK("A-label in capitals: the same", abuse_rcpt_domain(
			d, sizeof d, "a@XN--BCHER-KVA.Example") == 0 &&
		!strcmp(d, "xn--bcher-kva.example"));
	T_CHECK("no A-label: the bytes as %xx", abuse_rcpt_domain(
			d, sizeof d, "a@A\xe2\x92\x88" "b.example") == 0 &&
		!strcmp(d, "a%e2%92%88b.example"));
	T_CHECK("address literal: as written", abuse_rcpt_domain(
			d, sizeof d, "a@[IPv6:2001:DB8::1]") == 0 &&
		!strcmp(d, "%5bipv6%3a2001%3adb8%3a%3a1%5d"));
	T_CHECK("underscore kept", abuse_rcpt_domain(d, sizeof d,
						     "a@x_y.example") == 0 &&
		!strcmp(d, "x_y.example"));
	T_CHECK("cut, never inside a %xx", abuse_rcpt_domain(
			d, 5, "a@ab\xe2\x92\x88.example") == 0 && !strcmp(d, "ab"));
	T_CHECK("cut to fit", abuse_rcpt_domain(d, 4, "a@abcdef.example") == 0
		&& !strcmp(d, "abc"));
}

int main(void)
{
	test_accounts();
	test_policy_reply();
	test_suspended_lines();
	return t_done();
}
