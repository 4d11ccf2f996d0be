/* queue_listen.c: relay-queue as a daemon on run/queue.sock.  Each frame
 * "op=inject" arrives with two descriptors (message, envelope), or
 * "op=inline" is followed by the message and envelope in frames on the
 * connection (relay-smtpd: no pipes, one write for a small message); the
 * job (queue_job.c) reads them in this process's poll loop as data arrives,
 * writes tmp/<id> the way the standalone program does, and hands it to
 * the commit thread (queue_commit.c), which makes whole batches durable
 * at once; then the connection gets "status= id= text=".  No fork per
 * message.  One injection at a time per connection, many connections at
 * once. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_CONN_MAX 1000
#define LISTEN_TMP_AGE 3600 /* older tmp/ files are a crash's leftovers */

struct lconn {
	int fd;
	struct ns_reader rd;
	struct queue_job *job; /* the injection under way, NULL when idle */
};

static struct lconn *conns[LISTEN_CONN_MAX];
static size_t nconns;
static size_t conn_max = LISTEN_CONN_MAX;
static uid_t allowed[4];
static size_t nallowed;

/* Every injection now holds its descriptors in this process (socket, two
 * pipes, the queue file): raise the soft limit to the hard one and take
 * no more connections than the descriptors allow. */
static void listen_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rl.rlim_cur - 64) / 4 < conn_max)
		conn_max = rl.rlim_cur > 128 ? (size_t)(rl.rlim_cur - 64) / 4
					     : 16;
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

	if (c->job && c->job->inl && c->job->inl != JOB_DONE) {
		queue_job_free(c->job); /* its frames stopped coming */
		free(c->job);
		c->job = NULL;
	}
	if (c->job)
		return; /* an injection never leaves its connection idle */
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
	if (!listen_peer_ok(fd) || nconns >= conn_max) {
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
	conns[nconns++] = c;
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
	int inl;

	if (kv_parse(&m, payload, len) < 0)
		return -1;
	op = kv_get(&m, "op");
	inl = op && strcmp(op, "inline") == 0 && nfds == 0;
	if (!inl && op && strcmp(op, "inline") == 0)
		return -1; /* with descriptors: out of step, drop the peer */
	if (!inl && (!op || strcmp(op, "inject") != 0 || nfds != 2)) {
		listen_reply(c, EXIT_PERM, NULL, "bad request");
		return 0;
	}
	c->job = malloc(sizeof *c->job);
	if (!c->job)
		return -1; /* cannot answer in step with frames to come */
	if (inl) {
		queue_job_init(c->job, -1, -1);
		c->job->inl = JOB_MSG;
	} else {
		queue_job_init(c->job, fds[0], fds[1]);
		fds[0] = fds[1] = -1; /* the job's now */
		fd_nonblock(c->job->msgfd);
		fd_nonblock(c->job->envfd);
	}
	c->job->owner = c;
	c->job->deadline = queue_now() + cf.data_timeout + 60;
	return 0;
}

static void listen_finish(struct queue_job *j);

/* A frame of an inline injection; 1 when the job left for the commit
 * or was answered (no more frames for now). */
static int listen_inline(struct lconn *c, const char *p, size_t n)
{
	int rc = queue_job_frame(c->job, p, n);

	if (rc > 0)
		queue_commit_add(c->job);
	else if (rc < 0)
		listen_finish(c->job);
	return rc != 0;
}

/* 1 when the connection's frames are to be read now: no injection, or
 * an inline one still taking frames. */
static int listen_wants_frames(const struct lconn *c)
{
	return !c->job || (c->job->inl && c->job->inl != JOB_DONE);
}

/* Readable: take frames until one starts a pipe injection or an inline
 * one is complete. */
static void listen_read(size_t i)
{
	struct lconn *c = conns[i];
	char *payload;
	size_t len;

	while (listen_wants_frames(c)) {
		int fds[8], nfds = 0, rc;
		rc = ns_reader_next_fds(&c->rd, &payload, &len, fds, &nfds, 8);
		if (rc == 1 && c->job) {
			if (nfds)
				rc = -1; /* descriptors inside an injection */
			else if (listen_inline(c, payload, len))
				rc = 0; /* listen_finish read on, or commit */
		} else if (rc == 1 &&
			   listen_frame(c, payload, len, fds, nfds) < 0) {
			rc = -1;
		}
		for (int k = 0; k < nfds; k++)
			if (fds[k] >= 0)
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

/* The injection is over (refused or committed): answer, and take the
 * frames that queued up meanwhile. */
static void listen_finish(struct queue_job *j)
{
	struct lconn *c = j->owner;
	size_t i;

	queue_inject_report(j);
	listen_reply(c, j->r.status, j->r.qid, j->r.text);
	queue_job_free(j);
	free(j);
	c->job = NULL;
	for (i = 0; i < nconns && conns[i] != c; i++)
		;
	if (i < nconns)
		listen_read(i);
}

/* Data on a job's pipe. */
static void listen_step(struct lconn *c)
{
	int rc = queue_job_step(c->job);
	if (rc < 0)
		listen_finish(c->job);
	else if (rc > 0)
		queue_commit_add(c->job);
}

/* The commit thread finished a batch: one wake-up of relay-send for it. */
static void listen_committed(int wakefd)
{
	char junk[64];
	struct queue_job *j, *next;
	int any = 0;

	while (read(wakefd, junk, sizeof junk) > 0)
		;
	for (j = queue_commit_take(); j; j = next) {
		next = j->next;
		any |= j->r.status == EXIT_DONE;
		listen_finish(j);
	}
	if (any)
		queue_dirs_trigger(cf.queue_dir);
}

/* What a connection waits on: its socket (frames), or the pipe of its
 * injection, or nothing (-1) while the injection is in the commit. */
static int listen_job_fd(const struct lconn *c)
{
	if (listen_wants_frames(c))
		return c->fd;
	return c->job->inl ? -1 : queue_job_poll_fd(c->job);
}

/* A client that stopped sending is cut off (the fork-per-message daemon
 * had alarm() for this).  At most once a second, busy or not. */
static void listen_timeouts(void)
{
	static long long last;
	long long now = queue_now();

	if (now == last)
		return;
	last = now;
	queue_pool_tick(cf.queue_dir);
	for (size_t i = nconns; i-- > 0;) {
		struct queue_job *j = i < nconns ? conns[i]->job : NULL;
		if (!j || listen_job_fd(conns[i]) < 0 || now < j->deadline)
			continue;
		if (j->inl) { /* its frames are out of step: drop the peer */
			log_warn("queue.sock: timeout reading an injection");
			listen_close(i);
			continue;
		}
		j->r.status = EXIT_TEMP;
		snprintf(j->r.text, sizeof j->r.text, "timeout reading %s",
			 j->msgfd >= 0 ? "message" : "envelope");
		listen_finish(j);
	}
}

/* pfd[]: the listening socket, the commit thread's wake-up, the pool's
 * inotify (-1: none), then the connections */
#define LISTEN_FIXED 3

static void listen_loop(int lfd, int wakefd, int poolfd)
{
	static struct pollfd pfd[LISTEN_CONN_MAX + LISTEN_FIXED];

	for (;;) {
		size_t n = nconns;
		int rc;
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = wakefd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = poolfd, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			pfd[i + LISTEN_FIXED] = (struct pollfd){
				.fd = listen_job_fd(conns[i]),
				.events = POLLIN };
		rc = poll(pfd, n + LISTEN_FIXED, 1000);
		if (rc < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "poll");
		if (rc <= 0) {
			listen_timeouts();
			continue;
		}
		/* backwards: listen_close moves the last connection down */
		for (size_t i = n; i-- > 0;) {
			if (!pfd[i + LISTEN_FIXED].revents || i >= nconns ||
			    pfd[i + LISTEN_FIXED].fd < 0)
				continue;
			if (listen_wants_frames(conns[i]))
				listen_read(i);
			else
				listen_step(conns[i]);
		}
		if (pfd[2].revents)
			queue_pool_events();
		if (pfd[1].revents)
			listen_committed(wakefd);
		if (pfd[0].revents)
			listen_accept(lfd);
		listen_timeouts();
	}
}

int queue_listen_run(void)
{
	char path[PATH_MAX];
	int lfd, wakefd, poolfd;

	snprintf(path, sizeof path, "%s/queue.sock", cf.run_dir);
	lfd = usock_listen(path, 0666);
	if (lfd < 0)
		log_fatalx(EXIT_TEMP, "listen %s", path);
	listen_allow(cf.user_smtpd);
	listen_allow(cf.user_send);
	listen_allow(cf.user_queue);
	listen_fd_limit();
	privs_drop(cf.user_queue, cf.group_queue);
	queue_dirs_ensure(cf.queue_dir);
	queue_dirs_sweep(cf.queue_dir, queue_now(), LISTEN_TMP_AGE);
	signal(SIGPIPE, SIG_IGN);
	wakefd = queue_commit_start();
	if (wakefd < 0)
		log_fatalx(EXIT_TEMP, "commit thread");
	poolfd = queue_pool_start(cf.queue_dir);
	fd_nonblock(lfd);
	log_info("listening on %s", path);
	listen_loop(lfd, wakefd, poolfd);
	return 0;
}
