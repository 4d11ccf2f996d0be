/* io.c: buffered line I/O with timeouts. */
#include "io.h"
#include "coro.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* io->rmode: how a read with a timeout waits */
enum { IO_RMODE_UNKNOWN, IO_RMODE_SOCK, IO_RMODE_POLL };

void io_init(struct io *io, int rfd, int wfd, int timeout_ms)
{
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout_ms = timeout_ms;
	io->read = io_fd_read;
	io->write = io_fd_write;
	io->ctx = NULL;
	io->err = IO_ERR_NONE;
	io->rmode = IO_RMODE_UNKNOWN;
	io->rcv_ms = 0;
	io->rcv_idle = 0;
	io->idle = NULL;
	io->in_start = io->in_end = 0;
	io->out_len = 0;
}

static long io_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A signal (EINTR) polls again for what is left of the timeout: signals
 * coming more often than the timeout must not make it endless. */
int io_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	long deadline = timeout_ms > 0 ? io_now_ms() + timeout_ms : 0;

	if (coro_self()) /* a session among many: yield instead */
		return coro_wait(fd, events, timeout_ms);
	for (;;) {
		int rc = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
		if (rc < 0 && errno == EINTR && deadline) {
			long left = deadline - io_now_ms();
			if (left <= 0)
				return 0;
			timeout_ms = (int)left;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		return rc > 0;
	}
}

/* io_wait for io's timeout; with something kept for idle times, at most
 * IO_IDLE_MS first, then io->idle(1), then the rest. */
static int io_wait_idle(struct io *io, int fd, short events)
{
	int w;

	if (!io->idle || io->timeout_ms <= IO_IDLE_MS || !io->idle(0))
		return io_wait(fd, events, io->timeout_ms);
	w = io_wait(fd, events, IO_IDLE_MS);
	if (w != 0)
		return w;
	io->idle(1);
	return io_wait(fd, events, io->timeout_ms - IO_IDLE_MS);
}

/* One read or write without waiting: on a socket MSG_DONTWAIT makes it
 * non-blocking whatever the descriptor's flags; anything else (a pipe)
 * returns -1 with EAGAIN so that the caller polls first.  No SIGPIPE:
 * a write to a peer that left is an error (EPIPE). */
static ssize_t io_sock_try(int fd, void *rbuf, const void *wbuf, size_t n)
{
	return rbuf ? recv(fd, rbuf, n, MSG_DONTWAIT)
		    : send(fd, wbuf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static ssize_t io_try(int fd, void *rbuf, const void *wbuf, size_t n)
{
	ssize_t r = io_sock_try(fd, rbuf, wbuf, n);
	if (r < 0 && errno == ENOTSOCK)
		errno = EAGAIN;
	return r;
}

/* A read or write where io_try would not do: among coroutines a wake-up
 * may be spurious (an edge already used, coro.h), and an EAGAIN must be
 * a real one (an edge-triggered wait after a made-up one would wait for
 * bytes already there), so a socket is tried with MSG_DONTWAIT and
 * anything else (non-blocking, as coro.h asks) as it is.  Outside them:
 * after poll said ready, the call itself. */
static ssize_t io_attempt(int fd, void *rbuf, const void *wbuf, size_t n)
{
	if (coro_self()) {
		ssize_t r = io_sock_try(fd, rbuf, wbuf, n);
		if (r >= 0 || errno != ENOTSOCK)
			return r;
	}
	return rbuf ? read(fd, rbuf, n) : write(fd, wbuf, n);
}

/* One read or write, waiting at most io's timeout; EINTR and EAGAIN
 * wait again.  Sets io->err on a timeout or an error.
 * Why not simply poll, then read or write: each poll is one more system
 * call per transfer.  A write to a socket almost never has to wait, so
 * it is tried first (MSG_DONTWAIT) and polls only when the socket is
 * full; a read polls first, since its bytes are usually still on their
 * way (a read from a blocking socket needs no poll at all: io_sock_read
 * below).  Without a timeout there is nothing for poll to bound: the call
 * itself blocks (or says EAGAIN on a non-blocking fd, then poll).
 * Among coroutines waits are edge-triggered (coro.h): a read is tried
 * first, unless the last one drained the fd and nothing came since
 * (coro_read_first): then it waits at once. */
static ssize_t io_fd_xfer(struct io *io, int fd, short events, void *rbuf,
			  const void *wbuf, size_t n)
{
	int first = 1;

	for (;;) {
		ssize_t r;
		if (io->timeout_ms <= 0 && first && !coro_self())
			r = rbuf ? read(fd, rbuf, n) : write(fd, wbuf, n);
		else if (first && coro_self() && (!rbuf || coro_read_first(fd)))
			r = io_attempt(fd, rbuf, wbuf, n);
		else if (first && !rbuf)
			r = io_try(fd, rbuf, wbuf, n);
		else {
			int w = io_wait_idle(io, fd, events);
			if (w <= 0) {
				io->err = w == 0 ? IO_ERR_TIMEOUT : IO_ERR_SYS;
				return -1;
			}
			r = io_attempt(fd, rbuf, wbuf, n);
		}
		first = 0;
		if (rbuf && coro_self())
			coro_read_done(fd, r < 0 ? errno == EAGAIN
						 : r > 0 && (size_t)r < n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			io->err = IO_ERR_SYS;
		return r;
	}
}

int io_sock_timeout(int fd, int which, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };
	return setsockopt(fd, SOL_SOCKET, which, &tv, sizeof tv);
}

/* A read bounded by the socket's receive timeout instead of a poll before
 * it: one system call per read instead of two.  SO_RCVTIMEO is set only
 * when the socket has none yet or a longer one than what is left; a
 * longer timeout than the one set (DATA after the commands) just reads
 * again after the shorter one ran out, so that changing between the two
 * costs nothing.  A signal (EINTR: a read with a receive timeout is never
 * restarted by the kernel) goes round again with what is left of the same
 * deadline, never a new one.  -2 when the fd did not wait (non-blocking
 * after all: EAGAIN before half the timeout) or is not a socket: the
 * caller polls instead, from then on. */
static ssize_t io_sock_read(struct io *io, void *buf, size_t n)
{
	long deadline = io_now_ms() + io->timeout_ms;

	for (;;) {
		long t0 = io_now_ms(), left = deadline - t0, want = left;
		int idle = io->idle && io->idle(0);
		ssize_t r;

		if (left <= 0) {
			io->err = IO_ERR_TIMEOUT;
			return -1;
		}
		if (idle && want > IO_IDLE_MS)
			want = IO_IDLE_MS;
		/* set when none is set, when the one set is too long, or to
		 * lift the idle cap once idle has nothing more */
		if (io->rcv_ms <= 0 || io->rcv_ms > want ||
		    (io->rcv_idle && !idle)) {
			if (io_sock_timeout(io->rfd, SO_RCVTIMEO, want) < 0)
				return -2;
			io->rcv_ms = want;
			io->rcv_idle = want < left;
		}
		r = read(io->rfd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			io->err = IO_ERR_SYS;
			return -1;
		}
		if (io_now_ms() - t0 < io->rcv_ms / 2)
			return -2;
		if (idle)
			io->idle(1);
	}
}

ssize_t io_fd_read(struct io *io, void *buf, size_t n)
{
	/* a receive timeout blocks the thread: never among coroutines */
	if (io->timeout_ms > 0 && io->rmode != IO_RMODE_POLL && !coro_self()) {
		ssize_t r = io_sock_read(io, buf, n);
		if (r != -2) {
			io->rmode = IO_RMODE_SOCK;
			return r;
		}
		io->rmode = IO_RMODE_POLL;
	}
	return io_fd_xfer(io, io->rfd, POLLIN, buf, NULL, n);
}

ssize_t io_fd_write(struct io *io, const void *buf, size_t n)
{
	return io_fd_xfer(io, io->wfd, POLLOUT, NULL, buf, n);
}

static int io_fill(struct io *io)
{
	ssize_t r;
	if (io->in_start == io->in_end)
		io->in_start = io->in_end = 0;
	if (io->in_end == sizeof io->in) {
		memmove(io->in, io->in + io->in_start, io->in_end - io->in_start);
		io->in_end -= io->in_start;
		io->in_start = 0;
	}
	r = io->read(io, io->in + io->in_end, sizeof io->in - io->in_end);
	if (r == 0) {
		io->err = IO_ERR_EOF;
		return 0;
	}
	if (r < 0)
		return -1;
	io->in_end += (size_t)r;
	/* plain or TLS, commands or a message body: every read of a
	 * session passes here; one that found bytes did not wait */
	coro_maybe_yield();
	return 1;
}

/* Append c to line unless full; a full line is marked too long. */
static void line_add(char *line, size_t max, size_t *len, unsigned *flags,
		     char c)
{
	if (*len + 1 < max)
		line[(*len)++] = c;
	else
		*flags |= IO_TOOLONG;
}

/* The common case in one go: a whole line already buffered, no CR but
 * the one before its LF, and room for it.  Anything else (a CR inside,
 * too long, no LF yet) takes the byte loop of io_getline. */
static int io_getline_fast(struct io *io, char *line, size_t max, size_t *len,
			   unsigned *flags)
{
	const char *s = io->in + io->in_start;
	const char *nl = memchr(s, '\n', io->in_end - io->in_start);
	size_t n, body;

	if (!nl)
		return 0;
	n = (size_t)(nl - s);
	body = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
	if (body + 1 > max || memchr(s, '\r', body))
		return 0;
	memcpy(line, s, body);
	line[body] = '\0';
	*len = body;
	*flags = body < n ? IO_CRLF : IO_BARE_LF;
	io->in_start += n + 1;
	return 1;
}

int io_getline(struct io *io, char *line, size_t max, size_t *len,
	       unsigned *flags)
{
	int pending_cr = 0;

	*len = 0;
	*flags = 0;
	for (;;) {
		/* nothing taken yet in this call: try the whole line at once */
		if (*len == 0 && !*flags && !pending_cr && max > 0 &&
		    io_getline_fast(io, line, max, len, flags))
			return 1;
		while (io->in_start < io->in_end) {
			char c = io->in[io->in_start++];
			if (c == '\n') {
				*flags |= pending_cr ? IO_CRLF : IO_BARE_LF;
				line[*len] = '\0';
				return 1;
			}
			if (pending_cr) {
				*flags |= IO_BARE_CR;
				line_add(line, max, len, flags, '\r');
			}
			pending_cr = (c == '\r');
			if (!pending_cr)
				line_add(line, max, len, flags, c);
		}
		int rc = io_fill(io);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (pending_cr) {
				*flags |= IO_BARE_CR;
				line_add(line, max, len, flags, '\r');
			}
			line[*len] = '\0';
			if (*len == 0 && !*flags)
				return 0;
			*flags |= IO_PARTIAL;
			return 1;
		}
	}
}

size_t io_pending(const struct io *io)
{
	return io->in_end - io->in_start;
}

void io_discard_input(struct io *io)
{
	io->in_start = io->in_end = 0;
}

void io_release_idle(struct io *io)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	/* nothing moves: a read may be waiting to fill in[in_end..], a
	 * write to send out[..out_len]; whole pages only, so the ones that
	 * also hold pending bytes or what lies around the buffers stay */
	if (io->out_len)
		return;
	lo = ((uintptr_t)(io->in + io->in_end) + page - 1) & ~(page - 1);
	hi = (uintptr_t)(io->out + sizeof io->out) & ~(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

ssize_t io_read(struct io *io, void *buf, size_t n)
{
	size_t have = io->in_end - io->in_start;
	if (have == 0) {
		int rc = io_fill(io);
		if (rc <= 0)
			return rc;
		have = io->in_end - io->in_start;
	}
	if (n > have)
		n = have;
	memcpy(buf, io->in + io->in_start, n);
	io->in_start += n;
	return (ssize_t)n;
}

int io_flush(struct io *io)
{
	size_t off = 0;
	while (off < io->out_len) {
		ssize_t w = io->write(io, io->out + off, io->out_len - off);
		if (w <= 0) {
			if (w == 0)
				io->err = IO_ERR_SYS;
			return -1;
		}
		off += (size_t)w;
	}
	io->out_len = 0;
	return 0;
}

int io_put(struct io *io, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		size_t room = sizeof io->out - io->out_len, k = n < room ? n : room;
		memcpy(io->out + io->out_len, p, k);
		io->out_len += k;
		p += k;
		n -= k;
		if (io->out_len == sizeof io->out && io_flush(io) < 0)
			return -1;
	}
	return 0;
}

int io_puts(struct io *io, const char *s)
{
	return io_put(io, s, strlen(s));
}

int io_printf(struct io *io, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof tmp)
		n = sizeof tmp - 1;
	return io_put(io, tmp, (size_t)n);
}

int io_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
