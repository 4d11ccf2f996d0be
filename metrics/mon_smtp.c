/* mon_smtp.c: one alert message to the operator, through the relay
 * itself: SMTP to the first `listen` address (a wildcard one as
 * loopback), from metrics_alert_from, with a limit on the connect and
 * every read and write (METRICS_ALERT_SMTP_WAIT, 10 s).  The relay's rules must let it in (man/relay-metrics.8); a
 * refusal or failure is returned: mon_alert.c logs it and tries again
 * later, never in a loop. */
#include "mon.h"
#include "date822.h"
#include "listen_addr.h"
#include "log.h"
#include "notify.h"
#include "settings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

/* Read one reply (its last line); the code, or -1. */
static int reply(FILE *f)
{
	char line[1024];

	while (fgets(line, sizeof line, f)) {
		if (strlen(line) < 4)
			return -1;
		if (line[3] != '-')
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			       (line[2] - '0');
	}
	return -1;
}

/* Send a command (fmt with arg, or none), read its reply: 0 when the
 * reply's class is want. */
static int step(FILE *in, FILE *out, int want, const char *fmt,
		const char *arg)
{
	/* METRICS_ALERT_SMTP_WAIT each, several in a row: relay-metrics'
	 * main thread (its heartbeat, lib/notify.h) is busy here, not
	 * hung; relay-master's limit leaves room for one */
	notify_beat();
	if (fmt) {
		fprintf(out, fmt, arg);
		if (fflush(out) == EOF)
			return -1;
	}
	return reply(in) / 100 == want ? 0 : -1;
}

/* The message, dot-stuffed, CRLF line ends. */
static void message(FILE *f, const char *to, const char *from,
		    const char *body)
{
	char date[64];

	date822_format((long long)time(NULL), date, sizeof date);
	fprintf(f, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nSubject: relaybox "
		   "%s: alert\r\nAuto-Submitted: auto-generated\r\n\r\n",
		from, to, date, cf.hostname);
	for (const char *p = body; *p;) {
		size_t n = strcspn(p, "\n");
		fprintf(f, "%s%.*s\r\n", *p == '.' ? "." : "", (int)n, p);
		p += n + (p[n] == '\n');
	}
	fprintf(f, ".\r\n");
}

static int session(FILE *in, FILE *out, const char *to, const char *from,
		   const char *body)
{
	if (step(in, out, 2, NULL, NULL) < 0 ||
	    step(in, out, 2, "EHLO %s\r\n", cf.hostname) < 0 ||
	    step(in, out, 2, "MAIL FROM:<%s>\r\n", from) < 0 ||
	    step(in, out, 2, "RCPT TO:<%s>\r\n", to) < 0 ||
	    step(in, out, 3, "DATA\r\n", NULL) < 0)
		return -1;
	message(out, to, from, body);
	if (step(in, out, 2, "%s", "") < 0)
		return -1;
	fprintf(out, "QUIT\r\n");
	return 0;
}

int mon_smtp_send(const char *to, const char *body)
{
	struct timeval tv = { METRICS_ALERT_SMTP_WAIT, 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	char from[320];
	FILE *in = NULL, *out = NULL;
	int fd = -1, fd2 = -1, ok = 0;

	if (*cf.metrics_alert_from)
		snprintf(from, sizeof from, "%s", cf.metrics_alert_from);
	else
		snprintf(from, sizeof from, "relay-metrics@%s", cf.hostname);
	if (relay_addr(&ss, &len) == 0 &&
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
	    connect(fd, (struct sockaddr *)&ss, len) == 0 &&
	    (fd2 = dup(fd)) >= 0 && (in = fdopen(fd, "r")) &&
	    (out = fdopen(fd2, "w")))
		ok = session(in, out, to, from, body) == 0;
	if (out)
		fclose(out);
	else if (fd2 >= 0)
		close(fd2);
	if (in)
		fclose(in);
	else if (fd >= 0)
		close(fd);
	if (!ok)
		return -1;
	log_info("alert mail to=<%s> sent through the relay", to);
	return 0;
}
