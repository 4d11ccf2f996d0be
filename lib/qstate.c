/* qstate.c: the recipient state file of a queued message (qstate.h). */
#include "qstate.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* "R <index>": that recipient's success notice is owed; "S <time>
 * <qid>": every owed one was injected. */
static int qs_owed(struct qstate *s, const char *line)
{
	unsigned long idx;
	long long t;
	char q[64];

	if (line[0] == 'S') {
		if (sscanf(line, "S %lld %63s", &t, q) != 2)
			return -1;
		for (size_t i = 0; i < s->n; i++)
			s->r[i].owed = 0;
		return 0;
	}
	if (sscanf(line, "R %lu", &idx) != 1 || idx >= s->n)
		return -1;
	s->r[idx].owed = 1;
	return 0;
}

int qstate_apply(struct qstate *s, const char *line)
{
	long long t;
	char q[64];

	if (line[0] == 'R' || line[0] == 'S')
		return qs_owed(s, line);
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

/* CRC-32 (IEEE 802.3), continued from crc. */
static uint32_t qs_crc(uint32_t crc, const char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= (unsigned char)*p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* A line's check: its file's name is in it, so that a line is right
 * only in its own file (old blocks of another state file are not). */
static uint32_t qs_check(const char *path, const char *line, size_t len)
{
	const char *name = strrchr(path, '/');

	name = name ? name + 1 : path;
	return qs_crc(qs_crc(qs_crc(0, name, strlen(name)), "\n", 1), line,
		      len);
}

/* One line of f into buf, without its '\n': 1; 0 for one that cannot be
 * a line (a NUL, too long), skipped whole; -1 at the end, where a last
 * line without '\n' is a torn write. */
static int qs_getline(FILE *f, char *buf, size_t size, size_t *len)
{
	size_t n = 0;
	int c, bad = 0;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0' || n + 1 >= size)
			bad = 1;
		else
			buf[n++] = (char)c;
	}
	if (c == EOF)
		return -1;
	buf[n] = '\0';
	*len = n;
	return !bad;
}

/* Take the check off line: 0, or -1 when the line is not to be read (a
 * wrong check, or no check after a line that had one: *checked). */
static int qs_verify(const char *path, char *line, size_t len, int *checked)
{
	char *tab = strrchr(line, '\t');

	if (!tab)
		return *checked ? -1 : 0;
	if ((size_t)(line + len - tab) != QSTATE_CHECK_LEN ||
	    strspn(tab + 1, "0123456789abcdef") != QSTATE_CHECK_LEN - 1)
		return -1;
	if (strtoul(tab + 1, NULL, 16) !=
	    qs_check(path, line, (size_t)(tab - line)))
		return -1;
	*tab = '\0';
	*checked = 1;
	return 0;
}

int qstate_load(const char *path, struct qstate *s)
{
	FILE *f = fopen(path, "re");
	char line[QSTATE_LINE_MAX + QSTATE_CHECK_LEN + 2];
	size_t len;
	int n = 0, rc, checked = 0;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	s->file = 1;
	while ((rc = qs_getline(f, line, sizeof line, &len)) >= 0)
		if (rc == 1 && qs_verify(path, line, len, &checked) == 0 &&
		    qstate_apply(s, line) == 0)
			n++;
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

/* 1 when the file does not end in '\n' (a fragment of a line that a
 * crash, or a failed append not cut off, left): the next line must not
 * continue it.  Unreadable counts as not ending in '\n'. */
static int qs_needs_newline(int fd, off_t size)
{
	char c;

	return size > 0 && (pread(fd, &c, 1, size - 1) != 1 || c != '\n');
}

/* buf's lines as they go on disk: each with its check, empty ones left
 * out, after a '\n' when nl.  NULL when out of memory. */
static char *qs_seal(const char *path, const char *buf, size_t len, int nl,
		     size_t *outlen)
{
	const char *p = buf, *end = buf + len;
	size_t lines = 1, cap, n = 0;
	char *out;

	for (const char *q = buf; (q = memchr(q, '\n', (size_t)(end - q)));
	     q++)
		lines++;
	cap = 2 + len + lines * (QSTATE_CHECK_LEN + 1);
	if (!(out = malloc(cap)))
		return NULL;
	if (nl)
		out[n++] = '\n';
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
		if (l) {
			memcpy(out + n, p, l);
			n += l;
			n += (size_t)snprintf(out + n, cap - n, "\t%08lx\n",
					      (unsigned long)qs_check(path, p,
								      l));
		}
		p = e ? e + 1 : end;
	}
	*outlen = n;
	return out;
}

int qstate_append(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct stat st;
	char *out = NULL;
	size_t n = 0;
	int rc = -1, e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 &&
	    (out = qs_seal(path, buf, len, qs_needs_newline(fd, st.st_size),
			   &n)) &&
	    io_write_all(fd, out, n) == 0 && fsync(fd) == 0)
		rc = 0;
	e = errno;
	/* a full disk stores what fits: cut it off, so the file is as it
	 * was (should that fail too, the next append starts a new line) */
	if (rc < 0 && out && ftruncate(fd, st.st_size) == 0)
		fsync(fd);
	free(out);
	close(fd);
	errno = e;
	return rc;
}

size_t qstate_owed(const struct qstate *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		k += s->r[i].owed != 0;
	return k;
}

size_t qstate_pending(const struct qstate *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].status != 'D' && s->r[i].status != 'B')
			k++;
	return k;
}
