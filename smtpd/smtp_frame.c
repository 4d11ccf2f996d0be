/* smtp_frame.c: frame I/O with timeouts (see smtp_frame.h). */
#include "smtp_frame.h"
#include "io.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

/* One sendmsg, waiting (poll) while the socket is full: the bytes
 * written, or -1 on error or timeout. */
static ssize_t send_wait(int fd, const struct msghdr *msg, int timeout_ms)
{
	for (;;) {
		ssize_t w = sendmsg(fd, msg, MSG_NOSIGNAL);
		if (w >= 0 || (errno != EINTR && errno != EAGAIN))
			return w;
		if (errno == EAGAIN && io_wait(fd, POLLOUT, timeout_ms) <= 0)
			return -1;
	}
}

int smtp_frame_write_fd(int fd, const char *buf, size_t n, int timeout_ms,
			int attach)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (attach >= 0) {
		memset(ctl, 0, sizeof ctl);
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof ctl;
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &attach, sizeof(int));
	}
	while (n) {
		ssize_t w;
		iov = (struct iovec){ .iov_base = (void *)buf, .iov_len = n };
		w = send_wait(fd, &msg, timeout_ms);
		if (w <= 0)
			return -1;
		/* the descriptor went with the first part */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int smtp_frame_write(int fd, const char *buf, size_t n, int timeout_ms)
{
	return smtp_frame_write_fd(fd, buf, n, timeout_ms, -1);
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
		/* io_wait: a coroutine yields to the others meanwhile */
		rc = io_wait(r->fd, POLLIN, timeout_ms);
		if (rc <= 0) {
			errno = rc == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		rc = ns_reader_next(r, payload, len);
	}
	return rc == 0 ? -1 : rc;
}
