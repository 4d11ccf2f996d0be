/* test_qfile_max.c: QFILE_HEADER_MAX is one limit for the writer and the
 * readers.  A header of exactly QFILE_HEADER_MAX bytes is written and
 * read back from a file (the readers' path for a big header); one byte
 * more is refused by qfile_format itself (EMSGSIZE), so relay-queue can
 * never acknowledge a file relay-send and relayctl cannot read.  The
 * headers are made of long recipients and DSN lines, the expansion an
 * envelope under relay-queue's own limit can reach. */
#include "qfile.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_qfile_max.XXXXXX";

/* nrcpt recipients of one long address, each with an ORCPT; the sender
 * pads the header (big_pad). */
struct big {
	struct qfile q;
	char *from, *addr;
};

static size_t big_make(struct big *b, size_t nrcpt)
{
	struct dsn_rcpt d = { DSN_NOTIFY_NEVER, NULL };
	char *orcpt = malloc(500);

	memset(b, 0, sizeof *b);
	b->addr = malloc(260);
	b->from = calloc(1, 1);
	memset(b->addr, 'a', 64);
	strcpy(b->addr + 64, "@example.org");
	strcpy(orcpt, "rfc822;");
	memset(orcpt + 7, 'x', 400);
	strcpy(orcpt + 407, "@example.org");
	d.orcpt = orcpt;
	b->q.rcpt = malloc(nrcpt * sizeof *b->q.rcpt);
	b->q.nrcpt = nrcpt;
	b->q.from = b->from;
	b->q.arrival = 1795432783;
	strcpy(b->q.qid, "6B04214FE16FE028A60");
	for (size_t i = 0; i < nrcpt; i++) {
		b->q.rcpt[i] = b->addr;
		qfile_set_dsn(&b->q, i, &d);
	}
	return nrcpt;
}

/* Pad the sender so that the header is exactly want bytes. */
static int big_pad(struct big *b, size_t want)
{
	size_t len;
	char *hdr = qfile_format(&b->q, &len);

	free(hdr);
	if (!hdr || len > want)
		return -1;
	free(b->from);
	b->from = malloc(want - len + 1);
	memset(b->from, 'f', want - len);
	b->from[want - len] = '\0';
	b->q.from = b->from;
	return 0;
}

static void big_free(struct big *b)
{
	free((char *)qfile_dsn(&b->q, 0).orcpt);
	free(b->q.dsn);
	free(b->q.rcpt);
	free(b->from);
	free(b->addr);
}

/* Write hdr and a message to a file and read it back as relay-send does. */
static int read_back(const char *hdr, size_t len, size_t *nrcpt, char *err,
		     size_t errsz)
{
	char path[300];
	struct qfile r;
	int fd, rc = -1;

	snprintf(path, sizeof path, "%s/q", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, hdr, len) == (ssize_t)len &&
	    write(fd, "Subject: x\r\n\r\nx\r\n", 17) == 17 && close(fd) == 0)
		rc = qfile_load(path, &r, err, errsz);
	else
		close(fd);
	if (rc == 0) {
		*nrcpt = r.nrcpt;
		qfile_free(&r);
	}
	unlink(path);
	return rc;
}

int main(void)
{
	/* a recipient's two lines are ~530 bytes: a header at the limit */
	size_t n, len, got = 0;
	struct big b;
	char err[200] = "", *hdr;

	if (!mkdtemp(tmpdir))
		return 1;
	n = big_make(&b, (size_t)QFILE_HEADER_MAX / 530);
	T_CHECK("max: padded to exactly QFILE_HEADER_MAX",
		big_pad(&b, (size_t)QFILE_HEADER_MAX) == 0);
	hdr = qfile_format(&b.q, &len);
	T_CHECK("max: formatted", hdr && len == (size_t)QFILE_HEADER_MAX);
	T_CHECK("max: read back from a file",
		hdr && read_back(hdr, len, &got, err, sizeof err) == 0 &&
			got == n);
	if (err[0])
		printf("# %s\n", err);
	free(hdr);

	/* one byte more: the writer refuses what the reader would */
	b.from = realloc(b.from, strlen(b.from) + 2);
	strcat(b.from, "f");
	b.q.from = b.from;
	errno = 0;
	hdr = qfile_format(&b.q, &len);
	T_CHECK("max + 1: qfile_format refuses it (EMSGSIZE)",
		!hdr && errno == EMSGSIZE);
	err[0] = '\0';
	T_CHECK("max + 1: the reader would not read it either",
		!hdr || read_back(hdr, len, &got, err, sizeof err) < 0);
	if (err[0])
		printf("# %s\n", err);
	free(hdr);
	big_free(&b);
	rmdir(tmpdir);
	return t_done();
}
