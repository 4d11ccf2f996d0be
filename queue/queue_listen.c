/* queue_listen.c: relay-queue as a daemon on run/queue.sock.  Each frame
 * "op=inject" arrives with two descriptors (message, envelope); a child
 * puts them on fd 0 and 1 and runs the same injection as the standalone
 * program, then reports through a pipe; when it exits the connection
 * gets "status= id= text=".  One injection at a time per connection,
 * many connections at once (one poll loop). */
#include "queue.h"
#include "exitcodes.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "privs.h"
#include "settings.h"
#include "usock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LISTEN_CONN_MAX 1000
#define LISTEN_TMP_AGE 3600 /* older tmp/ files are a crash's leftovers */

struct lconn {
	int fd;
	struct ns_reader rd;
	pid_t pid;      /* injection child, 0 when idle */
	int resfd;      /* the child's report pipe */
};

static struct lconn *conns[LISTEN_CONN_MAX];
static size_t nconns;
static uid_t allowed[4];
static size_t nallowed;
static int sigpipe_w = -1;

static void listen_sigchld(int sig)
{
	int e = errno;
	(void)sig;
	if (write(sigpipe_w, "c", 1) < 0) {
		/* full: a wake-up is pending anyway */
	}
	errno = e;
}

static void listen_allow(const char *user)
{
	struct passwd *pw = user && *user ? getpwnam(user) : NULL;
	if (pw && nallowed < sizeof allowed / sizeof *allowed)
		allowed[nallowed++] = pw->pw_uid;
}

static int listen_peer_ok(int fd)
{
	uid_t uid;
	if (usock_peer_uid(fd, &uid) < 0)
		return 0;
	if (uid == 0 || uid == getuid())
		return 1;
	for (size_t i = 0; i < nallowed; i++)
		if (allowed[i] == uid)
			return 1;
	return 0;
}

static void listen_close(size_t i)
{
	struct lconn *c = conns[i];
	if (c->pid > 0)
		return; /* finished when the child is reaped */
	close(c->fd);
	ns_reader_free(&c->rd);
	free(c);
	conns[i] = conns[--nconns];
}

static void listen_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct lconn *c;

	if (fd < 0)
		return;
	if (!listen_peer_ok(fd) || nconns == LISTEN_CONN_MAX) {
		log_warn("queue.sock: peer refused (uid or too many)");
		close(fd);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c || ns_reader_init(&c->rd, fd) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->resfd = -1;
	conns[nconns++] = c;
}

/* The child: the two pipes become fd 0 and 1, inject, report, exit. */
static void listen_child(int msgfd, int envfd, int resw)
{
	struct queue_result r;
	char rep[400];
	int n;

	signal(SIGCHLD, SIG_DFL);
	alarm((unsigned)(cf.data_timeout + 60)); /* a stuck client */
	if (dup2(msgfd, 0) < 0 || dup2(envfd, 1) < 0)
		_exit(EXIT_TEMP);
	queue_inject(0, 1, &r);
	n = snprintf(rep, sizeof rep, "%d %s %s", r.status,
		     r.qid[0] ? r.qid : "-", r.text);
	if (write(resw, rep, (size_t)n) < 0)
		_exit(EXIT_TEMP);
	_exit(r.status);
}

static int listen_start(struct lconn *c, int *fds)
{
	int res[2];
	pid_t pid;

	if (pipe2(res, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(res[0]);
		listen_child(fds[0], fds[1], res[1]);
	}
	close(res[1]);
	if (pid < 0) {
		close(res[0]);
		return -1;
	}
	c->pid = pid;
	c->resfd = res[0];
	return 0;
}

static void listen_reply(struct lconn *c, int status, const char *qid,
			 const char *text)
{
	struct kv k;
	kv_init(&k);
	kv_addf(&k, "status", "%d", status);
	if (qid && *qid && strcmp(qid, "-") != 0)
		kv_add(&k, "id", qid);
	kv_add(&k, "text", text);
	if (kv_send(&k, c->fd) < 0)
		log_warn("queue.sock: reply lost: %s", strerror(errno));
	kv_free(&k);
}

/* One request frame with the descriptors that came with it. */
static int listen_frame(struct lconn *c, char *payload, size_t len, int *fds,
			int nfds)
{
	struct kv_msg m;
	const char *op;

	if (kv_parse(&m, payload, len) < 0)
		return -1;
	op = kv_get(&m, "op");
	if (!op || strcmp(op, "inject") != 0 || nfds != 2) {
		listen_reply(c, EXIT_PERM, NULL, "bad request");
		return 0;
	}
	if (listen_start(c, fds) < 0)
		listen_reply(c, EXIT_TEMP, NULL, "cannot fork");
	return 0;
}

/* Readable: take frames until one starts an injection. */
static void listen_read(size_t i)
{
	struct lconn *c = conns[i];
	char *payload;
	size_t len;

	while (c->pid == 0) {
		int fds[8], nfds = 0, rc;
		rc = ns_reader_next_fds(&c->rd, &payload, &len, fds, &nfds, 8);
		if (rc == 1 && listen_frame(c, payload, len, fds, nfds) < 0)
			rc = -1;
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		if (rc == 0)
			return;
		if (rc < 0) {
			if (errno)
				log_warn("queue.sock: peer dropped: %s",
					 errno == EPROTO ? "garbage"
							 : strerror(errno));
			listen_close(i);
			return;
		}
	}
}

static void listen_finish(struct lconn *c, int wstatus)
{
	char rep[400] = "", qid[QFILE_ID_MAX] = "-";
	int status = EXIT_TEMP, off = 0;
	ssize_t n = read(c->resfd, rep, sizeof rep - 1);

	if (n > 0) {
		rep[n] = '\0';
		if (sscanf(rep, "%d %63s %n", &status, qid, &off) < 2 || !off)
			status = EXIT_TEMP, off = 0;
	}
	if (n <= 0 || !WIFEXITED(wstatus)) {
		status = EXIT_TEMP;
		snprintf(rep, sizeof rep, "injection crashed");
		strcpy(qid, "-");
	}
	listen_reply(c, status, qid, rep + off);
	close(c->resfd);
	c->resfd = -1;
	c->pid = 0;
}

static void listen_reap(void)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		for (size_t i = 0; i < nconns; i++) {
			if (conns[i]->pid != pid)
				continue;
			listen_finish(conns[i], wstatus);
			listen_read(i); /* frames that queued up meanwhile */
			break;
		}
	}
}

static void listen_loop(int lfd, int sigr)
{
	static struct pollfd pfd[LISTEN_CONN_MAX + 2];

	for (;;) {
		size_t n = nconns;
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sigr, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			pfd[i + 2] = (struct pollfd){
				.fd = conns[i]->pid ? -1 : conns[i]->fd,
				.events = POLLIN };
		if (poll(pfd, n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_fatalx(EXIT_TEMP, "poll");
		}
		/* backwards: listen_close moves the last connection down */
		for (size_t i = n; i-- > 0;)
			if (pfd[i + 2].revents && i < nconns)
				listen_read(i);
		if (pfd[1].revents) {
			char junk[64];
			while (read(sigr, junk, sizeof junk) > 0)
				;
			listen_reap();
		}
		if (pfd[0].revents)
			listen_accept(lfd);
	}
}

int queue_listen_run(void)
{
	char path[PATH_MAX];
	int lfd, sp[2];

	snprintf(path, sizeof path, "%s/queue.sock", cf.run_dir);
	lfd = usock_listen(path, 0666);
	if (lfd < 0)
		log_fatalx(EXIT_TEMP, "listen %s", path);
	listen_allow(cf.user_smtpd);
	listen_allow(cf.user_send);
	listen_allow(cf.user_queue);
	privs_drop(cf.user_queue, cf.group_queue);
	queue_dirs_ensure(cf.queue_dir);
	queue_dirs_sweep(cf.queue_dir, queue_now(), LISTEN_TMP_AGE);
	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0)
		log_fatalx(EXIT_TEMP, "pipe");
	sigpipe_w = sp[1];
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = listen_sigchld,
				.sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	fd_nonblock(lfd);
	log_info("listening on %s", path);
	listen_loop(lfd, sp[0]);
	return 0;
}
