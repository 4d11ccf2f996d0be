/* ctl_term.c: text from the queue (addresses, HELO, reply texts, message
 * headers) printed on the operator's terminal.  Any of it may come from a
 * client or a remote server, so no byte that a terminal acts on gets
 * through: C0 controls (but tab and newline; CRLF becomes a newline),
 * DEL, the C1 controls U+0080..U+009F, the bidi controls (U+061C,
 * U+200E..U+200F, U+202A..U+202E, U+2066..U+2069: they reorder what the
 * terminal shows, so an address could read as another) and bytes that
 * are not UTF-8 are printed as "\xHH" a byte; a backslash as "\\" so
 * the output stays unambiguous.  Valid UTF-8 stays as it is, so the
 * text stays readable. */
#include "ctl.h"

#include <stdio.h>

/* A bidi control: U+061C, U+200E..U+200F, U+202A..U+202E or
 * U+2066..U+2069 (s holds a whole len-byte sequence). */
static int term_bidi(const unsigned char *s, size_t len)
{
	if (len == 2)
		return s[0] == 0xd8 && s[1] == 0x9c;
	if (len != 3 || s[0] != 0xe2)
		return 0;
	if (s[1] == 0x80)
		return (s[2] >= 0x8e && s[2] <= 0x8f) ||
		       (s[2] >= 0xaa && s[2] <= 0xae);
	return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

/* Length of the valid, printable UTF-8 sequence at s (n bytes left), or
 * 0 when the byte at s must be escaped. */
static size_t term_utf8(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 :
		     s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (len == 0 || len > n || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (s[0] == 0xc2 && s[1] < 0xa0) /* U+0080..U+009F: C1 controls */
		return 0;
	if (term_bidi(s, len))
		return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, surrogate or past U+10FFFF */
	return len;
}

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
		} else if (c >= 0x80 && (len = term_utf8(s + i, n - i))) {
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
