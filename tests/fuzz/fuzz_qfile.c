/* fuzz_qfile.c: qfile_read (the queue file header that relay-send,
 * relay-remote and relayctl trust) on arbitrary bytes.  A header that
 * reads must format back to bytes that read to the same envelope. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qfile.h"

static int fq_memfd(const void *data, size_t size)
{
	int fd = memfd_create("fuzzq", 0);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	return fd;
}

static void fq_same(const struct qfile *a, const struct qfile *b)
{
	if (strcmp(a->qid, b->qid) || a->arrival != b->arrival ||
	    strcmp(a->from, b->from) || a->nrcpt != b->nrcpt ||
	    a->ninfo != b->ninfo)
		abort();
	for (size_t i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i], b->rcpt[i]))
			abort();
	for (size_t i = 0; i < a->ninfo; i++)
		if (strcmp(a->info[i].key, b->info[i].key) ||
		    strcmp(a->info[i].value, b->info[i].value))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qfile q, q2;
	char err[256];
	int fd = fq_memfd(data, size), fd2;
	size_t len;
	char *hdr;

	if (qfile_read(fd, &q, err, sizeof err) == 0) {
		if (q.body < 0 || q.body > q.size || q.size != (off_t)size)
			abort();
		hdr = qfile_format(&q, &len);
		if (!hdr)
			abort();
		fd2 = fq_memfd(hdr, len);
		if (qfile_read(fd2, &q2, err, sizeof err) < 0)
			abort();
		fq_same(&q, &q2);
		qfile_free(&q2);
		close(fd2);
		free(hdr);
		qfile_free(&q);
	}
	close(fd);
	return 0;
}
