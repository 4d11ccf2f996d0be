/* ctl_term.c: text from the queue (addresses, HELO, reply texts, message
 * headers) printed on the operator's terminal.  Any of it may come from a
 * client or a remote server, so no byte that a terminal acts on gets
 * through: C0 controls (but tab and newline; CRLF becomes a newline),
 * DEL, the C1 and bidi controls (utf8_shown_len, lib/utf8.h: the bidi
 * ones reorder what the terminal shows, so an address could read as
 * another) and bytes that are not UTF-8 are printed as "\xHH" a
 * byte; a backslash as "\\" so the output stays unambiguous.  Valid
 * UTF-8 stays as it is, so the text stays readable. */
#include "ctl.h"
#include "utf8.h"

#include <stdio.h>

void ctl_term_put(FILE *f, const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len;
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (c == '\\') {
			fputs("\\\\", f);
			i++;
		} else if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n') {
			putc(c, f);
			i++;
		} else if (c >= 0x80 && (len = utf8_shown_len(text + i, n - i))) {
			fwrite(s + i, 1, len, f);
			i += len;
		} else {
			fprintf(f, "\\x%02X", c);
			i++;
		}
	}
}

void ctl_term_puts(FILE *f, const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	ctl_term_put(f, s, n);
}
