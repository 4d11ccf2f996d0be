/* utf8.c: checking and cutting UTF-8 (utf8.h). */
#include "utf8.h"

#include <string.h>

/* RFC 3629 4: the second byte's range depends on the first (this rules
 * out overlong forms, surrogates and code points past U+10FFFF). */
static int second_ok(unsigned char c0, unsigned char c1)
{
	if (c0 == 0xe0)
		return c1 >= 0xa0 && c1 <= 0xbf;
	if (c0 == 0xed)
		return c1 >= 0x80 && c1 <= 0x9f;
	if (c0 == 0xf0)
		return c1 >= 0x90 && c1 <= 0xbf;
	if (c0 == 0xf4)
		return c1 >= 0x80 && c1 <= 0x8f;
	return c1 >= 0x80 && c1 <= 0xbf;
}

size_t utf8_char_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;  /* a continuation byte, 0xc0/0xc1 or 0xf5.. */
	if (n < len || !second_ok(p[0], p[1]))
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

unsigned long utf8_code_point(const char *s, size_t len)
{
	static const unsigned char lead_bits[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp = p[0] & lead_bits[len < 5 ? len : 0];

	for (size_t i = 1; i < len && i < 4; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

int utf8_valid(const char *s)
{
	size_t n = strlen(s), k;

	for (size_t i = 0; i < n; i += k)
		if ((k = utf8_char_len(s + i, n - i)) == 0)
			return 0;
	return 1;
}

size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 4), at = 0, k;

	if (n <= max)
		return n;
	/* whole characters while they fit; a byte that starts none counts
	 * as one (the caller replaces or refuses it) */
	while (at < max) {
		k = utf8_char_len(s + at, n - at);
		if (k == 0)
			k = 1;
		if (at + k > max)
			break;
		at += k;
	}
	return at;
}

/* A bidi control (s holds a whole len-byte character). */
static int bidi_control(const unsigned char *s, size_t len)
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

size_t utf8_shown_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = utf8_char_len(s, n);

	if (len < 2)
		return 0;
	if (p[0] == 0xc2 && p[1] < 0xa0) /* C1 controls */
		return 0;
	return bidi_control(p, len) ? 0 : len;
}
