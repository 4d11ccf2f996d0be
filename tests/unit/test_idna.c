// links:
/* test_idna.c: lib/idna.c, a table of domains and the A-label each
 * gets (or why it gets none): ASCII as it is, U-labels converted after
 * UTS #46 case folding, names IDNA refuses, an output buffer too small. */
#include <stdio.h>

#include "idna.h"
#include "t.h"

static const struct {
	const char *in, *want; /* want NULL: IDNA_INVALID */
} cases[] = {
	{ "example.com", "example.com" },
	{ "_dmarc.example.com", "_dmarc.example.com" },   /* ASCII untouched */
	{ "[192.0.2.1]", "[192.0.2.1]" },
	{ "ex\xc3\xa4mple.test", "xn--exmple-cua.test" },
	{ "EX\xc3\x84MPLE.test", "xn--exmple-cua.test" },  /* case folded */
	{ "b\xc3\xbc" "cher.ex\xc3\xa4mple.test",
	  "xn--bcher-kva.xn--exmple-cua.test" },
	{ "\xe2\x98\x83.test", NULL },                       /* U+2603 */
	{ "\xcc\x81" "a.test", NULL },          /* a leading combining mark */
};

int main(void)
{
	char out[256], name[200];
	const char *why;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		enum idna_status st = idna_alabel(cases[i].in, out, sizeof out,
						  &why);
		snprintf(name, sizeof name, "idna case %zu: %s", i,
			 cases[i].want ? cases[i].want : "invalid");
		if (cases[i].want)
			T_CHECK(name, st == IDNA_OK &&
					      strcmp(out, cases[i].want) == 0);
		else
			T_CHECK(name, st == IDNA_INVALID && *why);
	}
	T_CHECK("idna: out too small",
		idna_alabel("ex\xc3\xa4mple.test", out, 10, &why) ==
				IDNA_INVALID && *why);
	T_CHECK("idna: ASCII too long for out",
		idna_alabel("example.com", out, 5, NULL) == IDNA_INVALID);
	return t_done();
}
