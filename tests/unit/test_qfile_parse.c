// links:
/* test_qfile_parse.c: qfile_parse, the queue file header read from
 * memory (relay-remote reads header and message in one read): the same
 * result as qfile_read on the same bytes, the message's offset and size,
 * and each way a buffer can be wrong (cut inside the header, not a queue
 * file, a NUL in the header, missing fields); the seal line (second,
 * relay-queue's own) is read past, never an info field, and qfile_format
 * writes it as zeros. */
#include "qfile.h"
#include "t.h"

#include <stdlib.h>
#include <unistd.h>

#define GOOD "relaybox-queue 1\nqid=AB12\ntime=1795432783\nip=192.0.2.7\n" \
	     "from=a@example.com\nrcpt=b@example.org\nrcpt=c@example.net\n\n"

static const struct {
	const char *name;
	const char *buf;   /* the file's bytes */
	size_t len;        /* bytes given to qfile_parse (0: all) */
	const char *err;   /* NULL: parses */
} cases[] = {
	{ "header and message", GOOD "Subject: x\r\n\r\nbody\r\n", 0, NULL },
	{ "header only, empty message", GOOD, 0, NULL },
	{ "cut inside the header", GOOD "x", 30, "header longer than the read" },
	{ "no end of header", "relaybox-queue 1\nqid=A\n", 0, "truncated header" },
	{ "not a queue file", "hello 1\nqid=A\nfrom=\nrcpt=b@c.d\n\nx", 0,
	  "not a queue file" },
	{ "NUL in the header", "relaybox-queue 1\nqid=A\0\nfrom=\nrcpt=b@c.d\n\n",
	  42, "not a queue file" },
	{ "no recipient", "relaybox-queue 1\nqid=A\nfrom=a@b.c\n\nx", 0,
	  "incomplete header" },
	{ "empty", "", 0, "truncated header" },
};

/* qfile_read on a file holding buf: the reference. */
static int read_ref(const char *buf, size_t len, struct qfile *q)
{
	char path[] = "/tmp/test_qfile_parse.XXXXXX", err[128];
	int fd = mkstemp(path), rc;

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		exit(1);
	unlink(path);
	rc = qfile_read(fd, q, err, sizeof err);
	close(fd);
	return rc;
}

static void check_same(const char *name, const struct qfile *a,
		       const struct qfile *b)
{
	char n[200];
	int same = strcmp(a->qid, b->qid) == 0 && a->arrival == b->arrival &&
		   strcmp(a->from, b->from) == 0 && a->nrcpt == b->nrcpt &&
		   a->ninfo == b->ninfo && a->body == b->body &&
		   a->size == b->size;
	for (size_t i = 0; same && i < a->nrcpt; i++)
		same = strcmp(a->rcpt[i], b->rcpt[i]) == 0;
	snprintf(n, sizeof n, "%s: same as qfile_read", name);
	T_CHECK(n, same);
}

#define ZEROS16 "0000000000000000"
#define ZEROS64 ZEROS16 ZEROS16 ZEROS16 ZEROS16
#define SEALED "relaybox-queue 1\nseal=" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n" \
	"qid=AB12\ntime=1795432783\nip=192.0.2.7\n" \
	"from=a@example.com\nrcpt=b@example.org\n\n"

static void test_seal_read(void)
{
	const char *buf = SEALED "Subject: x\r\n\r\nbody\r\n";
	struct qfile q;
	char err[128] = "";
	int rc = qfile_parse(&q, buf, strlen(buf), (off_t)strlen(buf), err,
			     sizeof err);

	T_CHECK("seal line: parses", rc == 0);
	if (rc < 0)
		return;
	T_CHECK("seal line: not an info field",
		qfile_get_info(&q, "seal") == NULL && q.ninfo == 1);
	T_STREQ("seal line: the fields after it read", qfile_get_info(&q, "ip"),
		"192.0.2.7");
	T_STREQ("seal line: qid", q.qid, "AB12");
	T_CHECK("seal line: message offset", q.body == (off_t)strlen(SEALED));
	qfile_free(&q);
}

static void test_seal_format(void)
{
	static const char want[] = "relaybox-queue 1\nseal=" ZEROS64 "\nqid=";
	char *rcpts[] = { "b@example.org" };
	struct qfile q = { .arrival = 1795432783, .from = "a@example.com",
			   .rcpt = rcpts, .nrcpt = 1 }, r;
	char err[128] = "", *hdr;
	size_t len;
	int rc;

	strcpy(q.qid, "6B04214FE16FE028A60");
	hdr = qfile_format(&q, &len);
	T_CHECK("format: the seal is the second line, zeros until sealed",
		hdr && len > sizeof want &&
			memcmp(hdr, want, sizeof want - 1) == 0);
	rc = hdr ? qfile_parse(&r, hdr, len, (off_t)len, err, sizeof err) : -1;
	T_CHECK("format: read back, it is no info field",
		rc == 0 && r.ninfo == 0 && qfile_get_info(&r, "seal") == NULL);
	if (rc == 0)
		qfile_free(&r);
	free(hdr);
}

int main(void)
{
	test_seal_read();
	test_seal_format();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t all = cases[i].err && cases[i].len ? cases[i].len
							  : strlen(cases[i].buf);
		size_t len = cases[i].len ? cases[i].len : all;
		struct qfile q, ref;
		char err[128] = "", n[200];
		int rc = qfile_parse(&q, cases[i].buf, len,
				     (off_t)strlen(cases[i].buf), err, sizeof err);
		snprintf(n, sizeof n, "%s: %s", cases[i].name,
			 cases[i].err ? cases[i].err : "parses");
		if (cases[i].err) {
			T_CHECK(n, rc < 0 && strcmp(err, cases[i].err) == 0);
			continue;
		}
		T_CHECK(n, rc == 0);
		if (rc < 0 || read_ref(cases[i].buf, all, &ref) < 0)
			continue;
		check_same(cases[i].name, &q, &ref);
		snprintf(n, sizeof n, "%s: message offset", cases[i].name);
		T_CHECK(n, q.body == (off_t)strlen(GOOD) &&
			       q.size == (off_t)all);
		qfile_free(&q);
		qfile_free(&ref);
	}
	return t_done();
}
