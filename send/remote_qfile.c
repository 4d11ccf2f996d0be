/* remote_qfile.c: reading a queue file for delivery.  The header
 * (lib/qfile.c, queue/QUEUE.md) gives the envelope sender; the message
 * after it is streamed to the server through the dot-stuffer, so the
 * worker never holds a whole message in memory. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "qfile.h"

int remote_qfile_open(struct remote_qfile *q, const char *path, char *err,
		      size_t errsz)
{
	struct qfile h;

	q->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (q->fd < 0) {
		snprintf(err, errsz, "cannot open queue file: %s",
			 strerror(errno));
		return -1;
	}
	if (qfile_read(q->fd, &h, err, errsz) < 0) {
		close(q->fd);
		q->fd = -1;
		return -1;
	}
	if (strlen(h.from) >= sizeof q->sender || !remote_job_addr_ok(h.from)) {
		/* it goes into MAIL FROM: never let it carry a command */
		snprintf(err, errsz, "bad sender in the queue file");
		qfile_free(&h);
		close(q->fd);
		q->fd = -1;
		return -1;
	}
	snprintf(q->sender, sizeof q->sender, "%s", h.from);
	q->body_off = h.body;
	q->body_size = h.size - h.body;
	qfile_free(&h);
	return 0;
}

int remote_qfile_send(struct remote_qfile *q, struct io *io)
{
	char in[8192], out[2 * sizeof in + 8];
	struct remote_dot d;
	off_t off = q->body_off;

	remote_dot_init(&d);
	for (;;) {
		ssize_t r = pread(q->fd, in, sizeof in, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		off += r;
		if (io_put(io, out, remote_dot_stuff(&d, in, (size_t)r, out)) < 0)
			return -1;
	}
	if (io_put(io, out, remote_dot_end(&d, out)) < 0)
		return -1;
	return io_flush(io);
}

void remote_qfile_close(struct remote_qfile *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}
