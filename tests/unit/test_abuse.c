// links:
/* test_abuse.c: abuse monitoring's account names (lib/abuse.h): one word
 * per account whatever the HELO holds, "user:" after AUTH or for a
 * registered sender, "device:" otherwise, split back into the kind and name relay-policy looks up;
 * too long is refused, never cut. */
#include <string.h>

#include "abuse.h"
#include "t.h"

static void test_accounts(void)
{
	static const struct {
		const char *auth, *reg, *ip, *helo, *want;
	} c[] = {
		{ "alice@example.com", "", "192.0.2.7", "x",
		  "user:alice@example.com" },
		{ "alice@example.com", "bob@example.com", "192.0.2.7", "x",
		  "user:alice@example.com" },
		{ "", "bob@example.com", "192.0.2.7", "x", "user:bob@example.com" },
		{ NULL, "b b@example.com", "192.0.2.7", "x",
		  "user:b%20b@example.com" },
		{ "", "", "192.0.2.7", "printer.example.com",
		  "device:192.0.2.7/printer.example.com" },
		{ NULL, NULL, "2001:db8::5", "h.example",
		  "device:2001%3Adb8%3A%3A5/h.example" },
		{ "", NULL, "192.0.2.7", "a b=c/d%",
		  "device:192.0.2.7/a%20b%3Dc%2Fd%25" },
		{ "", "", "192.0.2.7", "", "device:192.0.2.7/" },
	};
	char out[ABUSE_KEY_MAX], kind[16];
	const char *name;

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		T_CHECK("account made", abuse_account(out, sizeof out, c[i].auth,
						      c[i].reg, c[i].ip,
						      c[i].helo) == 0);
		T_STREQ("account text", out, c[i].want);
		T_CHECK("one word", !strchr(out, ' ') && !strchr(out, '='));
	}
	abuse_account(out, sizeof out, "", "", "192.0.2.7",
		      "printer.example.com");
	T_CHECK("split device", abuse_split(out, kind, sizeof kind, &name) == 0 &&
		!strcmp(kind, "device") &&
		!strcmp(name, "192.0.2.7/printer.example.com"));
	T_CHECK("split user", abuse_split("user:a@b.example", kind, sizeof kind,
					  &name) == 0 && !strcmp(kind, "user") &&
		!strcmp(name, "a@b.example"));
	T_CHECK("split: unknown kind", abuse_split("customer:x", kind,
						   sizeof kind, &name) < 0);
	T_CHECK("split: no name", abuse_split("user:", kind, sizeof kind,
					      &name) < 0);
	T_CHECK("split: no colon", abuse_split("user", kind, sizeof kind,
					       &name) < 0);
	T_CHECK("too long: refused", abuse_account(out, 20, "", "", "192.0.2.7",
						   "printer.example.com") < 0);
}

int main(void)
{
	test_accounts();
	return t_done();
}
