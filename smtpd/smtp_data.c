/* smtp_data.c: reading DATA (see smtp_data.h for the contract). */
#include "smtp_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int smtp_data_ok(const struct smtp_data_result *r)
{
	return !r->bare && !r->toolong && !r->toobig && !r->werr && !r->loop;
}

/* Count the Received: fields of the header (up to its first empty
 * line), as the lines stream by: a mail loop shows as too many hops. */
static void data_hops(const char *p, size_t n, int *in_header,
		      struct smtp_data_result *r)
{
	if (!*in_header)
		return;
	if (n == 0)
		*in_header = 0;
	else if (n >= 9 && strncasecmp(p, "Received:", 9) == 0)
		r->hops++;
}

/* Account for and write one unstuffed line (without its CRLF). */
static void data_line(struct io *o, const char *p, size_t n,
		      size_t size_max, struct smtp_data_result *r)
{
	r->lines++;
	r->size += n + 2;
	if (r->size > size_max)
		r->toobig = 1;
	if (!smtp_data_ok(r) || !o)
		return;
	if (io_put(o, p, n) < 0 || io_put(o, "\r\n", 2) < 0)
		r->werr = 1;
}

int smtp_data_copy(struct io *io, struct io *o, size_t line_max,
		   size_t size_max, struct smtp_data_result *r)
{
	/* io_getline keeps max-1 bytes; one more than a legal line (without
	 * CRLF: line_max - 2) tells a too-long line from a full one */
	size_t cap = line_max < 3 ? 2 : line_max, len;
	char *line = malloc(cap);
	unsigned flags;
	int rc = -1, prev_crlf = 1, in_header = 1;

	memset(r, 0, sizeof *r);
	if (!line) {
		io->err = IO_ERR_SYS;
		return -1;
	}
	for (;;) {
		int got = io_getline(io, line, cap, &len, &flags);
		if (got <= 0 || (flags & IO_PARTIAL))
			break;
		if (flags & (IO_BARE_LF | IO_BARE_CR))
			r->bare = 1;
		if ((flags & IO_TOOLONG) || len + 2 > line_max)
			r->toolong = 1;
		/* the end is CR LF "." CR LF and nothing else: "\n.\r\n" is not */
		if (flags == IO_CRLF && len == 1 && line[0] == '.' && prev_crlf) {
			rc = 0;
			break;
		}
		prev_crlf = !(flags & IO_BARE_LF);
		{
			int dot = line[0] == '.';
			data_hops(line + dot, len - dot, &in_header, r);
			data_line(o, line + dot, len - dot, size_max, r);
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
