/* mon_buf.c: the text relay-metrics answers with, and the escaping of
 * everything in it that came from a file of another uid. */
#include "mon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct mon_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *s;

	if (b->failed)
		return -1;
	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	if (!(s = realloc(b->s, cap))) {
		b->failed = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

void mon_printf(struct mon_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mon_html(struct mon_buf *b, const char *text)
{
	for (; *text; text++) {
		switch (*text) {
		case '&': mon_printf(b, "&amp;"); break;
		case '<': mon_printf(b, "&lt;"); break;
		case '>': mon_printf(b, "&gt;"); break;
		case '"': mon_printf(b, "&quot;"); break;
		case '\'': mon_printf(b, "&#39;"); break;
		default:
			mon_printf(b, "%c", (*text >= 0x20 && *text < 0x7f) ||
					    *text == '\n' ? *text : '?');
		}
	}
}

const char *mon_clean(char *buf, size_t n, const char *s)
{
	size_t i = 0;

	for (; *s && i + 1 < n; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
	return buf;
}

void mon_expo_head(struct mon_buf *b, const char *name, const char *type,
		   const char *help)
{
	mon_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void mon_expo_sample(struct mon_buf *b, const char *name, const char *sfx,
		     const char *labels, const char *extra)
{
	const char *sep = *labels && *extra ? "," : "";

	if (*labels || *extra)
		mon_printf(b, "%s%s{%s%s%s} ", name, sfx, labels, sep, extra);
	else
		mon_printf(b, "%s%s ", name, sfx);
}
