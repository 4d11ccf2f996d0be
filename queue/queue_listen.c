/* queue_listen.c: relay-queue as a daemon on run/queue.sock.  Each frame
 * "op=inject" arrives with two descriptors (message, envelope), or
 * "op=inline" is followed by the message and envelope in frames on the
 * connection (relay-smtpd: no pipes, one write for a small message); the
 * job (queue_job.c) reads them in this process's poll loop as data arrives,
 * writes tmp/<id> the way the standalone program does, and hands it to
 * the commit threads (queue_commit.c), which make whole batches durable
 * at once and then answer "status= id= text=" on the connection
 * themselves; this loop frees the job when the client's next frame comes
 * (or within a second).  No fork per message, and no wake-up of this
 * loop per message but the client's request.  One injection at a time
 * per connection, many connections at once. */
#include "queue.h"
#include "abuse.h"
#include "exitcodes.h"
#include "kv.h"
#include "log.h"
#include "notify.h"
#include "ns.h"
#include "metrics.h"
#include "privs.h"
#include "runsock.h"
#include "settings.h"
#include "usock.h"
#include "wire_queue.h"

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
#include <sys/stat.h>
#include <unistd.h>

/* Connections beyond conn_max: those relay-smtpd keeps between messages
 * (at most 32 a worker), relay-send's, relayctl's. */
#define LISTEN_CONN_SPARE 1024
/* Descriptors a connection may hold at once (its socket, two pipes,
 * the queue file), and those the process needs besides. */
#define LISTEN_CONN_FDS 4
#define LISTEN_FDS_OTHER 64
#define LISTEN_TMP_AGE 3600 /* older tmp/ files are a crash's leftovers */
/* Frames taken from one connection per round of the loop: a client that
 * wrote thousands of requests ahead is served a share at a time, the
 * other connections in between. */
#define LISTEN_ROUND_FRAMES 64
/* Signal frames taken from one connection at the stop: relay-send holds
 * 16 KiB of them at most; queue_stop.c's alarm bounds the whole stop. */
#define LISTEN_STOP_FRAMES 4096

struct lconn {
	int fd;
	struct ns_reader rd;
	struct queue_job *job; /* the injection under way, NULL when idle */
	int need_admit;        /* relay-smtpd's uid: relay-policy's proof or
				  nothing (queue_admit.c) */
	uid_t uid;             /* the peer's (SO_PEERCRED) */
	int more;              /* frames already read wait for the next
				  round (poll cannot tell about them) */
	int refused;           /* the last request was answered here */
	int full;              /* its answers fill the socket: no request
				  is read until there is room (POLLOUT) */
};

static struct lconn **conns; /* conn_max of them */
static size_t nconns;
static size_t conn_max;
static uid_t allowed[4];
static size_t nallowed;
/* relay-smtpd's uid needs a proof, unless it is relay-send's too */
static uid_t smtpd_uid, send_uid;
static int smtpd_uid_known, send_uid_known;

/* As root: a hard descriptor limit below need raised to it (relay-master
 * may have been started under a small one).  Unprivileged: no change. */
static void listen_fd_raise(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < need) {
		rl.rlim_cur = rl.rlim_max = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			/* not root: the limit stays, and says so below */
		}
	}
}

/* As many connections as relay-listen takes sessions (each session in
 * DATA holds one), plus the spare ones, so that the clients of one
 * address, held to conn_per_ip sessions there, can never take them
 * all.  Every injection holds its descriptors in this process: raise
 * the limit for them, and take no more connections than it allows. */
static void listen_fd_limit(void)
{
	size_t want = (size_t)cf.conn_max + LISTEN_CONN_SPARE, fit;
	long lim;

	listen_fd_raise((rlim_t)(want * LISTEN_CONN_FDS + LISTEN_FDS_OTHER));
	lim = privs_nofile_raise(); /* -1: unknown or unlimited */
	fit = lim > 2 * LISTEN_FDS_OTHER
		      ? (size_t)(lim - LISTEN_FDS_OTHER) / LISTEN_CONN_FDS : 16;
	conn_max = lim < 0 || fit >= want ? want : fit;
	if (conn_max < want) /* more sessions in DATA at once get 451 */
		log_info("queue.sock: at most %zu connections (%ld descriptors, "
			 "%d each)", conn_max, lim, LISTEN_CONN_FDS);
	if (conn_max <= (size_t)cf.conn_per_ip)
		log_warn("queue.sock: at most %zu connections, not more than "
			 "conn_per_ip %ld: one client address can take them all "
			 "(raise LimitNOFILE or ulimit -Hn)", conn_max,
			 cf.conn_per_ip);
	conns = calloc(conn_max, sizeof *conns);
	if (!conns)
		log_fatalx(EXIT_TEMP, "out of memory");
}

static void listen_allow(const char *user)
{
	struct passwd *pw = user && *user ? getpwnam(user) : NULL;
	if (pw && nallowed < sizeof allowed / sizeof *allowed)
		allowed[nallowed++] = pw->pw_uid;
	if (pw && user == cf.user_smtpd) {
		smtpd_uid = pw->pw_uid;
		smtpd_uid_known = 1;
	}
	if (pw && user == cf.user_send) {
		send_uid = pw->pw_uid;
		send_uid_known = 1;
	}
}

/* 1 when fd's peer may inject, with *need_admit set when it must show a
 * proof for each message: relay-smtpd's uid, unless that is also root,
 * ours or relay-send's (an unprivileged run, all under one uid). */
static int listen_peer_ok(int fd, int *need_admit)
{
	uid_t uid;
	*need_admit = 0;
	if (usock_peer_uid(fd, &uid) < 0)
		return 0;
	if (uid == 0 || uid == getuid())
		return 1;
	for (size_t i = 0; i < nallowed; i++)
		if (allowed[i] == uid) {
			*need_admit = smtpd_uid_known && uid == smtpd_uid &&
				      !(send_uid_known && uid == send_uid);
			return 1;
		}
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

/* 0 when no connection was waiting, else 1 (taken or refused). */
static int listen_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct lconn *c;
	int need_admit;

	if (fd < 0)
		return 0;
	if (!listen_peer_ok(fd, &need_admit)) {
		log_warn("queue.sock: peer refused: its uid is not allowed");
		close(fd);
		return 1;
	}
	if (nconns >= conn_max) {
		log_warn("queue.sock: peer refused: too many connections (%zu)",
			 conn_max);
		close(fd);
		return 1;
	}
	c = calloc(1, sizeof *c);
	if (!c || ns_reader_init(&c->rd, fd) < 0) {
		free(c);
		close(fd);
		return 1;
	}
	c->fd = fd;
	c->need_admit = need_admit;
	if (usock_peer_uid(fd, &c->uid) < 0)
		c->uid = (uid_t)-1;
	conns[nconns++] = c;
	return 1;
}

/* One request frame with the descriptors that came with it. */
/* relayctl abuse ack|release: root (or our own uid) only. */
static int listen_abuse(struct lconn *c, struct kv_msg *m)
{
	struct queue_result r = { .status = EXIT_PERM,
				  .reason = QREASON_REQUEST,
				  .text = "abuse requests are root's" };

	if (c->uid == 0 || c->uid == getuid())
		queue_abuse_ctl(kv_get(m, ABUSE_WIRE_ACTION),
				kv_get(m, ABUSE_WIRE_ACCOUNT),
				kv_get(m, ABUSE_WIRE_BY), (unsigned long)c->uid,
				&r);
	queue_job_reply(c->fd, &r, NULL);
	return 0;
}

static unsigned listen_count(const struct kv_msg *m, const char *key)
{
	return (unsigned)strtoul(kv_get_or(m, key, "0"), NULL, 10);
}

/* relay-send's delivery results for abuse monitoring: no reply. */
static int listen_signal(struct lconn *c, struct kv_msg *m)
{
	struct abuse_signal s;

	if (c->uid != 0 && c->uid != getuid() &&
	    !(send_uid_known && c->uid == send_uid))
		return -1; /* nobody else sends these: drop the peer */
	s.account = kv_get(m, ABUSE_WIRE_ACCOUNT);
	s.customer = kv_get(m, ABUSE_WIRE_CUSTOMER);
	s.qid = kv_get(m, ABUSE_WIRE_QID);
	s.delivered = listen_count(m, ABUSE_WIRE_DELIVERED);
	s.bounced = listen_count(m, ABUSE_WIRE_BOUNCED);
	s.rejected = listen_count(m, ABUSE_WIRE_REJECTED);
	s.bounced_msgs = kv_get(m, ABUSE_WIRE_BOUNCED_MSGS)
			 ? (long)listen_count(m, ABUSE_WIRE_BOUNCED_MSGS) : -1;
	s.rejected_domains = kv_get(m, ABUSE_WIRE_REJECTED_DOMAINS);
	s.bounced_domains = kv_get(m, ABUSE_WIRE_BOUNCED_DOMAINS);
	s.device = kv_get(m, ABUSE_WIRE_DEVICE);
	queue_abuse_delivery(&s);
	return 0;
}

/* 1 when fd is a pipe or a socket: what a client writes.  Anything
 * else (a file, /dev/zero) has no writer to wait for and no end the
 * client controls. */
static int listen_fd_streams(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) ||
				       S_ISSOCK(st.st_mode));
}

/* The most message a peer may send: from relay-smtpd's uid what
 * relay-smtpd itself takes, message_size_max (it counts the bytes it
 * sends: CRLF line ends, dot-stuffing removed), and the CRLF it may add
 * at the end (wire_queue.h);
 * relay-send's notices and root are not limited (a failure notice
 * carries the message and a report whose length grows with its
 * recipients). */
static off_t listen_msg_max(const struct lconn *c)
{
	return c->need_admit ? (off_t)cf.message_size_max +
				       WIRE_QUEUE_ADDED_MAX : 0;
}

/* The answer to a request that is not one. */
static int listen_bad(struct lconn *c, const char *text)
{
	struct queue_result bad = { .status = EXIT_PERM,
				    .reason = QREASON_REQUEST };

	snprintf(bad.text, sizeof bad.text, "%s", text);
	queue_job_reply(c->fd, &bad, NULL);
	return 0;
}

static int listen_frame(struct lconn *c, char *payload, size_t len, int *fds,
			int nfds)
{
	struct kv_msg m;
	const char *op;
	int inl;

	if (kv_parse(&m, payload, len) < 0)
		return -1;
	op = kv_get(&m, WIRE_QUEUE_OP);
	if (op && !strcmp(op, ABUSE_WIRE_OP) && nfds == 0)
		return listen_abuse(c, &m);
	if (op && !strcmp(op, ABUSE_WIRE_SIGNAL) && nfds == 0)
		return listen_signal(c, &m);
	inl = op && strcmp(op, WIRE_QUEUE_OP_INLINE) == 0 && nfds == 0;
	if (!inl && op && strcmp(op, WIRE_QUEUE_OP_INLINE) == 0)
		return -1; /* with descriptors: out of step, drop the peer */
	if (!inl && (!op || strcmp(op, WIRE_QUEUE_OP_INJECT) != 0 || nfds != 2))
		return listen_bad(c, "bad request");
	if (!inl && (!listen_fd_streams(fds[0]) || !listen_fd_streams(fds[1])))
		return listen_bad(c, "message and envelope must be pipes");
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
	c->job->need_admit = c->need_admit;
	c->job->sp.max = listen_msg_max(c);
	c->job->replyfd = c->fd;
	c->job->deadline = queue_now() + cf.data_timeout + 60;
	return 0;
}

static void listen_finish(struct queue_job *j);

/* Bytes read from the connection beyond the frame last returned: a
 * client that wrote its next request before its answer. */
static size_t listen_unread(const struct lconn *c)
{
	return c->rd.end - c->rd.start - c->rd.consumed;
}

/* To the commit, which answers the client itself (queue_commit_done).
 * When the next request is already here, poll would not tell us about
 * it: the commit thread is to wake us instead. */
static void listen_commit(struct queue_job *j)
{
	j->incommit = 1;
	j->wake = listen_unread(j->owner) > 0;
	if (queue_scan_wanted(j))
		queue_scan_add(j, j->wake);
	else
		queue_commit_add(j, j->wake);
}

/* A frame of an inline injection; 1 when the job left for the commit
 * (no more frames for now).  A refusal is answered here and the frames
 * after it are the caller's loop's to take. */
static int listen_inline(struct lconn *c, const char *p, size_t n)
{
	int rc = queue_job_frame(c->job, p, n);

	if (rc > 0)
		listen_commit(c->job);
	else if (rc < 0)
		listen_finish(c->job);
	return rc > 0;
}

/* 1 when the connection's frames are to be read now: no injection, or
 * an inline one still taking frames. */
static int listen_wants_frames(const struct lconn *c)
{
	return !c->job || (c->job->inl && c->job->inl != JOB_DONE);
}

/* 1 when the peer has room for an answer.  A client that writes
 * requests without reading the answers is read no further until it
 * does (c->full), instead of its answers being cut short. */
static int listen_room(struct lconn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };

	if (poll(&p, 1, 0) == 0) {
		c->full = 1;
		return 0;
	}
	c->refused = 0; /* room, or an error the next read finds */
	return 1;
}

/* Readable: take frames until one starts a pipe injection or an inline
 * one is complete, or this round's share is taken (c->more), or the
 * answers to a stream of refused requests fill the socket (c->full). */
static void listen_read(size_t i)
{
	struct lconn *c = conns[i];
	char *payload;
	size_t len;
	int budget = LISTEN_ROUND_FRAMES;

	c->more = c->full = 0; /* room is looked at again below */
	while (listen_wants_frames(c)) {
		int fds[8], nfds = 0, rc;
		if (budget-- == 0) {
			c->more = listen_unread(c) > 0;
			return;
		}
		if (!c->job && c->refused && !listen_room(c))
			return;
		rc = ns_reader_next_fds(&c->rd, &payload, &len, fds, &nfds, 8);
		if (rc == 1 && c->job) {
			if (nfds)
				rc = -1; /* descriptors inside an injection */
			else if (listen_inline(c, payload, len))
				rc = 0; /* to the commit */
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

static void listen_release(struct lconn *c)
{
	queue_job_free(c->job);
	free(c->job);
	c->job = NULL;
}

/* The injection was refused here: answer and release it.  Frames that
 * came with the last read are taken by the loop's next round (poll
 * tells about anything still in the socket); never read on from here,
 * where a refusal's next request, refused too, would be a call deeper. */
static void listen_finish(struct queue_job *j)
{
	struct lconn *c = j->owner;

	queue_inject_report(j);
	queue_job_reply(c->fd, &j->r, NULL);
	listen_release(c);
	c->refused = 1;
	c->more = listen_unread(c) > 0;
}

/* Data on a job's pipe. */
static void listen_step(struct lconn *c)
{
	int rc = queue_job_step(c->job);
	if (rc < 0)
		listen_finish(c->job);
	else if (rc > 0)
		listen_commit(c->job);
}

/* A connection whose injection is in the commit: 1 when it was done
 * (answered by the commit thread) and is now released; else, with wake,
 * the commit thread will write the wake-up pipe when it is. */
static int listen_collect(struct lconn *c, int wake)
{
	if (!c->job || !c->job->incommit || !queue_commit_done(c->job, wake))
		return 0;
	listen_release(c);
	return 1;
}

/* The commit finished a job we asked about (its client wrote or went
 * away during the commit): release it and read on.  Backwards, since
 * listen_read may close a connection and move the last one down. */
static void listen_committed(int wakefd)
{
	char junk[64];

	if (read(wakefd, junk, sizeof junk) < 0) {
		/* EAGAIN: another pass took it */
	}
	for (size_t i = nconns; i-- > 0;)
		if (i < nconns && conns[i]->job && conns[i]->job->wake &&
		    listen_collect(conns[i], 0))
			listen_read(i);
}

/* What a connection waits on: its socket (frames), or the pipe of its
 * injection; in the commit its socket again, as the client's next
 * frame (or its hang-up) is what tells us to look whether the commit
 * answered it, or nothing (-1) once the commit is to wake us. */
static int listen_job_fd(const struct lconn *c)
{
	if (c->full || listen_wants_frames(c))
		return c->fd;
	if (c->job->incommit)
		return c->job->wake ? -1 : c->fd;
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
	queue_name_tick();
	queue_abuse_tick();
	for (size_t i = nconns; i-- > 0;) {
		struct queue_job *j = i < nconns ? conns[i]->job : NULL;
		if (j && j->incommit) { /* an idle client's, answered */
			if (listen_collect(conns[i], 0) &&
			    listen_unread(conns[i]))
				listen_read(i);
			continue;
		}
		if (!j || listen_job_fd(conns[i]) < 0 || now < j->deadline)
			continue;
		if (j->inl) { /* its frames are out of step: drop the peer */
			log_warn("queue.sock: timeout reading an injection");
			listen_close(i);
			continue;
		}
		j->r.status = EXIT_TEMP;
		j->r.reason = QREASON_TIMEOUT;
		snprintf(j->r.text, sizeof j->r.text, "timeout reading %s",
			 j->envfd >= 0 ? "envelope" : "message");
		listen_finish(j);
	}
}

/* 1 when connection i has frames read ahead to be taken this round. */
static int listen_more(size_t i)
{
	return conns[i]->more && !conns[i]->full &&
	       listen_wants_frames(conns[i]);
}

/* At the stop: the signal frames c holds or has in its socket, read
 * and counted, since relay-send took them as given when it wrote them.
 * The first other frame ends it (no injection starts now: its client
 * gets no answer, as at any death); so does one in an injection. */
static void listen_stop_signals(struct lconn *c)
{
	for (int k = 0; !c->job && k < LISTEN_STOP_FRAMES; k++) {
		int fds[8], nfds = 0, rc;
		struct kv_msg m;
		const char *op;
		char *payload;
		size_t len;

		rc = ns_reader_next_fds(&c->rd, &payload, &len, fds, &nfds, 8);
		for (int f = 0; f < nfds; f++)
			close(fds[f]);
		if (rc != 1 || nfds || kv_parse(&m, payload, len) < 0)
			return;
		op = kv_get(&m, WIRE_QUEUE_OP);
		if (!op || strcmp(op, ABUSE_WIRE_SIGNAL) != 0 ||
		    listen_signal(c, &m) < 0)
			return;
	}
}

/* SIGTERM (queue_stop.c): the connections still waiting to be taken
 * too (relay-send's new one after a restart may be), then the signals
 * of every connection, then the end. */
static void listen_stop(int lfd)
{
	for (size_t k = 0; k < conn_max && listen_accept(lfd); k++)
		;
	for (size_t i = 0; i < nconns; i++)
		listen_stop_signals(conns[i]);
	queue_stop_now();
}

/* pfd[]: the listening socket, the commit threads' wake-up, then the
 * connections */
#define LISTEN_FIXED 2

static void listen_loop(int lfd, int wakefd)
{
	struct pollfd *pfd = calloc(conn_max + LISTEN_FIXED, sizeof *pfd);

	if (!pfd)
		log_fatalx(EXIT_TEMP, "out of memory");

	for (;;) {
		size_t n = nconns;
		int rc, more = 0;
		if (queue_stop_asked())
			listen_stop(lfd);
		notify_beat();
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = wakefd, .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			pfd[i + LISTEN_FIXED] = (struct pollfd){
				.fd = listen_job_fd(conns[i]),
				.events = conns[i]->full ? POLLOUT : POLLIN };
			more |= listen_more(i);
		}
		/* frames read ahead: look at the others, do not wait */
		rc = poll(pfd, n + LISTEN_FIXED, more ? 0 : NOTIFY_BEAT_MS);
		if (rc < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "poll");
		if (rc < 0 || (rc == 0 && !more)) {
			listen_timeouts();
			continue;
		}
		/* backwards: listen_close moves the last connection down */
		for (size_t i = n; i-- > 0;) {
			if (i >= nconns || pfd[i + LISTEN_FIXED].fd < 0 ||
			    (!pfd[i + LISTEN_FIXED].revents && !listen_more(i)))
				continue;
			if (listen_wants_frames(conns[i]) ||
			    listen_collect(conns[i], 1))
				listen_read(i);
			else if (!conns[i]->job->incommit)
				listen_step(conns[i]);
		}
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
	int lfd, wakefd;

	queue_stop_block();
	lfd = runsock_listen(RUNSOCK_QUEUE, path, sizeof path);
	if (lfd < 0)
		log_fatalx(EXIT_TEMP, "listen %s", path);
	listen_allow(cf.user_smtpd);
	listen_allow(cf.user_send);
	listen_allow(cf.user_queue);
	if (queue_admit_init() < 0)
		log_fatalx(EXIT_TEMP, "cannot read the admission key");
	listen_fd_limit();
	privs_drop(cf.user_queue, cf.group_queue);
	queue_rules_open();
	metrics_open(cf.dir, METRICS_QUEUE);
	if (runsock_listening(lfd) < 0)
		log_fatalx(EXIT_TEMP, "listen %s", path);
	queue_dirs_ensure(cf.queue_dir);
	queue_dirs_sweep(cf.queue_dir, queue_now(), LISTEN_TMP_AGE);
	signal(SIGPIPE, SIG_IGN);
	wakefd = queue_commit_start();
	if (wakefd < 0)
		log_fatalx(EXIT_TEMP, "commit thread");
	queue_pool_start(cf.queue_dir);
	if (queue_scan_start() < 0)
		log_fatalx(EXIT_TEMP, "scan threads");
	if (queue_abuse_start() < 0)
		log_fatalx(EXIT_TEMP, "abuse accounts");
	fd_nonblock(lfd);
	queue_stop_arm(); /* every thread started */
	log_info("listening on %s", path);
	notify_ready();
	listen_loop(lfd, wakefd);
	return 0;
}
