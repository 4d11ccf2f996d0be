/* utf8.h: UTF-8 as RFC 3629 defines it (no overlong forms, no
 * surrogates, nothing above U+10FFFF).  An address under SMTPUTF8 and a
 * Prometheus label value must be valid UTF-8; these say where a string
 * is not and where it may be cut. */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

/* The length (1..4) of the valid character at s, of at most n bytes,
 * or 0 when the bytes there are not one (n == 0 included). */
size_t utf8_char_len(const char *s, size_t n);

/* The code point of the valid len-byte character at s (len from
 * utf8_char_len). */
unsigned long utf8_code_point(const char *s, size_t len);

/* 1 when the NUL-terminated s is valid UTF-8 (ASCII included). */
int utf8_valid(const char *s);

/* The length of the longest prefix of s (NUL-terminated) of at most max
 * bytes that does not end inside a character: where to cut s. */
size_t utf8_cut(const char *s, size_t max);

/* The length (2..4) of the valid non-ASCII character at s (n bytes
 * left) when it may be shown to a person as it is, else 0: not when it
 * is a C1 control (U+0080..U+009F) or a bidi control (U+061C,
 * U+200E..U+200F, U+202A..U+202E, U+2066..U+2069), which reorder what
 * a terminal or a mail reader shows, so an address could read as
 * another. */
size_t utf8_shown_len(const char *s, size_t n);

#endif
