/* mon_smtp.c: one alert message to the operator, through the relay
 * itself: SMTP to the first `listen` address (a wildcard one as
 * loopback), from metrics_alert_from, each step (the connect, a command
 * and its whole reply, the message and its reply) within
 * MON_SMTP_STEP_MS.  The relay's rules must let it in
 * (man/relay-metrics.8); a refusal or failure is returned: mon_alert.c
 * logs it and tries again later, never in a loop.  This runs in
 * relay-metrics' main thread, whose beats (lib/notify.h) tell
 * relay-master it is not hung: its waits beat (notify_wait_fd), so a
 * relay slow to answer (its content scan, say) is no hang. */
#include "mon.h"
#include "date822.h"
#include "listen_addr.h"
#include "log.h"
#include "monotime.h"
#include "notify.h"
#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MON_SMTP_STEP_MS 10000

/* The connection: its socket (non-blocking), what was read of the
 * reply, the deadline of the step under way (monotime_ms). */
struct smtp_conn {
	int fd;
	char in[1024];
	size_t len;
	long long deadline;
};

/* The relay's first listener, as an address to connect to. */
static int relay_addr(struct sockaddr_storage *ss, socklen_t *len)
{
	char first[128];
	size_t n = strcspn(cf.listen, " ,");

	if (n >= sizeof first)
		return -1;
	memcpy(first, cf.listen, n);
	first[n] = '\0';
	if (listen_addr_parse(first, ss, len) < 0)
		return -1;
	if (listen_addr_is_any(ss)) {
		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_addr.s_addr =
				htonl(INADDR_LOOPBACK);
		else
			((struct sockaddr_in6 *)ss)->sin6_addr = in6addr_loopback;
	}
	return 0;
}

/* The next line of the reply (CRLF gone) into line; 0, or -1 (end of
 * file, a line longer than c->in, the deadline). */
static int conn_line(struct smtp_conn *c, char *line, size_t max)
{
	char *nl;
	size_t n;

	while (!(nl = memchr(c->in, '\n', c->len))) {
		ssize_t r;
		if (c->len == sizeof c->in)
			return -1;
		r = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
		if (r > 0)
			c->len += (size_t)r;
		else if (r == 0 || (errno != EINTR && (errno != EAGAIN ||
			 notify_wait_fd(c->fd, POLLIN, c->deadline) < 0)))
			return -1;
	}
	n = (size_t)(nl - c->in) + 1;
	if (n > max)
		return -1;
	memcpy(line, c->in, n - 1);
	line[n - 1 - (n >= 2 && c->in[n - 2] == '\r')] = '\0';
	memmove(c->in, c->in + n, c->len - n);
	c->len -= n;
	return 0;
}

/* Read one reply (its last line); the code, or -1. */
static int reply(struct smtp_conn *c)
{
	char line[sizeof c->in];

	while (conn_line(c, line, sizeof line) == 0) {
		if (strlen(line) < 3)
			return -1;
		if (line[3] != '-')
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			       (line[2] - '0');
	}
	return -1;
}

/* One step: send text (the command, or the message; NULL: none), read
 * its reply, all within MON_SMTP_STEP_MS: 0 when the reply's class is
 * want. */
static int step(struct smtp_conn *c, int want, const char *text)
{
	c->deadline = monotime_ms() + MON_SMTP_STEP_MS;
	if (text && notify_write_fd(c->fd, text, strlen(text), c->deadline) < 0)
		return -1;
	return reply(c) / 100 == want ? 0 : -1;
}

/* A command of fmt with arg, then step. */
static int command(struct smtp_conn *c, int want, const char *fmt,
		   const char *arg)
{
	char cmd[600];
	int n = snprintf(cmd, sizeof cmd, fmt, arg);

	if (n < 0 || (size_t)n >= sizeof cmd)
		return -1;
	return step(c, want, cmd);
}

/* The message, dot-stuffed, CRLF line ends, and the final dot. */
static void message(struct mon_buf *m, const char *to, const char *from,
		    const char *body)
{
	char date[64];

	date822_format((long long)time(NULL), date, sizeof date);
	mon_printf(m, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nSubject: "
		   "relaybox %s: alert\r\nAuto-Submitted: auto-generated"
		   "\r\n\r\n", from, to, date, cf.hostname);
	for (const char *p = body; *p;) {
		size_t n = strcspn(p, "\n");
		mon_printf(m, "%s%.*s\r\n", *p == '.' ? "." : "", (int)n, p);
		p += n + (p[n] == '\n');
	}
	mon_printf(m, ".\r\n");
}

static int session(struct smtp_conn *c, const char *to, const char *from,
		   const char *body)
{
	struct mon_buf m = { 0 };
	int rc;

	if (step(c, 2, NULL) < 0 ||
	    command(c, 2, "EHLO %s\r\n", cf.hostname) < 0 ||
	    command(c, 2, "MAIL FROM:<%s>\r\n", from) < 0 ||
	    command(c, 2, "RCPT TO:<%s>\r\n", to) < 0 ||
	    command(c, 3, "DATA\r\n", NULL) < 0)
		return -1;
	message(&m, to, from, body);
	rc = m.failed || !m.s ? -1 : step(c, 2, m.s);
	free(m.s);
	if (rc == 0) {
		c->deadline = monotime_ms() + MON_SMTP_STEP_MS;
		notify_write_fd(c->fd, "QUIT\r\n", 6, c->deadline);
	}
	return rc;
}

/* A connection to the relay within MON_SMTP_STEP_MS; 0, or -1. */
static int conn_open(struct smtp_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len, el = sizeof(int);
	int e = 0;

	c->deadline = monotime_ms() + MON_SMTP_STEP_MS;
	if (relay_addr(&ss, &len) < 0 ||
	    (c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, 0)) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	if (errno != EINPROGRESS ||
	    notify_wait_fd(c->fd, POLLOUT, c->deadline) < 0 ||
	    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e)
		return -1;
	return 0;
}

int mon_smtp_send(const char *to, const char *body)
{
	struct smtp_conn c = { .fd = -1 };
	char from[320];
	int ok;

	if (*cf.metrics_alert_from)
		snprintf(from, sizeof from, "%s", cf.metrics_alert_from);
	else
		snprintf(from, sizeof from, "relay-metrics@%s", cf.hostname);
	ok = conn_open(&c) == 0 && session(&c, to, from, body) == 0;
	if (c.fd >= 0)
		close(c.fd);
	if (!ok)
		return -1;
	log_info("alert mail to=<%s> sent through the relay", to);
	return 0;
}
