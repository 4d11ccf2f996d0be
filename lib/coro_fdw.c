/* coro_fdw.c: the records of descriptors coroutines wait on (see
 * coro_fdw.h). */
#include "coro_fdw.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#define FDW_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

static struct coro_fdw *fdw;  /* [nfdw], by fd number */
static size_t nfdw;

struct coro_fdw *coro_fdw_at(int fd)
{
	return fd >= 0 && (size_t)fd < nfdw ? &fdw[fd] : NULL;
}

struct coro_fdw *coro_fdw_get(int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= nfdw) {
		size_t n = nfdw ? nfdw : 256;
		while (n <= (size_t)fd)
			n *= 2;
		struct coro_fdw *v = realloc(fdw, n * sizeof *v);
		if (!v)
			return NULL;
		memset(v + nfdw, 0, (n - nfdw) * sizeof *v);
		fdw = v;
		nfdw = n;
	}
	return &fdw[fd];
}

int coro_fdw_register(int ep, int fd, struct coro_fdw *w, uint32_t more)
{
	struct epoll_event ev = { .events = FDW_EVENTS | w->events | more };
	int op = w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (!w->events)
		w->gen = (w->gen + 1) & CORO_FDW_GEN_MASK;
	ev.data.u64 = CORO_FDW_DATA_BIT | (uint64_t)w->gen << 32 |
		      (uint32_t)fd;
	if (epoll_ctl(ep, op, fd, &ev) < 0 &&
	    (errno != EEXIST || epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0))
		return -1;
	if (op == EPOLL_CTL_ADD) {
		w->seen = 0;
#if CORO_FDW_CHECK
		struct stat st;
		if (fstat(fd, &st) == 0) {
			w->dev = st.st_dev;
			w->ino = st.st_ino;
		}
#endif
	}
	w->events = ev.events;
	return 0;
}

uint32_t coro_fdw_want(short events)
{
	uint32_t want = EPOLLERR | EPOLLHUP;

	if (events & POLLIN)
		want |= EPOLLIN | EPOLLRDHUP;
	if (events & POLLOUT)
		want |= EPOLLOUT;
	if (events & POLLRDHUP)
		want |= EPOLLRDHUP;
	return want;
}

#if CORO_FDW_CHECK
void coro_fdw_check(int fd, const struct coro_fdw *w)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_dev != w->dev || st.st_ino != w->ino) {
		fprintf(stderr, "coro: fd %d was closed without coro_forget\n",
			fd);
		abort();
	}
}
#endif
