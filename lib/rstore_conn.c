/* rstore_conn.c: one connection to Redis with a deadline on every
 * exchange (lib/rstore.h says why the socket and TLS are ours).
 *
 * A failed exchange closes the connection: a reply that comes after its
 * deadline would otherwise be taken for the next command's.  After a
 * failure the next connect waits RETRY_MS, so a dead Redis costs a
 * decision nothing but a look at the clock. */
#include "rstore_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

static int fly_take(struct rstore *r, redisReply *reply);

/* r->err for a read that got k (0: end of file; errno 0: timed out). */
static void read_failed(struct rstore *r, ssize_t k)
{
	if (k == 0)
		snprintf(r->err, sizeof r->err,
			 "read from Redis: the server closed the connection");
	else
		rsi_fail(r, "read from Redis%s: %s", "");
}

long rsi_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rsi_left_ms(const struct rstore *r)
{
	long l = r->deadline - rsi_now_ms();
	return l < 1 ? 1 : (int)l;
}

int rsi_expired(const struct rstore *r)
{
	return rsi_now_ms() >= r->deadline;
}

struct rstore *rstore_new(const struct rstore_addr *a, const char *user,
			  const char *pass, const char *ca, int timeout_ms)
{
	struct rstore *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->a = *a;
	snprintf(r->user, sizeof r->user, "%s", user ? user : "");
	snprintf(r->pass, sizeof r->pass, "%s", pass ? pass : "");
	snprintf(r->ca, sizeof r->ca, "%s", ca ? ca : "");
	r->timeout_ms = timeout_ms;
	r->fd = -1;
	return r;
}

/* The commands in flight are lost with the connection. */
static void fly_fail(struct rstore *r)
{
	while (r->nfly) {
		void *tag = r->fly[r->fly_head];
		r->fly_head = (r->fly_head + 1) % r->capfly;
		r->nfly--;
		if (r->done)
			r->done(tag, NULL);
	}
	r->fly_head = 0;
}

int rsi_fly_push(struct rstore *r, void *tag)
{
	size_t at;

	if (r->nfly == r->capfly) {
		size_t cap = r->capfly ? r->capfly * 2 : 64;
		void **p = malloc(cap * sizeof *p);
		long *t = malloc(cap * sizeof *t);
		if (!p || !t) {
			free(p);
			free(t);
			return -1;
		}
		for (size_t i = 0; i < r->nfly; i++) {
			p[i] = r->fly[(r->fly_head + i) % r->capfly];
			t[i] = r->fly_t[(r->fly_head + i) % r->capfly];
		}
		free(r->fly);
		free(r->fly_t);
		r->fly = p;
		r->fly_t = t;
		r->fly_head = 0;
		r->capfly = cap;
	}
	at = (r->fly_head + r->nfly++) % r->capfly;
	r->fly[at] = tag;
	r->fly_t[at] = rsi_now_ms();
	return 0;
}

void rstore_set_done(struct rstore *r, rstore_done_fn done)
{
	r->done = done;
}

size_t rstore_inflight(const struct rstore *r)
{
	return r->nfly;
}

int rstore_fd(const struct rstore *r)
{
	return r->nfly ? r->fd : -1;
}

long rstore_fly_left_ms(const struct rstore *r)
{
	long left;

	if (!r->nfly)
		return -1;
	left = r->fly_t[r->fly_head] + r->timeout_ms - rsi_now_ms();
	return left < 0 ? 0 : left;
}

/* Replies that came (no waiting); the oldest command in flight past
 * its timeout loses the connection, and everything in flight with it. */
int rstore_poll(struct rstore *r)
{
	char in[16384];
	void *reply;
	ssize_t k;

	while (r->nfly && r->fd >= 0) {
		reply = NULL;
		if (redisReaderGetReply(r->rd, &reply) != REDIS_OK) {
			snprintf(r->err, sizeof r->err, "Redis reply: %s",
				 r->rd->errstr);
			break;
		}
		if (reply) {
			fly_take(r, reply);
			continue;
		}
		r->io.timeout_ms = 1;
		errno = 0;
		if ((k = io_read(&r->io, in, sizeof in)) > 0) {
			redisReaderFeed(r->rd, in, (size_t)k);
			continue;
		}
		if (k < 0 && r->io.err == IO_ERR_TIMEOUT) {
			if (rstore_fly_left_ms(r) > 0)
				return 0; /* nothing more now */
			errno = 0;
		}
		read_failed(r, k);
		break;
	}
	if (!r->nfly || r->fd < 0)
		return 0;
	rsi_conn_close(r);
	r->retry_at = rsi_now_ms() + RETRY_MS;
	return -1;
}

/* A reply for the oldest command in flight, or for the caller (0). */
static int fly_take(struct rstore *r, redisReply *reply)
{
	void *tag;

	if (!r->nfly)
		return 0;
	tag = r->fly[r->fly_head];
	r->fly_head = (r->fly_head + 1) % r->capfly;
	r->nfly--;
	if (r->done)
		r->done(tag, reply);
	freeReplyObject(reply);
	return 1;
}

/* Something to read on a kept connection with nothing in flight: the
 * server closed it (its idle timeout, CLIENT KILL, a restart, a
 * Sentinel making its master a replica).  A command sent on it would
 * be lost and its RCPT answered 451 4.3.0: drop it, connect anew. */
void rsi_drop_stale(struct rstore *r)
{
	struct pollfd p;

	if (r->checked || r->fd < 0 || r->nfly)
		return;
	r->checked = 1; /* until rsi_batch_done */
	p = (struct pollfd){ .fd = r->fd, .events = POLLIN };
	if (r->io.in_end > r->io.in_start || poll(&p, 1, 0) != 0)
		rsi_conn_close(r);
}

void rsi_batch_done(struct rstore *r)
{
	r->checked = 0;
}

void rsi_conn_close(struct rstore *r)
{
	if (r->fd >= 0) {
		if (tls_active(&r->io))
			tls_end(&r->io);
		close(r->fd);
	}
	r->fd = -1;
	r->up = 0;
	if (r->rd)
		redisReaderFree(r->rd);
	r->rd = NULL;
	fly_fail(r);
}

void rstore_free(struct rstore *r)
{
	if (!r)
		return;
	rsi_conn_close(r);
	if (r->ctx)
		SSL_CTX_free(r->ctx);
	free(r->out);
	free(r->fly);
	free(r->fly_t);
	explicit_bzero(r->pass, sizeof r->pass);
	free(r);
}

const char *rstore_error(const struct rstore *r)
{
	return r->err;
}

int rstore_up(const struct rstore *r)
{
	return r->up;
}

void rstore_reset(struct rstore *r)
{
	rsi_conn_close(r);
	r->retry_at = 0;
}

int rsi_fail(struct rstore *r, const char *fmt, const char *arg)
{
	snprintf(r->err, sizeof r->err, fmt, arg,
		 errno ? strerror(errno) : "timed out");
	return -1;
}

/* A non-blocking connect bounded by the deadline. */
static int connect_fd(struct rstore *r, const struct sockaddr *sa,
		      socklen_t len, const char *name)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = 0, one = 1;
	socklen_t el = sizeof e;
	struct pollfd p;

	if (fd < 0)
		return rsi_fail(r, "socket for %s: %s", name);
	/* a RCPT's script written while a commit sent without waiting is
	 * not yet acknowledged must not wait for that ACK (Nagle) */
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		rsi_fail(r, "connect %s: %s", name);
		close(fd);
		return -1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	errno = 0;
	if (poll(&p, 1, rsi_left_ms(r)) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
		errno = e;
		rsi_fail(r, "connect %s: %s", name);
		close(fd);
		return -1;
	}
	return fd;
}

int rsi_connect_tcp(struct rstore *r, const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res, *ai;
	char name[RSTORE_NAME_MAX + 16], ps[8];
	int fd = -1;

	snprintf(name, sizeof name, "%s:%d", host, port);
	snprintf(ps, sizeof ps, "%d", port);
	errno = 0;
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return rsi_fail(r, "resolve %s: %s", name);
	for (ai = res; ai && fd < 0 && !rsi_expired(r); ai = ai->ai_next)
		fd = connect_fd(r, ai->ai_addr, ai->ai_addrlen, name);
	freeaddrinfo(res);
	return fd;
}

int rsi_connect_unix(struct rstore *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(r->a.path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return rsi_fail(r, "connect %s: %s", r->a.path);
	}
	memcpy(sun.sun_path, r->a.path, strlen(r->a.path) + 1);
	return connect_fd(r, (struct sockaddr *)&sun, sizeof sun, r->a.path);
}

/* fd is connected: set up I/O, TLS, the reader. */
int rsi_conn_setup(struct rstore *r, int fd, const char *host)
{
	char err[256];

	r->fd = fd;
	io_init(&r->io, fd, fd, rsi_left_ms(r));
	if (!(r->rd = rsi_reader_new(&r->reply_cost)))
		return rsi_fail(r, "%s: %s", "out of memory");
	if (!r->a.tls)
		return 0;
	if (!r->ctx && !(r->ctx = tls_client_ctx(r->ca, err, sizeof err))) {
		errno = 0;
		return rsi_fail(r, "TLS to %s: %s", err);
	}
	if (tls_client_start(&r->io, r->ctx, host, 1, err, sizeof err) < 0) {
		snprintf(r->err, sizeof r->err, "TLS to %s: %s", host, err);
		return -1;
	}
	return 0;
}

static int out_add(struct rstore *r, const char *cmd, size_t len)
{
	if (r->outlen + len > r->outcap) {
		size_t cap = (r->outlen + len) * 2;
		char *p = realloc(r->out, cap);
		if (!p)
			return -1;
		r->out = p;
		r->outcap = cap;
	}
	memcpy(r->out + r->outlen, cmd, len);
	r->outlen += len;
	r->nout++;
	return 0;
}

int rstore_append(struct rstore *r, int argc, const char **argv,
		  const size_t *lens)
{
	char *cmd;
	int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
	int rc;

	if (n < 0)
		return -1;
	rc = out_add(r, cmd, (size_t)n);
	redisFreeCommand(cmd);
	return rc;
}

/* Send buf, then read the replies of what is in flight (handed to
 * done) and n replies into rep, all before the deadline. */
int rsi_xfer(struct rstore *r, const char *buf, size_t len,
		redisReply **rep, int n)
{
	char in[16384];
	size_t got = 0;
	int i = 0;

	r->broken = 0;
	r->io.timeout_ms = rsi_left_ms(r);
	errno = 0;
	if (io_put(&r->io, buf, len) < 0 || io_flush(&r->io) < 0) {
		r->broken = errno == EPIPE || errno == ECONNRESET;
		r->io.out_len = 0;
		if (r->io.err == IO_ERR_TIMEOUT)
			errno = 0;
		return rsi_fail(r, "send to Redis%s: %s", "");
	}
	while (i < n || r->nfly) {
		void *reply = NULL;
		ssize_t k;

		if (redisReaderGetReply(r->rd, &reply) != REDIS_OK) {
			errno = 0;
			snprintf(r->err, sizeof r->err, "Redis reply: %s",
				 r->rd->errstr);
			break;
		}
		if (reply) {
			if (!fly_take(r, reply))
				rep[i++] = reply;
			continue;
		}
		if (rsi_expired(r) || got > REPLY_MAX) {
			errno = 0;
			rsi_fail(r, "reply from Redis%s: %s", got > REPLY_MAX ?
			     " over the size limit" : "");
			break;
		}
		r->io.timeout_ms = rsi_left_ms(r);
		errno = 0;
		if ((k = io_read(&r->io, in, sizeof in)) <= 0) {
			r->broken = !got && (k == 0 || errno == ECONNRESET);
			if (r->io.err == IO_ERR_TIMEOUT)
				errno = 0; /* "timed out" */
			read_failed(r, k);
			break;
		}
		got += (size_t)k;
		redisReaderFeed(r->rd, in, (size_t)k);
	}
	if (i == n && !r->nfly)
		return 0;
	rstore_replies_free(rep, i);
	return -1;
}

void rstore_replies_free(redisReply **rep, int n)
{
	for (int i = 0; i < n; i++) {
		if (rep[i])
			freeReplyObject(rep[i]);
		rep[i] = NULL;
	}
}

/* One command on the fresh connection; its reply in *out. */
int rsi_ask(struct rstore *r, redisReply **out, int argc,
	      const char **argv)
{
	char *cmd;
	int n = redisFormatCommandArgv(&cmd, argc, argv, NULL), rc;

	if (n < 0)
		return -1;
	rc = rsi_xfer(r, cmd, (size_t)n, out, 1);
	redisFreeCommand(cmd);
	return rc;
}
