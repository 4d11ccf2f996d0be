/* textbuf.h: a growing text buffer filled with printf formats; any
 * failure (no memory, a bad format) sticks in failed, so a caller checks
 * once at the end.  Used to compose notices and reports. */
#ifndef TEXTBUF_H
#define TEXTBUF_H

#include <stddef.h>

struct textbuf {
	char *p;        /* malloc'd by the caller (cap bytes), grown here */
	size_t len, cap;
	int failed;
};

void textbuf_add(struct textbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
