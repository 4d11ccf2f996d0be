/* qfile.c: reading and writing the header of a queue file (qfile.h). */
#include "qfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -1 with the reason in err and errno e: EBADMSG for a file that is
 * not a whole queue file (qfile.h), else the system's. */
static int qf_err(char *err, size_t errsz, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int qf_err(char *err, size_t errsz, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	errno = e;
	return -1;
}

int qfile_value_ok(const char *v, size_t max)
{
	size_t n = 0;
	for (; *v; v++, n++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || n >= max)
			return 0;
	return 1;
}

/* Read from offset 0 until the header's empty line; returns the header
 * (NUL-terminated, the final "\n\n" kept) and its length. */
static char *qf_slurp(int fd, size_t *hlen, char *err, size_t errsz)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap + 1), *end;

	while (buf) {
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			qf_err(err, errsz, n < 0 ? errno : EBADMSG,
			       n < 0 ? "read: %s" : "%s",
			       n < 0 ? strerror(errno) : "truncated header");
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\n\n");
		if (end) {
			*hlen = (size_t)(end - buf) + 2;
			buf[*hlen] = '\0';
			return buf;
		}
		if (len == cap) {
			char *nb;
			if (cap >= (size_t)QFILE_HEADER_MAX) {
				qf_err(err, errsz, EBADMSG, "header too long");
				break;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				qf_err(err, errsz, ENOMEM, "out of memory");
				break;
			}
			buf = nb;
		}
	}
	if (!buf)
		qf_err(err, errsz, ENOMEM, "out of memory");
	int e = errno;
	free(buf);
	errno = e;
	return NULL;
}

int qfile_add_rcpt(struct qfile *q, char *v, size_t *cap)
{
	if (q->nrcpt == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **nr = realloc(q->rcpt, ncap * sizeof *nr);
		if (!nr)
			return -1;
		q->rcpt = nr;
		*cap = ncap;
	}
	q->rcpt[q->nrcpt++] = v;
	return 0;
}

int qfile_set_dsn(struct qfile *q, size_t i, const struct dsn_rcpt *r)
{
	if (i >= q->dsncap) {
		size_t ncap = q->dsncap ? q->dsncap : 16;
		struct dsn_rcpt *nd;
		while (ncap <= i)
			ncap *= 2;
		if (!(nd = realloc(q->dsn, ncap * sizeof *nd)))
			return -1;
		memset(nd + q->dsncap, 0, (ncap - q->dsncap) * sizeof *nd);
		q->dsn = nd;
		q->dsncap = ncap;
	}
	q->dsn[i] = *r;
	return 0;
}

struct dsn_rcpt qfile_dsn(const struct qfile *q, size_t i)
{
	struct dsn_rcpt none = { 0, NULL };
	return q->dsn && i < q->dsncap ? q->dsn[i] : none;
}

/* "dsn_rcpt=<index> <NOTIFY> <ORCPT>": after its recipient's line. */
static int qf_dsn_line(struct qfile *q, char *v, char *err, size_t errsz)
{
	struct dsn_rcpt r;
	char *end;
	unsigned long i;

	if (*v < '0' || *v > '9')
		return qf_err(err, errsz, EBADMSG, "bad dsn_rcpt line");
	i = strtoul(v, &end, 10);
	if (*end != ' ' || i >= q->nrcpt || dsn_rcpt_parse(end + 1, &r) < 0)
		return qf_err(err, errsz, EBADMSG, "bad dsn_rcpt line");
	if (qfile_set_dsn(q, i, &r) < 0)
		return qf_err(err, errsz, ENOMEM, "out of memory");
	return 0;
}

/* One "key=value" header line. */
static int qf_line(struct qfile *q, char *line, size_t *rcap, char *err,
		   size_t errsz)
{
	char *eq = strchr(line, '=');
	/* an empty key could not be written back (qf_put) */
	if (!eq || eq == line)
		return qf_err(err, errsz, EBADMSG, "bad header line");
	*eq = '\0';
	char *v = eq + 1;
	if (strcmp(line, "qid") == 0) {
		if (strlen(v) >= sizeof q->qid)
			return qf_err(err, errsz, EBADMSG, "qid too long");
		strcpy(q->qid, v);
	} else if (strcmp(line, "time") == 0) {
		q->arrival = strtoll(v, NULL, 10);
	} else if (strcmp(line, "from") == 0) {
		q->from = v;
	} else if (strcmp(line, "rcpt") == 0) {
		if (qfile_add_rcpt(q, v, rcap) < 0)
			return qf_err(err, errsz, ENOMEM, "out of memory");
	} else if (strcmp(line, DSN_KEY_RCPT) == 0) {
		return qf_dsn_line(q, v, err, errsz);
	} else if (strcmp(line, QFILE_SEAL_KEY) == 0) {
		/* relay-queue's (queue_seal.c), not an envelope field */
	} else if (q->ninfo < QFILE_INFO_MAX) {
		q->info[q->ninfo].key = line;
		q->info[q->ninfo++].value = v;
	}
	return 0;
}

/* Parse the header in q->hdr (NUL-terminated, its final "\n\n" kept);
 * frees it on failure. */
static int qf_parse(struct qfile *q, char *err, size_t errsz)
{
	size_t rcap = 0;
	char *p = q->hdr, *nl;

	nl = strchr(p, '\n');
	*nl = '\0';
	if (strcmp(p, QFILE_MAGIC) != 0) {
		qfile_free(q);
		return qf_err(err, errsz, EBADMSG, "not a queue file");
	}
	for (p = nl + 1; *p != '\n'; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (qf_line(q, p, &rcap, err, errsz) < 0) {
			qfile_free(q);
			return -1;
		}
	}
	if (!q->qid[0] || !q->from || q->nrcpt == 0) {
		qfile_free(q);
		return qf_err(err, errsz, EBADMSG, "incomplete header");
	}
	return 0;
}

int qfile_read(int fd, struct qfile *q, char *err, size_t errsz)
{
	size_t hlen;
	struct stat st;

	memset(q, 0, sizeof *q);
	if (fstat(fd, &st) < 0)
		return qf_err(err, errsz, errno, "fstat: %s", strerror(errno));
	q->hdr = qf_slurp(fd, &hlen, err, errsz);
	if (!q->hdr)
		return -1;
	q->body = (off_t)hlen;
	q->size = st.st_size;
	return qf_parse(q, err, errsz);
}

int qfile_parse(struct qfile *q, const char *buf, size_t len, off_t size,
		char *err, size_t errsz)
{
	const char *end = memmem(buf, len, "\n\n", 2);
	size_t hlen;

	memset(q, 0, sizeof *q);
	if (!end)
		return qf_err(err, errsz, EBADMSG, "%s", len < (size_t)size
			      ? "header longer than the read" : "truncated header");
	hlen = (size_t)(end - buf) + 2;
	if (memchr(buf, '\0', hlen))
		return qf_err(err, errsz, EBADMSG, "not a queue file");
	if (!(q->hdr = malloc(hlen + 1)))
		return qf_err(err, errsz, ENOMEM, "out of memory");
	memcpy(q->hdr, buf, hlen);
	q->hdr[hlen] = '\0';
	q->body = (off_t)hlen;
	q->size = size;
	return qf_parse(q, err, errsz);
}

/* Files shorter than this are read whole in one read, header and
 * message, and parsed from memory: no fstat, no second read. */
#define QF_LOAD_READ 16384

int qfile_load_fd(int fd, struct qfile *q, char *err, size_t errsz)
{
	char buf[QF_LOAD_READ];
	ssize_t n;

	do
		n = pread(fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n < sizeof buf) /* short: the file ends here */
		return qfile_parse(q, buf, (size_t)n, (off_t)n, err, errsz);
	return qfile_read(fd, q, err, errsz);
}

int qfile_load(const char *path, struct qfile *q, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		memset(q, 0, sizeof *q);
		return qf_err(err, errsz, errno, "%s: %s", path, strerror(errno));
	}
	rc = qfile_load_fd(fd, q, err, errsz);
	close(fd);
	return rc;
}

int qfile_id_ok(const char *s)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'F')))
			return 0;
	return n > 0 && n < QFILE_ID_MAX;
}

void qfile_free(struct qfile *q)
{
	free(q->rcpt);
	free(q->hdr);
	free(q->dsn);
	q->dsn = NULL;
	q->dsncap = 0;
	q->rcpt = NULL;
	q->hdr = NULL;
	q->nrcpt = 0;
}

const char *qfile_get_info(const struct qfile *q, const char *key)
{
	for (size_t i = 0; i < q->ninfo; i++)
		if (strcmp(q->info[i].key, key) == 0)
			return q->info[i].value;
	return NULL;
}

/* Append "key=value\n" to a growing buffer. */
static int qf_put(char **buf, size_t *len, size_t *cap, const char *key,
		  const char *val)
{
	size_t need = strlen(key) + strlen(val) + 3;
	if (*len + need + 2 > *cap) {
		size_t ncap = (*cap + need) * 2;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	*len += (size_t)sprintf(*buf + *len, "%s%s%s\n", key, *key ? "=" : "",
				val);
	return 0;
}

char *qfile_format(const struct qfile *q, size_t *len)
{
	size_t cap = 1024;
	char *buf = malloc(cap), num[32], zeros[QFILE_SEAL_HEX + 1];
	int bad = !buf;

	*len = 0;
	snprintf(num, sizeof num, "%lld", q->arrival);
	memset(zeros, '0', QFILE_SEAL_HEX);
	zeros[QFILE_SEAL_HEX] = '\0';
	bad = bad || qf_put(&buf, len, &cap, "", QFILE_MAGIC) ||
	      qf_put(&buf, len, &cap, QFILE_SEAL_KEY, zeros) ||
	      qf_put(&buf, len, &cap, "qid", q->qid) ||
	      qf_put(&buf, len, &cap, "time", num);
	for (size_t i = 0; !bad && i < q->ninfo; i++)
		bad = qf_put(&buf, len, &cap, q->info[i].key, q->info[i].value);
	bad = bad || qf_put(&buf, len, &cap, "from", q->from ? q->from : "");
	for (size_t i = 0; !bad && i < q->nrcpt; i++) {
		struct dsn_rcpt d = qfile_dsn(q, i);
		char t[DSN_RCPT_TEXT + 32];
		bad = qf_put(&buf, len, &cap, "rcpt", q->rcpt[i]);
		if (!bad && (d.notify || d.orcpt)) {
			snprintf(t, sizeof t, "%zu ", i);
			dsn_rcpt_format(&d, t + strlen(t));
			bad = qf_put(&buf, len, &cap, DSN_KEY_RCPT, t);
		}
	}
	if (bad) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	buf[(*len)++] = '\n';
	buf[*len] = '\0';
	if (*len > (size_t)QFILE_HEADER_MAX) { /* qf_slurp would refuse it */
		free(buf);
		errno = EMSGSIZE;
		return NULL;
	}
	return buf;
}
