// links: smtpd/smtp_queue.c smtpd/smtp_frame.c
/* test_smtp_queue.c: relay-smtpd's side of the inject protocol against a
 * stand-in relay-queue in a child process: the two descriptors arrive,
 * the message and the NUL-framed envelope come through them byte for
 * byte, and the answer (durable, temporary failure, silence) comes back;
 * the connection stays open for the next message, and a stale one (the
 * queue restarted) is replaced without losing the message. */
#include "t.h"
#include "kv.h"
#include "ns.h"
#include "usock.h"
#include "../../smtpd/smtp_queue.h"

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

static ssize_t read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;
	while (got < n && (r = read(fd, buf + got, n - got)) > 0)
		got += (size_t)r;
	return (ssize_t)got;
}

/* The stand-in: one connection, answers per mode. */
static void fake_queue(int lfd, int mode)
{
	char frame[128], msg[256], env[256], reply[128];
	int fds[2], nfds = 2, c = accept(lfd, NULL, NULL);
	ssize_t n, ml, el;
	int ok;

	if (c < 0)
		_exit(2);
	n = usock_recv_fds(c, frame, sizeof frame, fds, &nfds);
	if (n <= 0 || nfds != 2 || !strstr(frame, "op=inject"))
		_exit(3);
	ml = read_all(fds[0], msg, sizeof msg);
	el = read_all(fds[1], env, sizeof env);
	ok = ml == (ssize_t)strlen(MSG) && !memcmp(msg, MSG, (size_t)ml) &&
	     el == (ssize_t)sizeof ENV && !memcmp(env, ENV, sizeof ENV);
	if (mode == 2)
		_exit(0); /* dies without answering */
	if (mode == 3) /* the abort case: no envelope must have come */
		ok = el == 0 && ml == (ssize_t)strlen(MSG);
	snprintf(reply, sizeof reply, mode == 1 ? "status=111\ntext=No space left on device\n"
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
	if (write(j.msgfd, MSG, strlen(MSG)) < 0)
		return -97;
	if (mode == 3) {
		smtp_queue_abort(&j, 5000, text, 256);
		st = -1;
	} else {
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
	/* in the abort case the stand-in's verdict is its exit status */
	return mode == 3 ? (WIFEXITED(cst) ? WEXITSTATUS(cst) : -95) : st;
}

/* The stand-in accepts once and takes two messages on that connection. */
static void fake_queue_twice(int lfd)
{
	char frame[128], msg[256], env[256], reply[64];
	int c = accept(lfd, NULL, NULL);

	for (int k = 0; k < 2; k++) {
		int fds[2], nfds = 2;
		ssize_t n = usock_recv_fds(c, frame, sizeof frame, fds, &nfds);
		if (n <= 0 || nfds != 2)
			_exit(3);
		if (read_all(fds[0], msg, sizeof msg) != (ssize_t)strlen(MSG) ||
		    read_all(fds[1], env, sizeof env) != 2)
			_exit(4);
		close(fds[0]);
		close(fds[1]);
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
		if (smtp_queue_open(&j, path) < 0 ||
		    write(j.msgfd, MSG, strlen(MSG)) < 0)
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
	T_CHECK("abort: no envelope sent", run(path, 3, qid, text) == 0);
	{
		char q0[64] = "", q1[64] = "";
		T_CHECK("two messages on one connection (stale one replaced)",
			run_twice(path, q0, q1) == 0);
		T_STREQ("first queue id", q0, "Q0");
		T_STREQ("second queue id", q1, "Q1");
	}
	{
		struct smtp_queue_job j;
		unlink(path);
		T_CHECK("nobody listening: open fails",
			smtp_queue_open(&j, path) == -1);
	}
	unlink(path);
	rmdir(dir);
	return t_done();
}
