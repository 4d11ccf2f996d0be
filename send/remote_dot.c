/* remote_dot.c: the message as SMTP DATA (RFC 5321 4.5.2).  A line that
 * starts with '.' gets another '.'; every line ends in CRLF (a bare LF or
 * CR, which relay-smtpd never lets in, is still never sent bare: that is
 * what SMTP smuggling needs); the end is ".\r\n" on a line of its own.
 * Streaming: the state carries over between chunks.  For BDAT (raw) the
 * line ends are made the same way, dots stay as they are and there is
 * no end line: the chunk's size says where the message ends. */
#include "remote.h"

#include <stdint.h>
#include <string.h>

void remote_dot_init(struct remote_dot *d)
{
	d->bol = 1;
	d->cr = 0;
	d->raw = 0;
}

void remote_dot_init_raw(struct remote_dot *d)
{
	remote_dot_init(d);
	d->raw = 1;
}

/* The index of the next c in in[from..n), n when none.  *at keeps the
 * last answer (SIZE_MAX: none yet), still good while it is not behind
 * from: each byte is searched once per call, not once per line. */
static size_t dot_find(const char *in, size_t n, size_t from, char c,
		       size_t *at)
{
	if (*at == SIZE_MAX || *at < from) {
		const char *p = memchr(in + from, c, n - from);
		*at = p ? (size_t)(p - in) : n;
	}
	return *at;
}

size_t remote_dot_stuff(struct remote_dot *d, const char *in, size_t n,
			char *out)
{
	size_t o = 0, i = 0, lf = SIZE_MAX, cr = SIZE_MAX;

	while (i < n) {
		char c = in[i];
		if (d->cr) {
			/* a CR is pending: CRLF, or a bare CR made a line end */
			d->cr = 0;
			out[o++] = '\r';
			out[o++] = '\n';
			d->bol = 1;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			if (c == '\r')
				d->cr = 1;
			else {
				out[o++] = '\r';
				out[o++] = '\n';
				d->bol = 1;
			}
			i++;
			continue;
		}
		if (d->bol && c == '.' && !d->raw)
			out[o++] = '.';
		d->bol = 0;
		/* the rest of the line up to its CR or LF goes as it is: one
		 * copy, not a test per byte (most of a message's bytes) */
		size_t end = dot_find(in, n, i, '\n', &lf);
		size_t cr_at = dot_find(in, n, i, '\r', &cr);
		if (cr_at < end)
			end = cr_at;
		memcpy(out + o, in + i, end - i);
		o += end - i;
		i = end;
	}
	return o;
}

size_t remote_dot_tail(struct remote_dot *d, char *out)
{
	size_t o = 0;

	if (d->cr || !d->bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	d->cr = 0;
	d->bol = 1;
	return o;
}

size_t remote_dot_end(struct remote_dot *d, char *out)
{
	size_t o = remote_dot_tail(d, out);

	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}
