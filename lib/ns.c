/* ns.c: netstring framing. */
#include "ns.h"
#include "coro.h"
#include "usock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

size_t ns_encode(char *dst, size_t dstsz, const char *payload, size_t len)
{
	char head[24];
	size_t hlen, i = len, n = 0;

	if (len > NS_MAX)
		return 0;
	do {
		head[sizeof head - 1 - n++] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	hlen = n;
	if (dstsz < hlen + 1 + len + 1)
		return 0;
	memcpy(dst, head + sizeof head - n, hlen);
	dst[hlen] = ':';
	memcpy(dst + hlen + 1, payload, len);
	dst[hlen + 1 + len] = ',';
	return hlen + len + 2;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ns_write_fds(int sock, const char *payload, size_t len, const int *fds,
		 int nfds)
{
	size_t cap = len + 24;
	char stackbuf[4096];
	char *buf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
	size_t n;
	int rc;

	if (!buf)
		return -1;
	n = ns_encode(buf, cap, payload, len);
	if (!n)
		rc = (errno = EMSGSIZE, -1);
	else
		rc = nfds ? usock_send_fds(sock, buf, n, fds, nfds)
			  : write_all(sock, buf, n);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

int ns_write(int fd, const char *payload, size_t len)
{
	return ns_write_fds(fd, payload, len, NULL, 0);
}

int ns_reader_init(struct ns_reader *r, int fd)
{
	r->fd = fd;
	r->start = r->end = r->consumed = 0;
	r->cap = NS_READER_MIN;
	r->buf = malloc(r->cap);
	return r->buf ? 0 : -1;
}

/* A full buffer without a whole frame in it: twice the room, up to the
 * largest frame (ns_cut refuses longer ones before the buffer is full). */
static int ns_grow(struct ns_reader *r)
{
	size_t cap = r->cap * 2 < NS_MAX + 16 ? r->cap * 2 : NS_MAX + 16;
	char *nb;

	if (cap <= r->cap) {
		errno = EPROTO;
		return -1;
	}
	if (!(nb = realloc(r->buf, cap)))
		return -1;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

void ns_reader_free(struct ns_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

size_t ns_reader_pending(const struct ns_reader *r)
{
	return r->end - r->start;
}

/* Try to cut one frame from the buffer: 1 found, 0 incomplete, -1 bad. */
static int ns_cut(struct ns_reader *r, char **payload, size_t *len)
{
	const char *p = r->buf + r->start;
	size_t avail = r->end - r->start, i, n = 0;

	for (i = 0; i < avail && p[i] != ':'; i++) {
		if (p[i] < '0' || p[i] > '9' || i >= 6 || (i == 1 && p[0] == '0'))
			return -1;
		n = n * 10 + (size_t)(p[i] - '0');
	}
	if (i == avail)
		return 0;
	if (i == 0 || n > NS_MAX)
		return -1;
	if (avail < i + 1 + n + 1)
		return 0;
	if (p[i + 1 + n] != ',')
		return -1;
	*payload = r->buf + r->start + i + 1;
	(*payload)[n] = '\0'; /* overwrites the ',' already checked */
	*len = n;
	r->consumed = i + n + 2;
	return 1;
}

/* Read more bytes: with read() (recv() without waiting when dontwait),
 * or with recvmsg() collecting the descriptors passed along (fds !=
 * NULL). */
static ssize_t ns_fill(struct ns_reader *r, int *fds, int *nfds, int max,
		       int dontwait)
{
	void *at;
	size_t room;
	int got;
	ssize_t n;

	if (r->end == r->cap && ns_grow(r) < 0)
		return -1;
	at = r->buf + r->end;
	room = r->cap - r->end;
	if (!fds && dontwait)
		return recv(r->fd, at, room, MSG_DONTWAIT);
	if (!fds)
		return read(r->fd, at, room);
	got = max - *nfds;
	n = usock_recv_fds_flags(r->fd, at, room, fds + *nfds, &got,
				 dontwait ? MSG_DONTWAIT : 0);
	if (n >= 0)
		*nfds += got;
	return n;
}

static int ns_next(struct ns_reader *r, char **payload, size_t *len, int *fds,
		   int *nfds, int max, int dontwait)
{
	for (;;) {
		int rc;
		ssize_t got;

		r->start += r->consumed;
		r->consumed = 0;
		rc = ns_cut(r, payload, len);
		if (rc == 1)
			return 1;
		if (rc < 0) {
			errno = EPROTO;
			return -1;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		got = ns_fill(r, fds, nfds, max, dontwait);
		/* among coroutines: whether the read drained the socket (the
		 * scheduler then drops an input event it kept from before) */
		coro_read_done(r->fd, got < 0 ? errno == EAGAIN ||
						errno == EWOULDBLOCK
				       : got > 0 && (size_t)got < r->cap - r->end);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (got == 0) {
			errno = r->end ? EPROTO : 0;
			return -1;
		}
		r->end += (size_t)got;
	}
}

int ns_reader_buffered(struct ns_reader *r, char **payload, size_t *len)
{
	int rc;

	r->start += r->consumed;
	r->consumed = 0;
	rc = ns_cut(r, payload, len);
	if (rc < 0)
		errno = EPROTO;
	return rc;
}

int ns_reader_next(struct ns_reader *r, char **payload, size_t *len)
{
	return ns_next(r, payload, len, NULL, NULL, 0, 0);
}

int ns_reader_next_fds(struct ns_reader *r, char **payload, size_t *len,
		       int *fds, int *nfds, int max)
{
	return ns_next(r, payload, len, fds, nfds, max, 0);
}

int ns_reader_try(struct ns_reader *r, char **payload, size_t *len)
{
	return ns_next(r, payload, len, NULL, NULL, 0, 1);
}

int ns_reader_try_fds(struct ns_reader *r, char **payload, size_t *len,
		      int *fds, int *nfds, int max)
{
	return ns_next(r, payload, len, fds, nfds, max, 1);
}
