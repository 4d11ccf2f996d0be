/* io.h: buffered line I/O over a socket or pipe, with timeouts, and
 * pluggable read/write functions so that TLS can slide under it.
 *
 * SMTP is CRLF-only: io_getline reports how each line ended so that the
 * caller can refuse a bare LF or bare CR instead of taking it as a line end. */
#ifndef IO_H
#define IO_H

#include <stddef.h>
#include <sys/types.h>

#define IO_BUFSZ 16384
#define IO_IDLE_MS 100 /* see struct io's idle */

/* flags set by io_getline */
#define IO_CRLF      0x01 /* ended with CR LF */
#define IO_BARE_LF   0x02 /* ended with LF not preceded by CR */
#define IO_BARE_CR   0x04 /* a CR not followed by LF inside the line */
#define IO_TOOLONG   0x08 /* longer than max: cut, the rest was discarded */
#define IO_PARTIAL   0x10 /* EOF before any line end */

/* error kinds in io->err */
#define IO_ERR_NONE    0
#define IO_ERR_EOF     1
#define IO_ERR_TIMEOUT 2
#define IO_ERR_SYS     3

struct io;
typedef ssize_t (*io_read_fn)(struct io *io, void *buf, size_t n);
typedef ssize_t (*io_write_fn)(struct io *io, const void *buf, size_t n);

struct io {
	int rfd, wfd;
	int timeout_ms;       /* per read/write; <= 0 waits forever */
	io_read_fn read;      /* default: plain fd I/O with poll timeouts */
	io_write_fn write;
	void *ctx;            /* for the plug-in (e.g. SSL *) */
	int err;
	int rmode;            /* how io_fd_read waits (io.c), found at first use */
	long rcv_ms;          /* SO_RCVTIMEO now set on rfd (rmode socket) */
	int rcv_idle;         /* rcv_ms is the IO_IDLE_MS cap */
	/* Optional, for something kept until the peer is slow (smtpd's log
	 * lines): idle(0) says whether there is any; while there is, the
	 * plain fd functions (and TLS's, tls.c) wait at most IO_IDLE_MS at
	 * a time, then call idle(1) and wait the rest of their timeout. */
	int (*idle)(int run);
	size_t in_start, in_end;
	size_t out_len;
	/* last, and next to each other: while the peer is idle everything
	 * past the bytes pending in `in` is one run of pages that
	 * io_release_idle can give back */
	char in[IO_BUFSZ];
	char out[IO_BUFSZ];
};

void io_init(struct io *io, int rfd, int wfd, int timeout_ms);

/* Read one line into line[max] (NUL-terminated, terminator removed).
 * Returns 1 with *len and *flags, 0 at EOF with nothing read, -1 on error
 * or timeout (io->err says which). */
int io_getline(struct io *io, char *line, size_t max, size_t *len,
	       unsigned *flags);

/* Bytes buffered but not consumed (pipelined commands). */
size_t io_pending(const struct io *io);
/* Drop buffered input (at STARTTLS: what came before the handshake). */
void io_discard_input(struct io *io);
/* While the peer is idle (nothing left to write): the pages of the two
 * buffers past the input buffered go back to the kernel; they are
 * touched again, zeroed, as they are used.  Safe while a read waits to
 * fill the buffer (nothing is moved). */
void io_release_idle(struct io *io);
/* Read raw bytes (buffered first); returns n read, 0 EOF, -1 error. */
ssize_t io_read(struct io *io, void *buf, size_t n);

int io_put(struct io *io, const void *buf, size_t n);
int io_puts(struct io *io, const char *s);
int io_printf(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int io_flush(struct io *io);

/* The plain fd functions, for reuse by plug-ins.  io_fd_read with a
 * timeout on a blocking socket sets SO_RCVTIMEO on it (once, or when the
 * timeout shrinks) and reads without a poll before; on a pipe or a
 * non-blocking fd it polls, then reads. */
ssize_t io_fd_read(struct io *io, void *buf, size_t n);
ssize_t io_fd_write(struct io *io, const void *buf, size_t n);
/* Write all n bytes to a blocking fd (a pipe), retrying short writes and
 * EINTR; 0, or -1 with errno (EPIPE when the reader is gone and SIGPIPE
 * is ignored). */
int io_write_all(int fd, const void *buf, size_t n);
/* Set a socket's SO_RCVTIMEO or SO_SNDTIMEO (which) to ms (> 0): a
 * blocking read or write on it then fails with EAGAIN after that long.
 * 0, or -1 (ENOTSOCK for a pipe). */
int io_sock_timeout(int fd, int which, long ms);
/* Wait for fd to be readable (events POLLIN) or writable (POLLOUT);
 * 1 ready, 0 timeout, -1 error. */
int io_wait(int fd, short events, int timeout_ms);

#endif
