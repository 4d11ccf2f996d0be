/* smtp_data.h: the message body readers.  DATA: reads the text after
 * 354 up to the one true end, a line "." ended by CRLF, removes
 * dot-stuffing, and streams the text (CRLF line ends) to a file
 * descriptor or an io.  BDAT (RFC 3030): chunks of raw bytes, put
 * together into lines across chunk boundaries (smtp_body_feed).  Both
 * go through the same line checks (smtp_body_line): a bare LF or bare CR
 * anywhere spoils the whole message but is never taken as a line end or
 * as the end of data (SMTP smuggling); a line over line_max, a message
 * over size_max and too many Received: fields spoil it too. */
#ifndef SMTP_DATA_H
#define SMTP_DATA_H

#include <stddef.h>

#include "io.h"

struct smtp_data_result {
	size_t size;      /* bytes of unstuffed text read (CRLF counted, and
			   * the one smtp_body_end adds, which size_max is
			   * not checked against) */
	size_t lines;
	int bare;         /* saw a bare LF or bare CR */
	int toolong;      /* a line over line_max (CRLF included) */
	int toobig;       /* size over size_max */
	int werr;         /* writing to the output failed (e.g. EPIPE) */
	size_t hops;      /* Received: fields in the header (RFC 5321 6.3) */
	int loop;         /* set by the caller: hops over its limit */
	size_t chunks;    /* set by the caller: BDAT commands (0: DATA) */
};

/* The checks on the message's lines, and where the good ones go. */
struct smtp_body {
	struct io *out;           /* NULL: discard */
	size_t line_max, size_max;
	struct smtp_data_result *r;
	int in_header;
	/* BDAT: the line under way across chunks (cap bytes) */
	char *line;
	size_t len, cap;
	int cr;                   /* the last byte fed was a CR */
	int lf_ok;                /* a lone LF ends a line (legacy_bare_lf) */
};

/* Start a message (r zeroed); for BDAT with a line buffer (bdat 1).
 * -1 when out of memory. */
int smtp_body_init(struct smtp_body *b, struct io *out, size_t line_max,
		   size_t size_max, struct smtp_data_result *r, int bdat);
void smtp_body_free(struct smtp_body *b);
/* One line of text without its line end; flags as io_getline's. */
void smtp_body_line(struct smtp_body *b, const char *p, size_t n,
		    unsigned flags);
/* BDAT: n raw bytes of a chunk (not dot-stuffed); lines may be cut
 * anywhere, even between CR and LF. */
void smtp_body_feed(struct smtp_body *b, const char *p, size_t n);
/* BDAT LAST: a CR left over is a bare CR; a last line without CRLF gets
 * one (the queue's messages end in CRLF), not counted in the size: a
 * message of size_max bytes is one whether its last line has CRLF or
 * not (relay-queue takes the 2 bytes more, wire_queue.h). */
void smtp_body_end(struct smtp_body *b);

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

/* The same where a lone LF (legacy devices with legacy_bare_lf) ends a
 * line, written on as CRLF: the message is good, but a lone LF is
 * still never part of the end of data (only CRLF "." CRLF after a
 * CRLF ends it) and a lone CR still spoils the message. */
int smtp_data_copy_lf(struct io *io, struct io *out, size_t line_max,
		      size_t size_max, int lf_ok, struct smtp_data_result *r);

/* 1 when the result is a message that may be queued. */
int smtp_data_ok(const struct smtp_data_result *r);

#endif
