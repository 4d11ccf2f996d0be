/* queue_spool.c: the message arrives before the envelope, but the queue
 * file starts with the envelope and the Received header that depends on
 * it.  So the message is held here first: in memory up to SPOOL_MEM
 * bytes (most mail), beyond that in an unlinked file in queue/tmp. */
#include "queue.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPOOL_MEM (1024 * 1024)

void queue_spool_init(struct queue_spool *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->dir = dir;
}

/* Move to the overflow file when memory would pass SPOOL_MEM. */
static int spool_spill(struct queue_spool *s)
{
	s->fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return -1;
	if (io_write_all(s->fd, s->mem, s->len) < 0)
		return -1;
	free(s->mem);
	s->mem = NULL;
	s->len = s->cap = 0;
	return 0;
}

int queue_spool_add(struct queue_spool *s, const char *p, size_t n)
{
	if (s->max && (off_t)n > s->max - s->total) {
		errno = EFBIG;
		return -1;
	}
	if (s->tap)
		s->tap(s->tap_arg, p, n);
	s->total += (off_t)n;
	if (s->fd < 0 && s->len + n > SPOOL_MEM && spool_spill(s) < 0)
		return -1;
	if (s->fd >= 0)
		return io_write_all(s->fd, p, n);
	if (s->len + n > s->cap) {
		size_t ncap = s->cap ? s->cap : 16384;
		while (ncap < s->len + n)
			ncap *= 2;
		char *nm = realloc(s->mem, ncap);
		if (!nm) {
			errno = ENOMEM;
			return -1;
		}
		s->mem = nm;
		s->cap = ncap;
	}
	memcpy(s->mem + s->len, p, n);
	s->len += n;
	return 0;
}

int queue_spool_feed(struct queue_spool *s, int fd)
{
	char buf[65536];
	for (size_t got = 0; got < QUEUE_READ_STEP;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			return 1;
		if (queue_spool_add(s, buf, (size_t)n) < 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int queue_spool_fill(struct queue_spool *s, int fd)
{
	int rc;
	while ((rc = queue_spool_feed(s, fd)) == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return rc < 0 ? -1 : 0;
}

int queue_spool_copy(struct queue_spool *s, int fd, struct queue_seal *seal)
{
	off_t off = 0;

	if (s->fd < 0) {
		if (seal)
			queue_seal_add(seal, s->mem ? s->mem : "", s->len);
		return io_write_all(fd, s->mem ? s->mem : "", s->len);
	}
	while (off < s->total) {
		char buf[65536];
		ssize_t n = pread(s->fd, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (seal)
			queue_seal_add(seal, buf, (size_t)n);
		if (io_write_all(fd, buf, (size_t)n) < 0)
			return -1;
		off += n;
	}
	return 0;
}

void queue_spool_drop(struct queue_spool *s)
{
	off_t total = s->total;

	queue_spool_free(s);
	s->total = total;
}

void queue_spool_free(struct queue_spool *s)
{
	free(s->mem);
	if (s->fd >= 0)
		close(s->fd);
	queue_spool_init(s, s->dir);
}
