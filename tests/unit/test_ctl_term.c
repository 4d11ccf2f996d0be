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
	/* Bidi and format controls reorder what the terminal shows. */
	{ "RLO (U+202E) escaped", "admin\xe2\x80\xaegpj.exe",
	  "admin\\xE2\\x80\\xAEgpj.exe" },
	{ "LRE..PDF (U+202A, U+202C) escaped", "\xe2\x80\xaa" "a\xe2\x80\xac",
	  "\\xE2\\x80\\xAAa\\xE2\\x80\\xAC" },
	{ "LRM, RLM (U+200E, U+200F) escaped", "\xe2\x80\x8e\xe2\x80\x8f",
	  "\\xE2\\x80\\x8E\\xE2\\x80\\x8F" },
	{ "isolates (U+2066, U+2069) escaped", "\xe2\x81\xa6" "a\xe2\x81\xa9",
	  "\\xE2\\x81\\xA6a\\xE2\\x81\\xA9" },
	{ "ALM (U+061C) escaped", "\xd8\x9c", "\\xD8\\x9C" },
	{ "neighbours kept (U+2010, U+202F, U+061B)",
	  "\xe2\x80\x90\xe2\x80\xaf\xd8\x9b",
	  "\xe2\x80\x90\xe2\x80\xaf\xd8\x9b" },
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
