/* textbuf.c: a growing printf buffer (textbuf.h). */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void textbuf_add(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed || !b->p)
		return (void)(b->failed = 1);
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return (void)(b->failed = 1);
		if (b->len + (size_t)n < b->cap)
			break;
		size_t ncap = (b->cap + (size_t)n) * 2;
		char *np = realloc(b->p, ncap);
		if (!np)
			return (void)(b->failed = 1);
		b->p = np;
		b->cap = ncap;
	}
	b->len += (size_t)n;
}
