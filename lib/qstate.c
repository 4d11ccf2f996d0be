/* qstate.c: the recipient state file of a queued message (qstate.h). */
#include "qstate.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qstate_init(struct qstate *s, size_t nrcpt)
{
	memset(s, 0, sizeof *s);
	s->r = calloc(nrcpt ? nrcpt : 1, sizeof *s->r);
	if (!s->r)
		return -1;
	s->n = nrcpt;
	for (size_t i = 0; i < nrcpt; i++)
		s->r[i].status = 'P';
	return 0;
}

void qstate_free(struct qstate *s)
{
	free(s->r);
	s->r = NULL;
	s->n = 0;
}

static int qs_result(struct qstate *s, const char *line)
{
	unsigned long idx;
	long long t, next;
	int code, off = 0;
	char st;

	if (sscanf(line, "%lu %c %lld %lld %d %n", &idx, &st, &t, &next, &code,
		   &off) != 5 || off == 0 || idx >= s->n ||
	    (st != 'D' && st != 'T' && st != 'B'))
		return -1;
	struct qstate_rcpt *r = &s->r[idx];
	if (r->status == 'D' || r->status == 'B')
		return 0; /* final stays final (a duplicate line after a crash) */
	r->status = st;
	r->last = t;
	r->next = st == 'T' ? next : 0;
	r->expired = st == 'B' ? next : 0;
	r->code = code;
	r->attempts += !r->expired; /* an expiry is no attempt */
	snprintf(r->text, sizeof r->text, "%s", line + off);
	return 0;
}

int qstate_apply(struct qstate *s, const char *line)
{
	long long t;
	char q[64];

	if (line[0] == 'W')
		return sscanf(line, "W %lld", &s->warned) == 1 ? 0 : -1;
	if (line[0] == 'X') {
		if (sscanf(line, "X %lld %63s", &t, q) != 2)
			return -1;
		s->bounced = t;
		snprintf(s->bounce_qid, sizeof s->bounce_qid, "%s", q);
		return 0;
	}
	return qs_result(s, line);
}

int qstate_load(const char *path, struct qstate *s)
{
	FILE *f = fopen(path, "re");
	char line[QSTATE_LINE_MAX + 2];
	int n = 0;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	s->file = 1;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n')
			break; /* torn or overlong: ignore the rest */
		line[len - 1] = '\0';
		if (qstate_apply(s, line) == 0)
			n++;
	}
	fclose(f);
	return n;
}

size_t qstate_format(char *buf, size_t n, size_t idx, char st, long long t,
		     long long next, int code, const char *text)
{
	int k = snprintf(buf, n, "%zu %c %lld %lld %d ", idx, st, t, next,
			 code);
	size_t len;

	if (k < 0 || (size_t)k + 2 >= n)
		return 0;
	len = (size_t)k;
	for (; *text && len + 2 < n && len < QSTATE_LINE_MAX - 1; text++) {
		unsigned char c = (unsigned char)*text;
		buf[len++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

int qstate_append(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	int rc = 0, e;

	if (fd < 0)
		return -1;
	if (io_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		rc = -1;
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

size_t qstate_pending(const struct qstate *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].status != 'D' && s->r[i].status != 'B')
			k++;
	return k;
}
