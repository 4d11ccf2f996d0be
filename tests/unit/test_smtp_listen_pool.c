// links: smtpd/listen_pool.c smtpd/listen_slots.c smtpd/listen_sock.c smtpd/smtp_worker.c smtpd/smtp_worker_multi.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/smtp_policy.c smtpd/smtp_frame.c smtpd/smtp_tls.c smtpd/smtp_verbs.c smtpd/smtp_mail.c smtpd/smtp_txn.c smtpd/smtp_bdat.c smtpd/smtp_queue.c smtpd/smtp_data.c smtpd/smtp_cmd.c smtpd/smtp_auth.c smtpd/smtp_stop.c
/* test_smtp_listen_pool.c: relay-listen's worker pool against stand-in
 * workers (this file's listen_spawn_worker forks a child that takes the
 * set-up frames as the real worker does, then accepts on the listener,
 * claims its slot and holds the session until the client hangs up): the
 * set-up carries the table and the listener, a claim that leaves too few
 * idle wakes relay-listen, fill starts another, trim and a changed
 * relay.conf retire, a reaped worker frees its slot, a worker dying at
 * start pauses spawning; the listener frame as the real worker reads it. */
#include "t.h"
#include "kv.h"
#include "ns.h"
#include "settings.h"
#include "usock.h"
#include "../../smtpd/listen_pool.h"
#include "../../smtpd/smtp_worker.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die_at_start; /* the next stand-in exits at once */

/* One set-up frame with its descriptor; the parsed frame in m. */
static int take_frame(struct ns_reader *rd, struct kv_msg *m, int *fd)
{
	char *payload;
	size_t len;
	int nfds = 0;

	if (ns_reader_next_fds(rd, &payload, &len, fd, &nfds, 1) != 1 ||
	    nfds != 1)
		return -1;
	return kv_parse(m, payload, len);
}

/* The stand-in's sessions: accept, claim, hold until the client hangs
 * up, release; until EOF on the control socket. */
static void fake_serve(int ctl, struct listen_slots *t, size_t slot,
		       size_t idle_min, int lfd)
{
	for (;;) {
		struct pollfd pf[2] = { { .fd = ctl, .events = POLLIN },
					{ .fd = lfd, .events = POLLIN } };
		struct listen_slots_seen seen;
		struct ipaddr ip = { { 0 } };
		char c;
		int fd;

		if (poll(pf, 2, 10000) <= 0 || (pf[0].revents && read(ctl, &c, 1) <= 0))
			_exit(0);
		if (!pf[1].revents || (fd = accept(lfd, NULL, NULL)) < 0)
			continue;
		if (listen_slots_claim(t, slot, &ip, &seen) == LISTEN_CAPS_OK) {
			if (seen.idle < idle_min && write(ctl, "l", 1) < 0)
				_exit(4);
			while (read(fd, &c, 1) > 0)
				;
			listen_slots_release(t, slot, time(NULL));
		}
		close(fd);
	}
}

static void fake_worker(int ctl)
{
	static struct kv_msg m;
	struct ns_reader rd;
	struct listen_sock ls;
	struct listen_slots *t;
	int fd, lfd, on = 0;
	socklen_t len = sizeof on;
	size_t slot, idle_min;

	if (die_at_start || ns_reader_init(&rd, ctl) < 0 ||
	    take_frame(&rd, &m, &fd) < 0 || !(t = listen_slots_attach(fd)))
		_exit(2);
	slot = strtoul(kv_get_or(&m, "slot", "x"), NULL, 10);
	idle_min = strtoul(kv_get_or(&m, "idle_min", "x"), NULL, 10);
	if (strcmp(kv_get_or(&m, "listeners", ""), "1") != 0 ||
	    take_frame(&rd, &m, &lfd) < 0 || smtp_worker_listener(&m, &ls) < 0 ||
	    strcmp(ls.name, "127.0.0.1:0") != 0 ||
	    getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		_exit(3);
	fake_serve(ctl, t, slot, idle_min, lfd);
}

pid_t listen_spawn_worker(int *ctl)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* only its control socket: a copy of another worker's would
		 * hide that worker's retirement from it */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != sv[1])
				close(fd);
		fake_worker(sv[1]);
	}
	close(sv[1]);
	fd_nonblock(sv[0]);
	*ctl = sv[0];
	return pid;
}

/* Wait (bounded) until the pool has idle workers, feeding it what the
 * workers write meanwhile. */
static int wait_idle(struct listen_pool *p, size_t idle)
{
	for (int i = 0; i < 500 && listen_pool_idle(p) != idle; i++) {
		for (size_t k = 0; k < p->n; k++)
			if (p->w[k].fd >= 0)
				listen_pool_input(p, k);
		usleep(10 * 1000);
	}
	return listen_pool_idle(p) == idle;
}

/* Reap (bounded) until n workers are left. */
static int reap_to(struct listen_pool *p, size_t n, time_t now)
{
	for (int i = 0; i < 500 && p->n > n; i++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0)
			listen_pool_reaped(p, pid, now);
		else
			usleep(10 * 1000);
	}
	return p->n == n;
}

static int connect_to(const struct listen_sock *ls)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || getsockname(ls->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, len) < 0)
		return -1;
	return fd;
}

static int listener(struct listen_sock *ls)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	memset(ls, 0, sizeof *ls);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls->fd = socket(AF_INET, SOCK_STREAM, 0);
	snprintf(ls->name, sizeof ls->name, "127.0.0.1:0");
	return bind(ls->fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	       listen(ls->fd, 16) == 0 ? 0 : -1;
}

static void test_pool(void)
{
	static struct listen_pool p;
	struct listen_sock ls;
	char dir[] = "/tmp/test_listen_pool.XXXXXX", conf[64];
	time_t now = time(NULL);
	int c1;

	T_CHECK("set-up: a listener", listener(&ls) == 0 && mkdtemp(dir));
	cf.smtpd_workers_min = 1;
	cf.smtpd_max_idle = 100;
	cf.conn_max = 4;
	cf.conn_per_ip = 4;
	cf.dir = dir;
	T_CHECK("init: the shared table", listen_pool_init(&p, &ls, 1) == 0);
	listen_pool_fill(&p, now);
	T_CHECK("fill: one idle worker", p.n == 1 && wait_idle(&p, 1));
	c1 = connect_to(&ls);
	T_CHECK("a connection: the worker claims its slot (none idle)",
		c1 >= 0 && wait_idle(&p, 0));
	listen_pool_fill(&p, now);
	T_CHECK("fill after the wake-up: a second worker, idle",
		p.n == 2 && wait_idle(&p, 1));
	close(c1);
	T_CHECK("session over: both idle", wait_idle(&p, 2));
	listen_pool_trim(&p, now + 200);
	T_CHECK("trim: the idle one beyond the minimum is retired",
		listen_pool_idle(&p) == 1 && reap_to(&p, 1, now + 200));
	snprintf(conf, sizeof conf, "%s/relay.conf", dir);
	fclose(fopen(conf, "w"));
	listen_pool_trim(&p, now + 300);
	T_CHECK("relay.conf changed: every worker retired",
		listen_pool_idle(&p) == 0 && reap_to(&p, 0, now + 300));
	listen_pool_fill(&p, now + 300);
	T_CHECK("reaped slots are free again: a new worker",
		p.n == 1 && wait_idle(&p, 1));
	listen_pool_free(&p);
	T_CHECK("free: the workers go", reap_to(&p, 0, now + 300) || p.n == 0);
	die_at_start = 1;
	listen_pool_init(&p, &ls, 1);
	listen_pool_fill(&p, now + 400);
	T_CHECK("a worker dying at start is reaped",
		p.n == 1 && reap_to(&p, 0, now + 400));
	die_at_start = 0;
	listen_pool_fill(&p, now + 400);
	T_CHECK("and spawning pauses for a second", p.n == 0);
	unlink(conf);
	rmdir(dir);
}

static void test_listener_frame(void)
{
	static const struct {
		const char *frame;
		int ok;
	} cases[] = {
		{ "op=listener\ntls=1\nfixed=1\nlocalip=127.0.0.1\nlocalport=465\nname=127.0.0.1:465\n", 1 },
		{ "op=listener\ntls=0\nfixed=0\nlocalip=\nlocalport=\nname=0.0.0.0:25\n", 1 },
		{ "op=session\ntls=0\nfixed=0\nname=x\n", 0 },
		{ "op=listener\ntls=yes\nfixed=0\nname=x\n", 0 },
		{ "op=listener\ntls=0\nfixed=2\nname=x\n", 0 },
		{ "op=listener\ntls=0\nfixed=1\nlocalport=123456789\nname=x\n", 0 },
	};
	static struct kv_msg m;
	struct listen_sock ls;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256], name[64];
		snprintf(buf, sizeof buf, "%s", cases[i].frame);
		snprintf(name, sizeof name, "listener frame %zu: %s", i,
			 cases[i].ok ? "taken" : "refused");
		T_CHECK(name, kv_parse(&m, buf, strlen(buf)) == 0 &&
			(smtp_worker_listener(&m, &ls) == 0) == cases[i].ok);
	}
}

static void test_listener_facts(void)
{
	static struct kv_msg m;
	char buf[] = "op=listener\ntls=1\nfixed=1\nlocalip=127.0.0.1\n"
		     "localport=465\nname=n\n";
	struct listen_sock ls;

	T_CHECK("listener frame: parsed", kv_parse(&m, buf, strlen(buf)) == 0 &&
		smtp_worker_listener(&m, &ls) == 0);
	T_CHECK("listener frame: the facts",
		ls.tls == 1 && ls.fixed == 1 && ls.fd == -1 &&
		strcmp(ls.localip, "127.0.0.1") == 0 &&
		strcmp(ls.localport, "465") == 0 && strcmp(ls.name, "n") == 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_pool();
	test_listener_frame();
	test_listener_facts();
	return t_done();
}
