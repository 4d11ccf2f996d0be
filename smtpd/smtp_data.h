/* smtp_data.h: the DATA reader.  Reads the message text after 354 up to
 * the one true end, a line "." ended by CRLF, removes dot-stuffing, and
 * streams the text (CRLF line ends) to a file descriptor or an io.  A bare LF or
 * bare CR anywhere spoils the whole message but is never taken as a line
 * end or as the end of data (SMTP smuggling). */
#ifndef SMTP_DATA_H
#define SMTP_DATA_H

#include <stddef.h>

#include "io.h"

struct smtp_data_result {
	size_t size;      /* bytes of unstuffed text read (CRLF counted) */
	size_t lines;
	int bare;         /* saw a bare LF or bare CR */
	int toolong;      /* a line over line_max (CRLF included) */
	int toobig;       /* size over size_max */
	int werr;         /* writing to the output failed (e.g. EPIPE) */
	size_t hops;      /* Received: fields in the header (RFC 5321 6.3) */
	int loop;         /* set by the caller: hops over its limit */
};

/* Read DATA from io; write the text to outfd (-1: discard).  Stops
 * writing at the first problem but always reads to the end.  line_max
 * counts the CRLF.  Returns 0 at the end of data (see result for whether
 * the message is good), -1 on EOF, timeout or read error (io->err). */
int smtp_data_read(struct io *io, int outfd, size_t line_max,
		   size_t size_max, struct smtp_data_result *r);

/* The same, writing into out (NULL: discard) without flushing it: the
 * caller sends what is left with what follows (smtp_queue_finish). */
int smtp_data_copy(struct io *io, struct io *out, size_t line_max,
		   size_t size_max, struct smtp_data_result *r);

/* 1 when the result is a message that may be queued. */
int smtp_data_ok(const struct smtp_data_result *r);

#endif
