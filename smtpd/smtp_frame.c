/* smtp_frame.c: frame I/O with timeouts (see smtp_frame.h). */
#include "smtp_frame.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

int smtp_frame_write(int fd, const char *buf, size_t n, int timeout_ms)
{
	while (n) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			if (poll(&pf, 1, timeout_ms) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int smtp_frame_read(struct ns_reader *r, int timeout_ms, char **payload,
		    size_t *len)
{
	/* the answer to a request just sent is hardly ever there yet: look
	 * in the buffer, then poll, and read only what poll announced (a
	 * read first would mostly say EAGAIN: one wasted call per frame).
	 * Bounded: each round either returns or waited for new bytes. */
	int rc = ns_reader_buffered(r, payload, len);

	for (int round = 0; rc == 0 && round < 100000; round++) {
		struct pollfd pf = { .fd = r->fd, .events = POLLIN };
		rc = poll(&pf, 1, timeout_ms);
		if (rc < 0 && errno == EINTR) {
			rc = 0;
			continue;
		}
		if (rc <= 0) {
			errno = rc == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		rc = ns_reader_next(r, payload, len);
	}
	return rc == 0 ? -1 : rc;
}
