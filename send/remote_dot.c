/* remote_dot.c: the message as SMTP DATA (RFC 5321 4.5.2).  A line that
 * starts with '.' gets another '.'; every line ends in CRLF (a bare LF or
 * CR, which relay-smtpd never lets in, is still never sent bare: that is
 * what SMTP smuggling needs); the end is ".\r\n" on a line of its own.
 * Streaming: the state carries over between chunks.  For BDAT (raw) the
 * line ends are made the same way, dots stay as they are and there is
 * no end line: the chunk's size says where the message ends. */
#include "remote.h"

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

size_t remote_dot_stuff(struct remote_dot *d, const char *in, size_t n,
			char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (d->cr) {
			/* a CR is pending: CRLF, or a bare CR made a line end */
			d->cr = 0;
			out[o++] = '\r';
			out[o++] = '\n';
			d->bol = 1;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			d->cr = 1;
			continue;
		}
		if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			d->bol = 1;
			continue;
		}
		if (d->bol && c == '.' && !d->raw)
			out[o++] = '.';
		out[o++] = c;
		d->bol = 0;
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
