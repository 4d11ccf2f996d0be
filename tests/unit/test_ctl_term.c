// links: ctl/ctl_term.c
/* test_ctl_term.c: peer-supplied text on the operator's terminal
 * (relayctl queue list/show): a table of inputs and what is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ctl/ctl.h"
#include "t.h"

static const struct {
	const char *name, *in, *out;
} cases[] = {
	{ "plain text", "Subject: hello", "Subject: hello" },
	{ "CSI clear screen", "a\x1b[2Jb", "a\\x1B[2Jb" },
	{ "OSC title with BEL", "\x1b]0;pwned\x07", "\\x1B]0;pwned\\x07" },
	{ "CRLF becomes a newline", "A: 1\r\nB: 2\r\n", "A: 1\nB: 2\n" },
	{ "lone CR escaped", "a\rb", "a\\x0Db" },
	{ "tab kept", "a\tb", "a\tb" },
	{ "DEL", "a\x7f", "a\\x7F" },
	{ "backslash doubled", "a\\x1B", "a\\\\x1B" },
	{ "UTF-8 kept", "J\xc3\xb6rg \xe2\x82\xac", "J\xc3\xb6rg \xe2\x82\xac" },
	{ "8-bit CSI (0x9B) escaped", "a\x9b" "2J", "a\\x9B2J" },
	{ "C1 CSI as UTF-8 (U+009B) escaped", "a\xc2\x9b" "2J",
	  "a\\xC2\\x9B2J" },
	{ "truncated UTF-8", "a\xc3", "a\\xC3" },
	{ "overlong NUL", "\xc0\x80", "\\xC0\\x80" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return 1;
		ctl_term_puts(f, cases[i].in);
		fclose(f);
		T_STREQ(cases[i].name, buf, cases[i].out);
		free(buf);
	}
	return t_done();
}
