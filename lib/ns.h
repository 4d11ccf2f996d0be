/* ns.h: netstrings ("12:hello world!,") carrying key=value lines, the
 * framing of every message between relaybox processes.  A frame longer
 * than NS_MAX, a bad length, or a missing ',' is garbage: drop the peer. */
#ifndef NS_H
#define NS_H

#include <stddef.h>

#define NS_MAX 65536

/* Encode payload as a netstring into dst; returns its length, or 0 when
 * dst is too small or len > NS_MAX. */
size_t ns_encode(char *dst, size_t dstsz, const char *payload, size_t len);

/* Write one netstring to fd, whole (retries short writes and EINTR).
 * Returns 0, or -1 with errno. */
int ns_write(int fd, const char *payload, size_t len);
/* The same on a unix socket with nfds descriptors attached to the
 * frame's first byte (SCM_RIGHTS); nfds 0 is ns_write. */
int ns_write_fds(int sock, const char *payload, size_t len, const int *fds,
		 int nfds);

/* A buffered reader of netstrings from one fd (blocking or not).  Its
 * buffer starts at NS_READER_MIN bytes and doubles, up to NS_MAX + 16,
 * only when a frame does not fit: a connection that carries short frames
 * (relay-smtpd's and relay-policy's, one per session) holds 1 KiB, not
 * 64 KiB of which a page or two are touched. */
#define NS_READER_MIN 1024
struct ns_reader {
	int fd;
	char *buf;          /* cap bytes */
	size_t cap;
	size_t start, end;  /* unconsumed bytes are buf[start..end) */
	size_t consumed;    /* length of the frame last returned */
};

int ns_reader_init(struct ns_reader *r, int fd);
void ns_reader_free(struct ns_reader *r);

/* Next complete frame: returns 1 with *payload (NUL-terminated in place,
 * valid until the next call) and *len; 0 when the fd would block
 * (non-blocking fds only); -1 at EOF or on error (errno 0 at a clean EOF
 * on a frame boundary, EPROTO for garbage or a truncated frame). */
int ns_reader_next(struct ns_reader *r, char **payload, size_t *len);

/* Like ns_reader_next on a unix socket, also collecting descriptors sent
 * with the data (SCM_RIGHTS) into fds[*nfds..max); *nfds grows as they
 * come (extra ones are closed).  The caller owns and closes them. */
int ns_reader_next_fds(struct ns_reader *r, char **payload, size_t *len,
		       int *fds, int *nfds, int max);

/* ns_reader_try that also collects descriptors, as ns_reader_next_fds. */
int ns_reader_try_fds(struct ns_reader *r, char **payload, size_t *len,
		      int *fds, int *nfds, int max);

/* Like ns_reader_next but without reading: 1 with the next frame when
 * one is complete in the buffer, 0 when none is, -1 (errno EPROTO) for
 * garbage.  For a caller that knows nothing new can have come (it has
 * not asked yet) or that polls level-triggered: no read() that can only
 * say EAGAIN. */
int ns_reader_buffered(struct ns_reader *r, char **payload, size_t *len);

/* Like ns_reader_next on a socket, but never waiting, even when the fd
 * blocks (recv with MSG_DONTWAIT): 0 when no whole frame is there.  One
 * system call where a poll with no timeout, then a read, were two. */
int ns_reader_try(struct ns_reader *r, char **payload, size_t *len);

/* Bytes already read but not yet returned as frames. */
size_t ns_reader_pending(const struct ns_reader *r);

#endif
