// links: smtpd/smtp_data.c
/* test_smtp_data.c: the DATA reader over a pipe: dot-unstuffing, the one
 * true end (CRLF.CRLF), bare LF/CR smuggling shapes, size and line limits;
 * the BDAT chunk feeder cut at every place (smtp_body_feed); a legacy
 * device's bare LF made CRLF without ever ending the data. */
#include "t.h"
#include "io.h"
#include "../../smtpd/smtp_data.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct data_case {
	const char *name;
	const char *in;
	int rc;            /* smtp_data_read's return */
	const char *out;   /* expected text when ok (NULL: not checked) */
	int bare, toolong, toobig;
	const char *next;  /* the next line left in the buffer, or NULL */
};

static const struct data_case cases[] = {
	{ "simple", "Subject: x\r\n\r\nhello\r\n.\r\n", 0,
	  "Subject: x\r\n\r\nhello\r\n", 0, 0, 0, NULL },
	{ "empty message", ".\r\n", 0, "", 0, 0, 0, NULL },
	{ "dot unstuffing", "..leading\r\n...\r\n.x\r\n.\r\n", 0,
	  ".leading\r\n..\r\nx\r\n", 0, 0, 0, NULL },
	{ "pipelined command stays", "a\r\n.\r\nQUIT\r\n", 0, "a\r\n", 0, 0, 0,
	  "QUIT" },
	{ "8-bit and NUL kept", "caf\xc3\xa9 \x01\r\n.\r\n", 0,
	  "caf\xc3\xa9 \x01\r\n", 0, 0, 0, NULL },
	{ "bare LF line end", "a\nb\r\n.\r\n", 0, NULL, 1, 0, 0, NULL },
	{ "bare CR inside", "a\rb\r\n.\r\n", 0, NULL, 1, 0, 0, NULL },
	{ "smuggle \\n.\\n is not the end",
	  "a\r\n\n.\nMAIL FROM:<x@evil>\r\n.\r\nQUIT\r\n", 0, NULL, 1, 0, 0,
	  "QUIT" },
	{ "smuggle \\r\\n.\\r is not the end",
	  "a\r\n.\rMAIL FROM:<x@evil>\r\n.\r\nNOOP\r\n", 0, NULL, 1, 0, 0,
	  "NOOP" },
	{ "smuggle \\r.\\r\\n is not the end",
	  "a\r.\r\nRCPT TO:<x@y>\r\n.\r\nNOOP\r\n", 0, NULL, 1, 0, 0, "NOOP" },
	{ "smuggle \\n.\\r\\n is not the end",
	  "a\n.\r\nDATA\r\n.\r\nNOOP\r\n", 0, NULL, 1, 0, 0, "NOOP" },
	{ "smuggle .\\n then real end", "x\r\n.\nRSET\r\n.\r\n", 0, NULL, 1, 0,
	  0, NULL },
	{ "EOF before the end", "a\r\nb\r\n", -1, NULL, 0, 0, 0, NULL },
	{ "EOF after bare end", "a\r\n.\n", -1, NULL, 1, 0, 0, NULL },
	{ "EOF in a line", "a\r\n.", -1, NULL, 0, 0, 0, NULL },
	{ "size over the limit", "0123456789012345678901234567890123456789\r\n"
	  "0123456789012345678901234567890123456789\r\n"
	  "0123456789012345678901234567890123456789\r\n.\r\nQUIT\r\n",
	  0, NULL, 0, 0, 1, "QUIT" },
	{ "size at the limit", "0123456789012345678901234567890123456789\r\n"
	  "01234567890123456789012345678901234567890123456789012345\r\n.\r\n",
	  0, NULL, 0, 0, 0, NULL },
};

/* in through a pipe (p[0], read by io; the writing end closed); out
 * must be open.  -1 (a failed check) when that cannot be set up. */
static int case_input(const char *in, int p[2], int out, struct io *io)
{
	if (pipe(p) < 0 || out < 0 ||
	    write(p[1], in, strlen(in)) != (ssize_t)strlen(in)) {
		T_CHECK("setup", 0);
		return -1;
	}
	close(p[1]);
	io_init(io, p[0], -1, 2000);
	return 0;
}

/* Feed in through a pipe, collect the output in a memfd; lf_ok: read
 * as a legacy device's (smtp_data_copy_lf). */
static void run_case(const struct data_case *c, int lf_ok)
{
	int p[2], out = memfd_create("out", 0);
	struct io io;
	struct smtp_data_result r;
	char name[160], got[4096], line[256];
	size_t len;
	unsigned flags;
	ssize_t n;
	int rc;

	if (case_input(c->in, p, out, &io) < 0)
		return;
	if (lf_ok) {
		struct io o;
		io_init(&o, -1, out, 0);
		rc = smtp_data_copy_lf(&io, &o, 1000, 100, 1, &r);
		io_flush(&o);
	} else
		rc = smtp_data_read(&io, out, 1000, 100, &r);
	snprintf(name, sizeof name, "%s: rc", c->name);
	T_CHECK(name, rc == c->rc);
	snprintf(name, sizeof name, "%s: flags", c->name);
	T_CHECK(name, r.bare == c->bare && r.toolong == c->toolong &&
			      r.toobig == c->toobig);
	if (c->out) {
		n = pread(out, got, sizeof got - 1, 0);
		got[n < 0 ? 0 : n] = '\0';
		snprintf(name, sizeof name, "%s: text", c->name);
		T_STREQ(name, got, c->out);
		snprintf(name, sizeof name, "%s: ok", c->name);
		T_CHECK(name, smtp_data_ok(&r) && r.size == strlen(c->out));
	} else if (rc == 0) {
		snprintf(name, sizeof name, "%s: refused", c->name);
		T_CHECK(name, !smtp_data_ok(&r) || (!c->bare && !c->toobig));
	}
	if (c->next) {
		snprintf(name, sizeof name, "%s: next command", c->name);
		T_CHECK(name, io_getline(&io, line, sizeof line, &len, &flags) == 1);
		T_STREQ(name, line, c->next);
	}
	close(p[0]);
	close(out);
}

/* A 1000-byte line (CRLF included) is legal, 1001 is not. */
static void test_line_limit(void)
{
	static char in[8192];
	for (int extra = 0; extra < 2; extra++) {
		struct data_case c = { extra ? "line 1001" : "line 1000", in, 0,
				       NULL, 0, extra, 0, "NOOP" };
		size_t k = 998 + (size_t)extra;
		memset(in, 'x', k);
		strcpy(in + k, "\r\n.\r\nNOOP\r\n");
		/* the size limit must not interfere here */
		int p[2], out = memfd_create("out", 0);
		struct io io;
		struct smtp_data_result r;
		char line[64], name[64];
		size_t len;
		unsigned flags;
		if (pipe(p) < 0 || write(p[1], in, strlen(in)) < 0)
			return;
		close(p[1]);
		io_init(&io, p[0], -1, 2000);
		T_CHECK(c.name, smtp_data_read(&io, out, 1000, 100000, &r) == 0);
		snprintf(name, sizeof name, "%s: toolong=%d", c.name, extra);
		T_CHECK(name, r.toolong == extra && r.bare == 0);
		T_CHECK(name, io_getline(&io, line, sizeof line, &len, &flags) == 1 &&
				      strcmp(line, "NOOP") == 0);
		close(p[0]);
		close(out);
	}
}

/* A message larger than a pipe buffer, through a pipe to a reader that
 * died: write errors are noted, the reader still reaches the end. */
static void test_write_error(void)
{
	int in[2], outp[2];
	struct io io;
	struct smtp_data_result r;
	char *big = malloc(300000);
	size_t off = 0;
	pid_t pid;

	if (!big || pipe(in) < 0 || pipe(outp) < 0)
		return;
	for (int i = 0; i < 3000; i++)
		off += (size_t)sprintf(big + off, "line %05d of some text\r\n", i);
	strcpy(big + off, ".\r\n");
	close(outp[0]); /* nobody reads: EPIPE */
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		close(in[0]);
		if (write(in[1], big, strlen(big)) < 0)
			_exit(1);
		_exit(0);
	}
	close(in[1]);
	io_init(&io, in[0], -1, 5000);
	T_CHECK("write error: read to end",
		smtp_data_read(&io, outp[1], 1000, 10000000, &r) == 0);
	T_CHECK("write error: noted", r.werr == 1 && !smtp_data_ok(&r));
	T_CHECK("write error: all lines counted", r.lines == 3000);
	close(in[0]);
	close(outp[1]);
	waitpid(pid, NULL, 0);
	free(big);
}

/* Received: fields counted as the header streams by: only in the
 * header, any case, after unstuffing, never continuation lines or the
 * body; a loop found by the caller stops smtp_data_ok. */
static void test_hops(void)
{
	static const struct {
		const char *name, *in;
		size_t hops;
	} hc[] = {
		{ "no Received", "Subject: x\r\n\r\nbody\r\n.\r\n", 0 },
		{ "three, any case, folded",
		  "Received: from a\r\n\tby b\r\nRECEIVED: x\r\nreceived:y\r\n"
		  "Subject: z\r\n\r\n.\r\n", 3 },
		{ "body lines are not counted",
		  "Received: a\r\n\r\nReceived: b\r\nReceived: c\r\n.\r\n", 1 },
		{ "dot-stuffed header line", "..\r\nReceived: a\r\n\r\n.\r\n", 1 },
		{ "Received-SPF is another field",
		  "Received-SPF: pass\r\nReceivedX: 1\r\n\r\n.\r\n", 0 },
	};
	for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++) {
		int p[2];
		struct io io;
		struct smtp_data_result r;

		if (pipe(p) < 0 || write(p[1], hc[i].in, strlen(hc[i].in)) < 0)
			return;
		close(p[1]);
		io_init(&io, p[0], -1, 2000);
		T_CHECK(hc[i].name, smtp_data_read(&io, -1, 1000, 100000, &r) == 0 &&
				    r.hops == hc[i].hops && smtp_data_ok(&r));
		r.loop = 1;
		T_CHECK("a loop is not ok", !smtp_data_ok(&r));
		close(p[0]);
	}
}

/* BDAT: raw bytes (no dot-stuffing, no end line), the same checks as
 * DATA, whatever the chunk boundaries. */
static const struct {
	const char *name, *in, *out; /* out NULL: refused */
	int bare, toolong, toobig;
	size_t hops;
} bdat_cases[] = {
	{ "bdat simple", "Subject: x\r\n\r\nhello\r\n",
	  "Subject: x\r\n\r\nhello\r\n", 0, 0, 0, 0 },
	{ "bdat empty", "", "", 0, 0, 0, 0 },
	{ "bdat dots are text", ".\r\n..\r\n.x\r\n", ".\r\n..\r\n.x\r\n",
	  0, 0, 0, 0 },
	{ "bdat last line gets CRLF", "a\r\nb", "a\r\nb\r\n", 0, 0, 0, 0 },
	{ "bdat hops", "Received: a\r\nreceived: b\r\n\r\nReceived: c\r\n",
	  NULL, 0, 0, 0, 2 },
	{ "bdat bare LF", "a\nb\r\n", NULL, 1, 0, 0, 0 },
	{ "bdat bare CR", "a\rb\r\n", NULL, 1, 0, 0, 0 },
	{ "bdat CR at the end", "a\r\nb\r", NULL, 1, 0, 0, 0 },
	{ "bdat smuggle \\n.\\n", "a\r\n\n.\nMAIL FROM:<x>\r\n", NULL,
	  1, 0, 0, 0 },
	{ "bdat CR CR LF", "a\r\r\n", NULL, 1, 0, 0, 0 },
	{ "bdat line of 21", "0123456789012345678\r\n", NULL, 0, 1, 0, 0 },
	{ "bdat line of 20", "012345678901234567\r\n",
	  "012345678901234567\r\n", 0, 0, 0, 0 },
	{ "bdat at the size", "0123456789\r\n0123456789\r\n"
	  "0123456789\r\n0123456789\r\n0123456789\r\n",
	  "0123456789\r\n0123456789\r\n"
	  "0123456789\r\n0123456789\r\n0123456789\r\n", 0, 0, 0, 0 },
	{ "bdat over the size", "0123456789\r\n0123456789\r\n"
	  "0123456789\r\n0123456789\r\n0123456789\r\n\r\n", NULL,
	  0, 0, 1, 0 },
	/* the CRLF added to a last line without one is not counted: 60
	 * bytes are 60 bytes, however the last line ends */
	{ "bdat at the size, no CRLF at the end", "0123456789\r\n0123456789"
	  "\r\n0123456789\r\n0123456789\r\n012345678901",
	  "0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n"
	  "012345678901\r\n", 0, 0, 0, 0 },
	{ "bdat over the size, no CRLF at the end", "0123456789\r\n0123456789"
	  "\r\n0123456789\r\n0123456789\r\n0123456789012",
	  NULL, 0, 0, 1, 0 },
};

/* Feed in in chunks cut at cut (0: one chunk) or every byte (cut -1). */
static void bdat_feed(size_t i, long cut)
{
	const char *in = bdat_cases[i].in;
	size_t n = strlen(in);
	int fd = memfd_create("out", 0);
	struct io o;
	struct smtp_body b;
	struct smtp_data_result r;
	char name[160], got[512];
	ssize_t k;

	io_init(&o, -1, fd, 0);
	/* line_max 20 (CRLF included), size_max 60 */
	if (fd < 0 || smtp_body_init(&b, &o, 20, 60, &r, 1) < 0) {
		T_CHECK("bdat setup", 0);
		return;
	}
	if (cut < 0)
		for (size_t j = 0; j < n; j++)
			smtp_body_feed(&b, in + j, 1);
	else {
		smtp_body_feed(&b, in, (size_t)cut);
		smtp_body_feed(&b, in + cut, n - (size_t)cut);
	}
	smtp_body_end(&b);
	io_flush(&o);
	k = pread(fd, got, sizeof got - 1, 0);
	got[k < 0 ? 0 : k] = '\0';
	snprintf(name, sizeof name, "%s (cut %ld)", bdat_cases[i].name, cut);
	T_CHECK(name, r.bare == bdat_cases[i].bare &&
		      r.toolong == bdat_cases[i].toolong &&
		      r.toobig == bdat_cases[i].toobig &&
		      r.hops == bdat_cases[i].hops &&
		      (!bdat_cases[i].out || (smtp_data_ok(&r) &&
		       strcmp(got, bdat_cases[i].out) == 0 &&
		       r.size == strlen(got))));
	smtp_body_free(&b);
	close(fd);
}

static void test_bdat(void)
{
	for (size_t i = 0; i < sizeof bdat_cases / sizeof bdat_cases[0]; i++) {
		bdat_feed(i, -1);
		for (size_t cut = 0; cut <= strlen(bdat_cases[i].in); cut++)
			bdat_feed(i, (long)cut);
	}
}

/* legacy_bare_lf (smtp_data_copy_lf with lf_ok): a lone LF ends a line
 * and goes out as CRLF, but never ends the data: only CRLF "." CRLF
 * after a CRLF does, so what follows a "\n.\n" stays text; a lone CR
 * still spoils the message. */
static const struct data_case lf_cases[] = {
	{ "lf: bare LF lines become CRLF", "a\nb\n\nc\r\n.\r\nQUIT\r\n", 0,
	  "a\r\nb\r\n\r\nc\r\n", 0, 0, 0, "QUIT" },
	{ "lf: \\n.\\n is text", "a\r\n\n.\nMAIL FROM:<x@evil>\r\n.\r\nQUIT\r\n",
	  0, "a\r\n\r\n\r\nMAIL FROM:<x@evil>\r\n", 0, 0, 0, "QUIT" },
	{ "lf: \\n.\\r\\n is text", "a\n.\r\nDATA\r\n.\r\nNOOP\r\n", 0,
	  "a\r\n\r\nDATA\r\n", 0, 0, 0, "NOOP" },
	{ "lf: \\r\\n.\\n is text", "x\r\n.\nRSET\r\n.\r\nNOOP\r\n", 0,
	  "x\r\n\r\nRSET\r\n", 0, 0, 0, "NOOP" },
	{ "lf: a lone CR still refused", "a\rb\r\n.\r\n", 0, NULL, 1, 0, 0, NULL },
	{ "lf: \\n.\\n at EOF never ends", "a\n.\n", -1, NULL, 0, 0, 0, NULL },
};

int main(void)
{
	for (size_t i = 0; i < sizeof lf_cases / sizeof lf_cases[0]; i++)
		run_case(&lf_cases[i], 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], 0);
	test_line_limit();
	test_write_error();
	test_hops();
	test_bdat();
	return t_done();
}
