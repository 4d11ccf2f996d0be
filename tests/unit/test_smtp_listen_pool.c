// links: smtpd/listen_pool.c smtpd/smtp_worker.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/smtp_policy.c smtpd/smtp_frame.c smtpd/smtp_tls.c smtpd/smtp_verbs.c smtpd/smtp_mail.c smtpd/smtp_txn.c smtpd/smtp_queue.c smtpd/smtp_data.c smtpd/smtp_cmd.c smtpd/smtp_auth.c
/* test_smtp_listen_pool.c: relay-listen's worker pool against stand-in
 * workers (this file's listen_spawn_worker forks a child that answers
 * "done" when its client hangs up): an idle worker is reused, a busy one
 * never gets a second session, smtpd_max_use retires a worker, garbage on
 * a control socket kills the worker, a reaped worker is forgotten; and
 * the session frame's facts as the real worker reads them. */
#include "t.h"
#include "kv.h"
#include "ns.h"
#include "settings.h"
#include "usock.h"
#include "../../smtpd/listen_pool.h"
#include "../../smtpd/smtp_session.h"
#include "../../smtpd/smtp_worker.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int garbage; /* the next stand-in answers garbage */

/* The stand-in worker: per session frame, waits for the client to hang
 * up, then "done"; until EOF on the control socket. */
static void fake_worker(int ctl, int bad)
{
	struct ns_reader rd;
	char *payload;
	size_t len;
	int fds[1], nfds = 0;

	if (ns_reader_init(&rd, ctl) < 0)
		_exit(2);
	while (ns_reader_next_fds(&rd, &payload, &len, fds, &nfds, 1) == 1) {
		const char *reply = bad ? "9:op=done!\n," : SMTP_WORKER_DONE;
		char c;
		if (nfds != 1 || !strstr(payload, "op=session"))
			_exit(3);
		while (read(fds[0], &c, 1) > 0)
			;
		close(fds[0]);
		nfds = 0;
		if (write(ctl, reply, strlen(reply)) < 0)
			_exit(4);
	}
	_exit(0);
}

pid_t listen_spawn_worker(int *ctl)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* only its control socket: a copy of another session's client
		 * socket would keep that session from ever ending */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != sv[1])
				close(fd);
		fake_worker(sv[1], garbage);
	}
	close(sv[1]);
	fd_nonblock(sv[0]);
	*ctl = sv[0];
	return pid;
}

/* Wait for w[i]'s answer and feed it to the pool. */
static pid_t answer(struct listen_pool *p, pid_t pid)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pollfd pf = { .fd = p->w[i].fd, .events = POLLIN };
		if (p->w[i].pid != pid || pf.fd < 0)
			continue;
		if (poll(&pf, 1, 5000) != 1)
			return -1;
		return listen_pool_input(p, i, 0);
	}
	return -1;
}

static void reap_all(struct listen_pool *p)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, 0)) > 0)
		listen_pool_reaped(p, pid, 100);
}

/* Hand a new client to the pool; *client gets our end of it (closing it
 * ends the session). */
static pid_t hand(struct listen_pool *p, time_t now, int *client)
{
	struct listen_peer peer = { "192.0.2.1", "1234", "127.0.0.1", "25", 0 };
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	pid = listen_pool_hand(p, sv[0], &peer, now, NULL, NULL);
	close(sv[0]);
	*client = sv[1];
	return pid;
}

static void test_pool(void)
{
	struct listen_pool p;
	int ca, cb, cc;
	pid_t a, b, c;

	cf.smtpd_workers_min = 1;
	cf.smtpd_max_use = 2;
	cf.smtpd_max_idle = 100;
	cf.dir = "/nonexistent";
	listen_pool_init(&p);
	listen_pool_fill(&p, 10);
	T_CHECK("fill: one idle worker", p.n == 1 && listen_pool_idle(&p) == 1);
	a = hand(&p, 10, &ca);
	T_CHECK("hand: to the idle worker", a == p.w[0].pid && p.w[0].busy);
	b = hand(&p, 10, &cb);
	T_CHECK("hand while busy: a second worker", b > 0 && b != a && p.n == 2);
	close(ca);
	T_CHECK("done: the pid whose session ended", answer(&p, a) == a);
	T_CHECK("done: idle again", listen_pool_idle(&p) == 1);
	c = hand(&p, 11, &cc);
	T_CHECK("hand: the most recently used idle one", c == a);
	close(cc);
	T_CHECK("second done", answer(&p, a) == a);
	T_CHECK("max_use 2: retired after its second session",
		p.w[0].pid == a && p.w[0].fd < 0 && p.w[0].retired);
	close(cb);
	T_CHECK("b done", answer(&p, b) == b);
	listen_pool_trim(&p, 200);
	T_CHECK("trim: idle beyond the minimum for max_idle goes",
		listen_pool_idle(&p) == 1);
	garbage = 1;
	listen_pool_retire_all(&p);
	reap_all(&p);
	T_CHECK("reaped: forgotten", p.n == 0);
	a = hand(&p, 300, &ca);
	close(ca);
	T_CHECK("garbage frame: no session ends", answer(&p, a) == 0);
	T_CHECK("garbage frame: the worker is dropped", p.w[0].fd < 0);
	reap_all(&p);
	T_CHECK("garbage: reaped", p.n == 0);
	listen_pool_free(&p);
}

static void test_peer(void)
{
	static struct kv_msg m;
	char ok[] = "op=session\nip=192.0.2.1\nport=1234\nlocalip=127.0.0.1\n"
		    "localport=465\ntls=1\n";
	char bad_op[] = "op=inject\nip=192.0.2.1\n";
	char bad_tls[] = "op=session\ntls=yes\n";
	struct smtp_peer p;

	T_CHECK("peer: parses", kv_parse(&m, ok, strlen(ok)) == 0 &&
		smtp_worker_peer(&m, &p) == 0);
	T_STREQ("peer: ip", p.ip, "192.0.2.1");
	T_STREQ("peer: localport", p.localport, "465");
	T_CHECK("peer: tls", p.tls == 1);
	T_CHECK("peer: another op is refused",
		kv_parse(&m, bad_op, strlen(bad_op)) == 0 &&
		smtp_worker_peer(&m, &p) < 0);
	T_CHECK("peer: tls must be 0 or 1",
		kv_parse(&m, bad_tls, strlen(bad_tls)) == 0 &&
		smtp_worker_peer(&m, &p) < 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_pool();
	test_peer();
	return t_done();
}
