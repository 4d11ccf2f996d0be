/* usock.c: unix sockets and descriptor passing. */
#include "usock.h"
#include "coro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int usock_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* The socket is bound under a temporary name and renamed into place only
 * once it listens: a client that waits for the path to appear (a test, a
 * daemon started after its peer) never finds it refusing connections, and
 * a restart replaces the old socket in one step instead of leaving a
 * moment with none. */
int usock_listen(const char *path, int mode)
{
	struct sockaddr_un sun;
	char tmp[sizeof sun.sun_path];
	int fd, n = snprintf(tmp, sizeof tmp, "%s.new", path);

	if (n < 0 || (size_t)n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (usock_addr(tmp, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    chmod(tmp, (mode_t)mode) < 0 || listen(fd, USOCK_BACKLOG) < 0 ||
	    rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int usock_connect(const char *path)
{
	return usock_connect_for(path, 0);
}

/* A coroutine's connect: a unix connect to a listener whose backlog is
 * full sleeps in the kernel (blocking) or says EAGAIN (non-blocking),
 * and no poll tells when room comes: tried again after a sleep of 10 ms,
 * doubling to 100 ms, until timeout_ms passed (ETIMEDOUT). */
static int connect_retry(int fd, const struct sockaddr_un *sun,
			 int timeout_ms)
{
	long end = coro_now_ms() + timeout_ms;
	int nap = 10;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if (coro_now_ms() >= end) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (coro_sleep(nap) < 0)
			return -1; /* no memory for a deadline: no spinning */
		nap = nap * 2 > 100 ? 100 : nap * 2;
	}
}

int usock_connect_for(const char *path, int timeout_ms)
{
	struct sockaddr_un sun;
	int fd, in_coro = coro_self() != NULL && timeout_ms > 0;

	if (usock_addr(path, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
			     (in_coro ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if ((in_coro ? connect_retry(fd, &sun, timeout_ms)
		     : connect(fd, (struct sockaddr *)&sun, sizeof sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int usock_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	*uid = cred.uid;
	return 0;
}

int usock_send_fds(int sock, const void *data, size_t len, const int *fds,
		   int nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds < 0 || nfds > 8 || len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		memset(ctl, 0, sizeof ctl);
		msg.msg_control = ctl;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		/* the descriptors went with the first part; send the rest */
		const char *p = (const char *)data + n;
		size_t left = len - (size_t)n;
		while (left) {
			ssize_t w = send(sock, p, left, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			p += w;
			left -= (size_t)w;
		}
	}
	return 0;
}

ssize_t usock_recv_fds(int sock, void *data, size_t len, int *fds, int *nfds)
{
	return usock_recv_fds_flags(sock, data, len, fds, nfds, 0);
}

ssize_t usock_recv_fds_flags(int sock, void *data, size_t len, int *fds,
			     int *nfds, int flags)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *cm;
	int max = *nfds, got = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *in = (int *)CMSG_DATA(cm);
		for (int i = 0; i < k; i++) {
			if (got < max)
				fds[got++] = in[i];
			else
				close(in[i]); /* more than asked for: refuse */
		}
	}
	*nfds = got;
	return n;
}

int fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}
