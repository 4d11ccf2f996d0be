/* remote_qfile.c: reading a queue file for delivery.  The header
 * (lib/qfile.c, queue/QUEUE.md) gives the envelope sender; the message
 * after it goes to the server through the dot-stuffer.  One read takes
 * the whole file when it is at most REMOTE_QFILE_READ bytes (the usual
 * case: header and message in one system call); a bigger message is
 * streamed from the file after that first part, so the worker never
 * holds more than that in memory. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qfile.h"

/* The first-read buffers are kept for the next jobs instead of going
 * back to malloc: freeing a chunk this big makes glibc consolidate its
 * free lists each time (a few per cent of a worker's CPU).  Two: the
 * job being sent and the one read ahead behind it (remote_worker.c). */
static char *qfile_spare[2];

static char *qfile_buf_get(void)
{
	for (size_t i = 0; i < 2; i++)
		if (qfile_spare[i]) {
			char *b = qfile_spare[i];
			qfile_spare[i] = NULL;
			return b;
		}
	return malloc(REMOTE_QFILE_READ);
}

static void qfile_buf_put(char *b)
{
	for (size_t i = 0; b && i < 2; i++)
		if (!qfile_spare[i]) {
			qfile_spare[i] = b;
			return;
		}
	free(b);
}

static int qfile_fail(struct remote_qfile *q, char *err, size_t errsz,
		      const char *why)
{
	if (why)
		snprintf(err, errsz, "%s", why);
	qfile_buf_put(q->buf);
	q->buf = NULL;
	close(q->fd);
	q->fd = -1;
	return -1;
}

/* The first read: up to REMOTE_QFILE_READ bytes from offset 0.  When it
 * comes back short the file ended there (a queue file in new/ is
 * complete and never written again). */
static ssize_t qfile_first(struct remote_qfile *q)
{
	ssize_t r;

	do
		r = pread(q->fd, q->buf, REMOTE_QFILE_READ, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

int remote_qfile_open(struct remote_qfile *q, const char *path, char *err,
		      size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		memset(q, 0, sizeof *q);
		q->fd = -1;
		snprintf(err, errsz, "cannot open queue file: %s",
			 strerror(errno));
		return -1;
	}
	return remote_qfile_open_fd(q, fd, err, errsz);
}

int remote_qfile_open_fd(struct remote_qfile *q, int fd, char *err,
			 size_t errsz)
{
	struct qfile h;
	ssize_t r;
	int rc;

	memset(q, 0, sizeof *q);
	q->fd = fd;
	if (!(q->buf = qfile_buf_get()))
		return qfile_fail(q, err, errsz, "out of memory");
	if ((r = qfile_first(q)) < 0) {
		snprintf(err, errsz, "read: %s", strerror(errno));
		return qfile_fail(q, err, errsz, NULL);
	}
	q->len = (size_t)r;
	if (q->len < REMOTE_QFILE_READ)
		rc = qfile_parse(&h, q->buf, q->len, (off_t)q->len, err, errsz);
	else /* bigger: the header may go on past the read */
		rc = qfile_read(q->fd, &h, err, errsz);
	if (rc < 0)
		return qfile_fail(q, err, errsz, NULL);
	if (*h.from && addr_mailbox_check(h.from, 1) != ADDR_OK) {
		/* it goes into MAIL FROM: never let it carry a command */
		qfile_free(&h);
		return qfile_fail(q, err, errsz, "bad sender in the queue file");
	}
	snprintf(q->sender, sizeof q->sender, "%s", h.from);
	q->body_off = h.body;
	q->body_size = h.size - h.body;
	q->hdr = h; /* its DSN parameters go on with the job */
	return 0;
}

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

int remote_qfile_8bit(struct remote_qfile *q)
{
	char in[8192];
	off_t off = q->body_off, end = q->body_off + q->body_size;

	while (!q->bit8 && off < end) {
		size_t want = (off_t)sizeof in > end - off ? (size_t)(end - off)
							    : sizeof in;
		const char *p = in;
		ssize_t r;
		if ((size_t)off < q->len) { /* from the first read */
			p = q->buf + off;
			r = (ssize_t)((size_t)off + want <= q->len
				      ? want : q->len - (size_t)off);
		} else if ((r = pread(q->fd, in, want, off)) <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		if (has_8bit(p, (size_t)r))
			q->bit8 = 2;
		off += r;
	}
	if (!q->bit8)
		q->bit8 = 1;
	return q->bit8 == 2;
}

int remote_qfile_smtputf8(const struct remote_qfile *q)
{
	const char *v = qfile_get_info(&q->hdr, QFILE_INFO_SMTPUTF8);

	return v && strcmp(v, QFILE_INFO_YES) == 0;
}

int remote_qfile_put(struct remote_qfile *q, struct io *io)
{
	char in[8192], out[2 * sizeof in + 8];
	struct remote_dot d;
	off_t off = q->body_off, end = q->body_off + q->body_size;

	remote_dot_init(&d);
	while (off < end) {
		const char *p = in;
		ssize_t r;
		size_t want = sizeof in;
		if ((off_t)want > end - off)
			want = (size_t)(end - off);
		if ((size_t)off < q->len) { /* from the first read */
			p = q->buf + off;
			r = (ssize_t)((size_t)off + want <= q->len
				      ? want : q->len - (size_t)off);
		} else {
			r = pread(q->fd, in, want, off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1; /* shorter than it was: broken */
		}
		off += r;
		if (io_put(io, out, remote_dot_stuff(&d, p, (size_t)r, out)) < 0)
			return -1;
	}
	return io_put(io, out, remote_dot_end(&d, out));
}

int remote_qfile_small(const struct remote_qfile *q)
{
	return q->body_off + q->body_size <= (off_t)q->len;
}

/* The message from q->buf through a raw converter: to io, or (io NULL)
 * only counted.  The bytes it makes (what BDAT announces). */
static size_t qfile_raw(const struct remote_qfile *q, struct io *io, int *err)
{
	char out[2 * 8192 + 8];
	const char *p = q->buf + q->body_off;
	size_t left = (size_t)q->body_size, total = 0, n;
	struct remote_dot d;

	remote_dot_init_raw(&d);
	while (left) {
		size_t k = left < 8192 ? left : 8192;
		n = remote_dot_stuff(&d, p, k, out);
		if (io && io_put(io, out, n) < 0)
			*err = 1;
		total += n;
		p += k;
		left -= k;
	}
	n = remote_dot_tail(&d, out);
	if (io && io_put(io, out, n) < 0)
		*err = 1;
	return total + n;
}

int remote_qfile_put_bdat(struct remote_qfile *q, struct io *io)
{
	int err = 0;

	if (!remote_qfile_small(q))
		return -1;
	if (io_printf(io, "BDAT %zu LAST\r\n", qfile_raw(q, NULL, &err)) < 0)
		return -1;
	qfile_raw(q, io, &err);
	return err ? -1 : 0;
}

int remote_qfile_send(struct remote_qfile *q, struct io *io)
{
	if (remote_qfile_put(q, io) < 0)
		return -1;
	return io_flush(io);
}

void remote_qfile_close(struct remote_qfile *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	qfile_buf_put(q->buf);
	q->buf = NULL;
	qfile_free(&q->hdr);
}
