/* usock.h: unix-domain sockets between relaybox processes, and passing
 * open file descriptors over them (SCM_RIGHTS). */
#ifndef USOCK_H
#define USOCK_H

#include <stddef.h>
#include <sys/types.h>

/* listen() backlog of every relaybox socket */
#define USOCK_BACKLOG 128

/* Listen on path with mode: the socket appears there (replacing an old
 * one) only once it accepts connections.  path + ".new" is used on the
 * way, so path must be 4 bytes shorter than sun_path allows. */
int usock_listen(const char *path, int mode);
/* Connect; -1 with errno when nobody listens. */
int usock_connect(const char *path);
/* The same, except in a coroutine (coro.h) with timeout_ms > 0: the socket is
 * non-blocking (and stays so), and a listener whose backlog is full is
 * tried again after short sleeps that let the other coroutines run, for
 * at most timeout_ms (then ETIMEDOUT), instead of a connect that sleeps
 * in the kernel with every coroutine of the process.  Outside a
 * coroutine it blocks as usock_connect does. */
int usock_connect_for(const char *path, int timeout_ms);
/* uid of the peer (SO_PEERCRED); -1 on error. */
int usock_peer_uid(int fd, uid_t *uid);

/* Send len bytes (at least 1) with nfds descriptors attached. */
int usock_send_fds(int sock, const void *data, size_t len, const int *fds,
		   int nfds);
/* Receive up to len bytes and up to *nfds descriptors (set to how many
 * came); returns bytes read, 0 at EOF, -1 on error. */
ssize_t usock_recv_fds(int sock, void *data, size_t len, int *fds, int *nfds);
/* The same with recvmsg flags (MSG_DONTWAIT). */
ssize_t usock_recv_fds_flags(int sock, void *data, size_t len, int *fds,
			     int *nfds, int flags);

/* Make fd non-blocking / close-on-exec. */
int fd_nonblock(int fd);
int fd_cloexec(int fd);

#endif
