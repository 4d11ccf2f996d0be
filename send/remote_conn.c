/* remote_conn.c: TCP connections to upstream servers, and the per-worker
 * connection cache.  A connection is cached after a transaction (after
 * RSET answered 250 when the transaction ended early) under
 * "host:port tls=<policy> wrap=<0|1> auth=<name>", so that it is only reused for
 * jobs that would have set it up the same way.  It is closed after
 * cf.conn_cache_idle seconds without use or after cf.conn_cache_max
 * transactions (0 disables caching). */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "settings.h"
#include "tls.h"

#define CACHE_MAX 8

static struct remote_conn *cache[CACHE_MAX];

void remote_err_set(struct remote_err *e, char status, int code,
		    const char *fmt, ...)
{
	va_list ap;

	/* the code agrees with the status whatever the server said: a
	 * deferral carries a 4xx, a bounce a 5xx (relay-send and the
	 * notices read them together) */
	if (status == 'B' && (code < 500 || code > 599))
		code = 554;
	else if (status != 'B' && (code < 400 || code > 499))
		code = 421;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
}

socklen_t remote_ip_sockaddr(const struct remote_ip *ip, long port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (ip->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		memcpy(&s4->sin_addr, ip->a, 4);
		return sizeof *s4;
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((unsigned short)port);
	memcpy(&s6->sin6_addr, ip->a, 16);
	return sizeof *s6;
}

/* Non-blocking connect bounded by cf.connect_timeout; the fd is made
 * blocking again (io.c polls before every read and write). */
static int conn_connect(const struct remote_ip *ip, long port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = remote_ip_sockaddr(ip, port, &ss);
	int fd = socket(ip->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (fd < 0)
		return *err = errno, -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		if (errno != EINPROGRESS) {
			*err = errno;
			close(fd);
			return -1;
		}
		int w = io_wait(fd, POLLOUT, (int)cf.connect_timeout * 1000);
		if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0
		    || soerr) {
			*err = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

struct remote_conn *remote_conn_open(const struct remote_ip *ip,
				     const char *host, long port,
				     struct remote_err *e)
{
	struct remote_conn *c;
	char ipbuf[64];
	int err = 0, fd;

	remote_ip_format(ip, ipbuf, sizeof ipbuf);
	fd = conn_connect(ip, port, &err);
	if (fd < 0) {
		remote_err_set(e, 'T', 421, "4.4.1 connect to %s[%s]:%ld: %s",
			       host, ipbuf, port, strerror(err));
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		remote_err_set(e, 'T', 451, "4.3.0 out of memory");
		return NULL;
	}
	c->fd = fd;
	io_init(&c->io, fd, fd, (int)cf.remote_timeout * 1000);
	snprintf(c->host, sizeof c->host, "%s", host);
	snprintf(c->ip, sizeof c->ip, "%s", ipbuf);
	c->port = port;
	strcpy(c->tlsdesc, "none");
	return c;
}

void remote_conn_close(struct remote_conn *c, int quit)
{
	struct remote_reply r;

	if (!c)
		return;
	if (quit && !c->pre_seq) { /* pre_seq: out of step, just close */
		/* short wait: the server's goodbye does not matter */
		c->io.timeout_ms = 2000;
		if (io_puts(&c->io, "QUIT\r\n") == 0 && io_flush(&c->io) == 0)
			remote_reply_read(&c->io, &r);
	}
	if (tls_active(&c->io))
		tls_end(&c->io);
	close(c->fd);
	free(c);
}

void remote_conn_key(char *buf, size_t n, const char *host, long port,
		     const struct remote_job *job)
{
	/* sec: a connection set up under DANE or MTA-STS serves only jobs
	 * that ask the same of it; mx: a fixed host's never serves an MX
	 * job, nor one verified against tls_ca too (a routed domain's MX)
	 * an MX job that trusts the system store alone */
	const char *hop = job->host[0]		       ? ""
			  : remote_job_operator_hop(job) ? " mx tls_ca"
							 : " mx";

	/* wrap: an implicit-TLS connection never serves a STARTTLS job
	 * (nor the reverse), though both have TLS up once cached */
	snprintf(buf, n, "%s:%ld tls=%d wrap=%d auth=%s%s sec=%d%s", host,
		 port, (int)job->tls, job->tls_wrap, job->auth,
		 job->auth_unverified ? " unverified" : "", (int)job->sec.kind,
		 hop);
}

/* A cached connection is dead when the server has spoken or hung up
 * since its last reply: a 421 on idle timeout or EOF makes it readable,
 * and so does a reply nobody asked for, which the next job would take
 * for the reply to its MAIL, and every reply after it for the one
 * before (a BDAT "delivered" on a RCPT's 250).  So a poll every time,
 * even for one put back this very second: it does not wait (io_wait's
 * 0 waits forever, and even 1 ms is a sleep per job). */
static int conn_alive(struct remote_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (io_pending(&c->io))
		return 0;
	while (poll(&p, 1, 0) < 0)
		if (errno != EINTR)
			return 0;
	return p.revents == 0;
}

struct remote_conn *remote_cache_take(const char *key, unsigned long seq)
{
	remote_cache_expire();
	/* only the candidates are probed: one poll per job, not one per
	 * cached connection */
	for (size_t i = 0; i < CACHE_MAX; i++) {
		struct remote_conn *c = cache[i];
		if (!c || strcmp(c->key, key) != 0)
			continue;
		cache[i] = NULL;
		/* this job's commands went out after the last dot: their
		 * replies may be here already (and a dead connection shows
		 * in them: remote_txn_run says STALE) */
		if (c->pre_seq && c->pre_seq == seq)
			return c;
		if (!c->pre_seq && conn_alive(c)) {
			c->io.timeout_ms = (int)cf.remote_timeout * 1000;
			return c;
		}
		remote_conn_close(c, 0);
	}
	return NULL;
}

void remote_cache_put(struct remote_conn *c)
{
	struct remote_reply r;
	size_t slot = CACHE_MAX, oldest = 0;

	/* an RSET behind another job's commands (pre_seq) would be read
	 * by the server as part of them, inside its DATA even */
	if (!c->clean && c->pre_seq)
		c->broken = 1;
	if (cf.conn_cache_max <= 0 || cf.conn_cache_idle <= 0 ||
	    c->msgs >= cf.conn_cache_max || c->broken) {
		remote_conn_close(c, !c->broken);
		return;
	}
	/* after a finished transaction the server has reset itself: an
	 * RSET would cost a round trip per message for nothing (a server
	 * that hangs up meanwhile is found when the connection is taken).
	 * A broken one (its replies out of step) never gets here. */
	if (!c->clean &&
	    (remote_session_cmd(c, &r, "RSET") < 0 || r.code != 250)) {
		remote_conn_close(c, r.code != 0);
		return;
	}
	c->idle_since = time(NULL);
	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (!cache[i]) {
			slot = i;
			break;
		}
		if (cache[i]->idle_since < cache[oldest]->idle_since)
			oldest = i;
	}
	if (slot == CACHE_MAX) { /* full: the least recently used goes */
		remote_conn_close(cache[oldest], 1);
		slot = oldest;
	}
	cache[slot] = c;
}

int remote_cache_expire(void)
{
	time_t now = time(NULL);
	long next = -1;

	for (size_t i = 0; i < CACHE_MAX; i++) {
		struct remote_conn *c = cache[i];
		if (!c)
			continue;
		long left = (long)(c->idle_since + cf.conn_cache_idle - now);
		if (left <= 0) {
			/* a server that hung up meanwhile is found by
			 * remote_cache_take; this is the idle limit */
			cache[i] = NULL;
			remote_conn_close(c, 1);
			continue;
		}
		if (next < 0 || left * 1000 < next)
			next = left * 1000;
	}
	return (int)next;
}

void remote_cache_flush(void)
{
	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (cache[i])
			remote_conn_close(cache[i], 1);
		cache[i] = NULL;
	}
}
