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

/* 1 when the NUL-terminated s is valid UTF-8 (ASCII included). */
int utf8_valid(const char *s);

/* The length of the longest prefix of s (NUL-terminated) of at most max
 * bytes that does not end inside a character: where to cut s. */
size_t utf8_cut(const char *s, size_t max);

#endif
