// links: smtpd/smtp_queue.c smtpd/smtp_frame.c
/* test_smtp_queue.c: relay-smtpd's side of the inline inject protocol
 * against a stand-in relay-queue in a child process: "op=inline", the
 * message and the NUL-framed envelope come in frames byte for byte (a
 * message bigger than one buffer in several), and the answer (durable,
 * temporary failure, silence) comes back; an abort after part of the
 * message went out ends it with an empty envelope and gets the queue's
 * answer, one before anything went out sends nothing; the connection
 * stays open for the next message, and a stale one (the queue
 * restarted) is replaced without losing the message. */
#include "t.h"
#include "kv.h"
#include "ns.h"
#include "usock.h"
#include "../../smtpd/smtp_queue.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char MSG[] = "Subject: t\r\n\r\nbody\r\n";
static const char ENV[] = "Iip=192.0.2.1\0Iproto=ESMTP\0Fa@example.com\0"
			  "Tb@example.org\0Tc@example.org\0";

/* One inline injection: the op frame, message frames up to an empty
 * one, envelope frames up to an empty one.  0, or -1 out of step. */
static int read_inline(struct ns_reader *rd, char *msg, size_t *ml,
		       char *env, size_t *el, size_t cap)
{
	char *p;
	size_t n;

	*ml = *el = 0;
	if (ns_reader_next(rd, &p, &n) != 1 || strcmp(p, "op=inline\n") != 0)
		return -1;
	for (int phase = 0; phase < 2;) {
		char *dst = phase ? env : msg;
		size_t *l = phase ? el : ml;
		if (ns_reader_next(rd, &p, &n) != 1)
			return -1;
		if (n == 0) {
			phase++;
			continue;
		}
		if (*l + n > cap)
			return -1;
		memcpy(dst + *l, p, n);
		*l += n;
	}
	return 0;
}

static char big[40000]; /* more than one io buffer: several frames */

/* The stand-in: one connection, answers per mode. */
static void fake_queue(int lfd, int mode)
{
	static char msg[65536], env[256];
	char reply[128];
	struct ns_reader rd;
	int c = accept(lfd, NULL, NULL), ok;
	size_t ml, el;

	if (c < 0 || ns_reader_init(&rd, c) < 0 ||
	    read_inline(&rd, msg, &ml, env, &el, sizeof msg) < 0)
		_exit(3);
	ok = ml == strlen(MSG) && !memcmp(msg, MSG, ml) &&
	     el == sizeof ENV && !memcmp(env, ENV, sizeof ENV);
	if (mode == 2)
		_exit(0); /* dies without answering */
	if (mode == 3) /* the abort: part of the message, no envelope */
		ok = el == 0 && ml >= 16384 && ml <= sizeof big &&
		     !memcmp(msg, big, ml);
	snprintf(reply, sizeof reply, mode == 1 ? "status=111\ntext=No space left on device\n"
			: mode == 3 && ok ? "status=100\ntext=no envelope\n"
			: ok ? "status=0\nid=QID123\n" : "status=111\ntext=mismatch\n");
	ns_write(c, reply, strlen(reply));
	_exit(ok ? 0 : 5);
}

static int run(const char *path, int mode, char *qid, char *text)
{
	struct smtp_queue_job j;
	struct smtp_env e = { 0 };
	int lfd = usock_listen(path, 0600), st, cst;
	pid_t pid;

	if (lfd < 0)
		return -99;
	pid = fork();
	if (pid == 0)
		fake_queue(lfd, mode);
	close(lfd);
	if (smtp_queue_open(&j, path) < 0)
		return -98;
	if (mode == 3) {
		if (io_put(j.out, big, sizeof big) < 0)
			return -97;
		st = smtp_queue_abort(&j, 5000, text, 256);
	} else {
		if (io_put(j.out, MSG, strlen(MSG)) < 0)
			return -97;
		smtp_queue_env_add(&e, 'I', "ip", "192.0.2.1");
		smtp_queue_env_add(&e, 'I', "proto", "ESMTP");
		smtp_queue_env_add(&e, 'F', NULL, "a@example.com");
		smtp_queue_env_add(&e, 'T', NULL, "b@example.org");
		smtp_queue_env_add(&e, 'T', NULL, "c@example.org");
		smtp_queue_env_end(&e);
		st = smtp_queue_finish(&j, e.buf, e.len, 5000, qid, 64, text, 256);
		free(e.buf);
	}
	if (waitpid(pid, &cst, 0) != pid)
		return -96;
	if (!WIFEXITED(cst) || (mode != 2 && WEXITSTATUS(cst) != 0))
		return -95; /* the stand-in saw something else */
	return st;
}

/* The stand-in accepts once and takes two messages on that connection. */
static void fake_queue_twice(int lfd)
{
	char msg[256], env[256], reply[64];
	struct ns_reader rd;
	int c = accept(lfd, NULL, NULL);
	size_t ml, el;

	if (c < 0 || ns_reader_init(&rd, c) < 0)
		_exit(2);
	for (int k = 0; k < 2; k++) {
		if (read_inline(&rd, msg, &ml, env, &el, sizeof msg) < 0)
			_exit(3);
		if (ml != strlen(MSG) || el != 2)
			_exit(4);
		snprintf(reply, sizeof reply, "status=0\nid=Q%d\n", k);
		ns_write(c, reply, strlen(reply));
	}
	_exit(0);
}

/* Two messages one after the other: both durable, one connection. */
static int run_twice(const char *path, char *qid0, char *qid1)
{
	char text[256], *qids[2] = { qid0, qid1 };
	int lfd = usock_listen(path, 0600), cst, st = 0;
	pid_t pid;

	if (lfd < 0)
		return -99;
	pid = fork();
	if (pid == 0)
		fake_queue_twice(lfd);
	close(lfd);
	for (int k = 0; k < 2; k++) {
		struct smtp_queue_job j;
		if (k == 1) { /* an abort before anything went out: unseen */
			if (smtp_queue_open(&j, path) < 0 ||
			    io_put(j.out, MSG, strlen(MSG)) < 0 ||
			    smtp_queue_abort(&j, 5000, text, sizeof text) != -1)
				return -97;
		}
		if (smtp_queue_open(&j, path) < 0 ||
		    io_put(j.out, MSG, strlen(MSG)) < 0)
			return -98;
		st |= smtp_queue_finish(&j, "F\0\0", 2, 5000, qids[k], 64, text,
					sizeof text);
	}
	if (waitpid(pid, &cst, 0) != pid || !WIFEXITED(cst))
		return -96;
	return st ? st : WEXITSTATUS(cst);
}

int main(void)
{
	char dir[] = "/tmp/test_smtp_queue.XXXXXX", path[128], qid[64], text[256];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/queue.sock", dir);
	T_CHECK("durable: status 0", run(path, 0, qid, text) == 0);
	T_STREQ("durable: queue id", qid, "QID123");
	T_CHECK("disk full: status 111", run(path, 1, qid, text) == 111);
	T_STREQ("disk full: text", text, "No space left on device");
	T_CHECK("queue dies: no answer is -1", run(path, 2, qid, text) == -1);
	memset(big, 'x', sizeof big);
	T_CHECK("abort after 40000 bytes went out: the queue's 100",
		run(path, 3, qid, text) == 100);
	{
		char q0[64] = "", q1[64] = "";
		T_CHECK("two messages on one connection (stale one replaced)",
			run_twice(path, q0, q1) == 0);
		T_STREQ("first queue id", q0, "Q0");
		T_STREQ("second queue id", q1, "Q1");
	}
	{
		struct smtp_queue_job j;
		struct pollfd pf;
		unlink(path);
		/* a session's look at the kept connection finds it closed */
		smtp_queue_pollfd(&pf);
		smtp_queue_polled(&pf, poll(&pf, 1, 0));
		T_CHECK("nobody listening: open fails",
			smtp_queue_open(&j, path) == -1);
	}
	unlink(path);
	rmdir(dir);
	return t_done();
}
