/* smtp_data.c: reading DATA, and the body checks DATA and BDAT share
 * (see smtp_data.h for the contract). */
#include "smtp_data.h"
#include "wire_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int smtp_data_ok(const struct smtp_data_result *r)
{
	return !r->bare && !r->toolong && !r->toobig && !r->werr && !r->loop;
}

int smtp_body_init(struct smtp_body *b, struct io *out, size_t line_max,
		   size_t size_max, struct smtp_data_result *r, int bdat)
{
	memset(b, 0, sizeof *b);
	memset(r, 0, sizeof *r);
	b->out = out;
	b->line_max = line_max;
	b->cap = line_max < 3 ? 2 : line_max;
	b->size_max = size_max;
	b->r = r;
	b->in_header = 1;
	if (bdat && !(b->line = malloc(b->cap)))
		return -1;
	return 0;
}

void smtp_body_free(struct smtp_body *b)
{
	free(b->line);
	b->line = NULL;
}

/* Count the Received: fields of the header (up to its first empty
 * line), as the lines stream by: a mail loop shows as too many hops. */
static void body_hops(struct smtp_body *b, const char *p, size_t n)
{
	if (!b->in_header)
		return;
	if (n == 0)
		b->in_header = 0;
	else if (n >= 9 && strncasecmp(p, "Received:", 9) == 0)
		b->r->hops++;
}

/* One line as smtp_body_line; added: the bytes of its CRLF that the
 * client did not send (2 for the one smtp_body_end adds), which size_max
 * does not count (relay-queue takes them beyond it, wire_queue.h). */
static void body_line_counted(struct smtp_body *b, const char *p, size_t n,
			      unsigned flags, size_t added)
{
	struct smtp_data_result *r = b->r;

	/* lf_ok: a lone LF ended the line, written on as CRLF like any
	 * other; a lone CR still spoils the message */
	if (flags & (b->lf_ok ? IO_BARE_CR : IO_BARE_LF | IO_BARE_CR))
		r->bare = 1;
	if ((flags & IO_TOOLONG) || n + 2 > b->line_max)
		r->toolong = 1;
	body_hops(b, p, n);
	r->lines++;
	r->size += n + 2;
	if (r->size - added > b->size_max)
		r->toobig = 1;
	if (!smtp_data_ok(r) || !b->out)
		return;
	if (io_put(b->out, p, n) < 0 || io_put(b->out, "\r\n", 2) < 0)
		r->werr = 1;
}

void smtp_body_line(struct smtp_body *b, const char *p, size_t n,
		    unsigned flags)
{
	body_line_counted(b, p, n, flags, 0);
}

/* BDAT: n bytes onto the line under way.  Like io_getline, it keeps
 * cap - 1 bytes, one more than a legal line: the rest of a longer one
 * is dropped (smtp_body_line finds it too long). */
static void body_keep(struct smtp_body *b, const char *p, size_t n)
{
	size_t room = b->cap - 1 - b->len;

	if (n > room) {
		b->r->toolong = 1;
		n = room;
	}
	memcpy(b->line + b->len, p, n);
	b->len += n;
}

static void body_emit(struct smtp_body *b, unsigned flags)
{
	smtp_body_line(b, b->line, b->len, flags);
	b->len = 0;
}

void smtp_body_feed(struct smtp_body *b, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end) {
		const char *stop, *cr;
		if (b->cr) {
			b->cr = 0;
			if (*p == '\n') {
				body_emit(b, IO_CRLF);
				p++;
				continue;
			}
			b->r->bare = 1; /* a CR not before LF: kept as text */
			body_keep(b, "\r", 1);
		}
		/* the text up to the next CR or LF in one copy */
		stop = memchr(p, '\n', (size_t)(end - p));
		if (!stop)
			stop = end;
		if ((cr = memchr(p, '\r', (size_t)(stop - p))))
			stop = cr;
		body_keep(b, p, (size_t)(stop - p));
		if (stop == end)
			break;
		if (*stop == '\r')
			b->cr = 1;
		else
			body_emit(b, IO_BARE_LF);
		p = stop + 1;
	}
}

void smtp_body_end(struct smtp_body *b)
{
	if (b->cr) {
		b->cr = 0;
		b->r->bare = 1;
		body_keep(b, "\r", 1);
	}
	if (b->len) { /* a last line without CRLF: one added, not counted */
		_Static_assert(2 <= WIRE_QUEUE_ADDED_MAX,
			       "relay-queue takes the CRLF added here");
		body_line_counted(b, b->line, b->len, IO_CRLF, 2);
		b->len = 0;
	}
}

int smtp_data_copy(struct io *io, struct io *o, size_t line_max,
		   size_t size_max, struct smtp_data_result *r)
{
	return smtp_data_copy_lf(io, o, line_max, size_max, 0, r);
}

int smtp_data_copy_lf(struct io *io, struct io *o, size_t line_max,
		      size_t size_max, int lf_ok, struct smtp_data_result *r)
{
	/* io_getline keeps max-1 bytes; one more than a legal line (without
	 * CRLF: line_max - 2) tells a too-long line from a full one */
	size_t cap = line_max < 3 ? 2 : line_max, len;
	struct smtp_body b;
	char *line = malloc(cap);
	unsigned flags;
	int rc = -1, prev_crlf = 1;

	smtp_body_init(&b, o, line_max, size_max, r, 0);
	b.lf_ok = lf_ok;
	if (!line) {
		io->err = IO_ERR_SYS;
		return -1;
	}
	for (;;) {
		int got = io_getline(io, line, cap, &len, &flags);
		if (got <= 0 || (flags & IO_PARTIAL))
			break;
		/* the end is CR LF "." CR LF and nothing else: "\n.\r\n" is
		 * not, nor "\r\n.\n", with lf_ok or without: a line a lone LF
		 * ended leaves prev_crlf 0, and a dot line that is not the end
		 * is text (its dot taken off as for any dot line; relay-remote
		 * stuffs what it sends) */
		if (flags == IO_CRLF && len == 1 && line[0] == '.' && prev_crlf) {
			rc = 0;
			break;
		}
		prev_crlf = !(flags & IO_BARE_LF);
		{
			int dot = line[0] == '.';
			smtp_body_line(&b, line + dot, len - dot, flags);
		}
	}
	if (rc < 0 && io->err == IO_ERR_NONE)
		io->err = IO_ERR_EOF;
	free(line);
	return rc;
}

int smtp_data_read(struct io *io, int outfd, size_t line_max,
		   size_t size_max, struct smtp_data_result *r)
{
	struct io *o = outfd >= 0 ? malloc(sizeof *o) : NULL;
	int rc;

	if (outfd >= 0 && !o) {
		io->err = IO_ERR_SYS;
		memset(r, 0, sizeof *r);
		return -1;
	}
	if (o)
		io_init(o, -1, outfd, 0);
	rc = smtp_data_copy(io, o, line_max, size_max, r);
	if (rc == 0 && smtp_data_ok(r) && o && io_flush(o) < 0)
		r->werr = 1;
	free(o);
	return rc;
}
