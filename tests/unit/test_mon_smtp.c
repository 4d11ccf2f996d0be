// links: metrics/mon_smtp.c metrics/mon_buf.c
/* test_mon_smtp.c: relay-metrics' alert mail client (metrics/mon_smtp.c,
 * a non-blocking socket) against a fake relay on loopback whose replies
 * come in pieces: a line cut in two, several lines in one write, a
 * multi-line greeting and EHLO reply.  The whole session is checked as
 * the relay got it: the envelope, the dot-stuffed body, its end, QUIT. */
#include "../../metrics/mon.h"
#include "t.h"
#include "settings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fake {
	int lfd;
	char got[8192];     /* what the client sent (the whole session) */
	size_t len;
};

/* One line from fd (at most n - 1 bytes, without the end); 0, or -1. */
static int read_line(int fd, struct fake *f, char *line, size_t n)
{
	size_t i = 0;
	char ch;

	while (read(fd, &ch, 1) == 1) {
		if (f->len < sizeof f->got - 1)
			f->got[f->len++] = ch;
		if (ch == '\n') {
			line[i] = '\0';
			return 0;
		}
		if (i + 1 < n)
			line[i++] = ch;
	}
	return -1;
}

static void say(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* The rest of a reply, a moment later: the client has read the first
 * part by then (most times; either way the reply is the same). */
static void say_rest(int fd, const char *s)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	nanosleep(&pause, NULL);
	say(fd, s);
}

/* A relay that takes the message, its replies split mid-line. */
static void serve_mail(int fd, struct fake *f)
{
	char line[1024];
	int data = 0;

	say(fd, "220-fake");
	say_rest(fd, " relay\r\n220 ready\r\n");
	while (read_line(fd, f, line, sizeof line) == 0) {
		if (data) {
			if (strcmp(line, ".\r") == 0) {
				say(fd, "250 ok");
				say_rest(fd, " queued\r\n");
				data = 0;
			}
		} else if (strncmp(line, "EHLO", 4) == 0) {
			say(fd, "250-fake\r\n250-PIPE");
			say_rest(fd, "LINING\r\n250 8BITMIME\r\n");
		} else if (strncmp(line, "DATA", 4) == 0) {
			say(fd, "354 go on\r\n");
			data = 1;
		} else if (strncmp(line, "QUIT", 4) == 0) {
			say(fd, "221 bye\r\n");
			return;
		} else {
			say(fd, "250 ok\r\n");
		}
	}
}

static void *fake_relay(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	serve_mail(fd, f);
	close(fd);
	return NULL;
}

/* A listener on 127.0.0.1, the relay's first listen address in cf. */
static int fake_listen(char *addr, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	snprintf(addr, n, "127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

static int run(struct fake *f, const char *body)
{
	static char addr[64];
	pthread_t t;
	int rc;

	f->lfd = fake_listen(addr, sizeof addr);
	if (f->lfd < 0)
		return -2;
	cf.listen = addr;
	pthread_create(&t, NULL, fake_relay, f);
	rc = mon_smtp_send("ops@example.org", body);
	pthread_join(t, NULL);
	close(f->lfd);
	return rc;
}

int main(void)
{
	static struct fake mail;

	signal(SIGPIPE, SIG_IGN);
	cf.hostname = "relay.example.org";
	cf.metrics_alert_from = "";

	T_CHECK("mail: the relay took it",
		run(&mail, "one\n.dot\nend\n") == 0);
	mail.got[mail.len] = '\0';
	T_CHECK("mail: EHLO", strstr(mail.got, "EHLO relay.example.org\r\n"));
	T_CHECK("mail: envelope",
		strstr(mail.got, "MAIL FROM:<relay-metrics@relay.example.org>"
				 "\r\nRCPT TO:<ops@example.org>\r\nDATA\r\n"));
	T_CHECK("mail: dot-stuffed body, the end, QUIT",
		strstr(mail.got, "\r\n\r\none\r\n..dot\r\nend\r\n.\r\nQUIT\r\n"));
	return t_done();
}
