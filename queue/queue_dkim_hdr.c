/* queue_dkim_hdr.c: the little of the header section the signer reads
 * itself: where it ends (as chunks arrive) and the From: fields (to pick
 * the keys, and to refuse a message with none or two).  Everything the
 * signature covers is canonicalized by libopendkim, not here. */
#include "queue.h"

#include <string.h>
#include <strings.h>

long queue_dkim_eoh(const char *b, size_t len, size_t from)
{
	size_t i = from > 2 ? from - 2 : 0;

	if (len >= 1 && b[0] == '\n')
		return 1;
	if (len >= 2 && b[0] == '\r' && b[1] == '\n')
		return 2;
	for (; i < len; i++) {
		if (b[i] != '\n')
			continue;
		if (i + 1 < len && b[i + 1] == '\n')
			return (long)i + 2;
		if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
			return (long)i + 3;
	}
	return -1;
}

/* The end of the line at i (past its LF, or len). */
static size_t line_end(const char *h, size_t len, size_t i)
{
	const char *nl = memchr(h + i, '\n', len - i);
	return nl ? (size_t)(nl - h) + 1 : len;
}

/* "From" then optional blanks then ':' (any case); the offset past the
 * colon, or 0. */
static size_t is_from(const char *h, size_t n)
{
	size_t i = 4;

	if (n < 5 || strncasecmp(h, "from", 4))
		return 0;
	while (i < n && (h[i] == ' ' || h[i] == '\t'))
		i++;
	return i < n && h[i] == ':' ? i + 1 : 0;
}

/* Append h[i..e) without CR and LF (unfolding); -1 when full. */
static int unfold(char *val, size_t valsz, size_t *vl, const char *h,
		  size_t i, size_t e)
{
	for (; i < e; i++) {
		if (h[i] == '\r' || h[i] == '\n')
			continue;
		if (*vl + 1 >= valsz)
			return -1;
		val[(*vl)++] = h[i];
	}
	val[*vl] = '\0';
	return 0;
}

int queue_dkim_from(const char *h, size_t len, char *val, size_t valsz)
{
	size_t i = 0, vl = 0, colon;
	int n = 0, full = 0;

	val[0] = '\0';
	while (i < len) {
		size_t e = line_end(h, len, i);
		if (h[i] != ' ' && h[i] != '\t' &&
		    (colon = is_from(h + i, e - i)) && ++n == 1) {
			full |= unfold(val, valsz, &vl, h, i + colon, e);
			/* continuation lines start with a blank */
			while (e < len && (h[e] == ' ' || h[e] == '\t')) {
				size_t e2 = line_end(h, len, e);
				full |= unfold(val, valsz, &vl, h, e, e2);
				e = e2;
			}
		}
		i = e;
	}
	return full ? -1 : n;
}
