/* listen_loop.c: the accept loop (see listen_loop.h). */
#include "listen_loop.h"
#include "listen_caps.h"
#include "listen_spawn.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int sigpipe_w = -1;
static volatile sig_atomic_t got_term;

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGTERM || sig == SIGINT)
		got_term = 1;
	if (write(sigpipe_w, "x", 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = e;
}

static int signals_init(void)
{
	struct sigaction sa;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		log_fatalx(EXIT_TEMP, "pipe");
	sigpipe_w = p[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return p[0];
}

static void reap(struct listen_caps *caps)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (!listen_caps_release(caps, pid))
			log_warn("reaped unknown child %ld", (long)pid);
}

/* Best effort: the client may already be gone; never block on it. */
static void refuse(int fd, const char *esc, const char *text)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "421 %s %s %s\r\n", esc, cf.hostname,
			 text);
	if (n > 0 && send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* nothing more to do for this client */
	}
}

static void peer_fill(int fd, const struct sockaddr_storage *ss,
		      const struct listen_sock *ls, struct listen_peer *p)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;

	listen_sock_name(ss, p->ip, sizeof p->ip, p->port, sizeof p->port);
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
		listen_sock_name(&local, p->localip, sizeof p->localip,
				 p->localport, sizeof p->localport);
	} else {
		strcpy(p->localip, "unknown");
		strcpy(p->localport, "0");
	}
	p->tls = ls->tls;
}

/* Serve or refuse one accepted connection; fd is closed here. */
static void serve(struct listen_caps *caps, int fd,
		  const struct sockaddr_storage *ss, const struct listen_sock *ls)
{
	struct listen_peer p;
	struct ipaddr ip;
	enum listen_caps_verdict v;
	pid_t pid;

	peer_fill(fd, ss, ls, &p);
	if (ipaddr_parse(p.ip, &ip) < 0)
		memset(&ip, 0, sizeof ip);
	v = listen_caps_check(caps, &ip);
	if (v != LISTEN_CAPS_OK) {
		log_info("refused %s port=%s: %s (%zu open)", p.ip, p.localport,
			 v == LISTEN_CAPS_GLOBAL ? "conn_max" : "conn_per_ip",
			 caps->n);
		refuse(fd, "4.7.0", "Too many connections, try again later");
	} else if ((pid = listen_spawn(fd, &p)) < 0) {
		refuse(fd, "4.3.0", "Service temporarily unavailable");
	} else {
		listen_caps_add(caps, &ip, pid);
		log_info("connect %s:%s to %s pid=%ld (%zu open, %zu from ip)",
			 p.ip, p.port, ls->name, (long)pid, caps->n,
			 listen_caps_count(caps, &ip));
	}
	close(fd);
}

/* Accept what is waiting on one listener (bounded per round). */
static void accept_some(struct listen_caps *caps, const struct listen_sock *ls)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s: %s", ls->name, strerror(errno));
			return;
		}
		serve(caps, fd, &ss, ls);
	}
}

int listen_loop_run(struct listen_sock *socks, size_t n)
{
	struct pollfd pf[LISTEN_SOCK_MAX + 1];
	struct listen_caps caps;
	char drain[64];

	if (listen_caps_init(&caps, (size_t)cf.conn_max, (size_t)cf.conn_per_ip) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	pf[0].fd = signals_init();
	pf[0].events = POLLIN;
	for (size_t i = 0; i < n; i++) {
		pf[i + 1].fd = socks[i].fd;
		pf[i + 1].events = POLLIN;
	}
	while (!got_term) {
		if (poll(pf, n + 1, -1) < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "poll");
		if (pf[0].revents & POLLIN)
			while (read(pf[0].fd, drain, sizeof drain) > 0)
				;
		reap(&caps);
		for (size_t i = 0; i < n && !got_term; i++)
			if (pf[i + 1].revents & POLLIN)
				accept_some(&caps, &socks[i]);
	}
	for (size_t i = 0; i < n; i++)
		close(socks[i].fd);
	log_info("stopping: %zu sessions left to finish on their own", caps.n);
	listen_caps_free(&caps);
	return EXIT_DONE;
}
