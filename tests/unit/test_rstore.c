// links:
/* test_rstore.c: the Redis client's own pieces (lib/rstore*.c) without a
 * Redis: the rate_store URL forms, the AUTH file's checks, and exchanges
 * with a fake server on loopback (a forked child that answers fixed
 * bytes): pipelined replies, a server that never answers (the deadline
 * holds, and the next try waits its pause), one that answers more than
 * the reply limit, and a kept connection the server closed (tried once
 * more on a new one), a reply whose objects would cost too much.  The
 * scripts run against a real redis-server in
 * tests/e2e/test_rate_store.py. */
#include "t.h"
#include "rstore.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void test_parse(void)
{
	static const struct {
		const char *url;
		int ok, kind, tls, db, nhosts, port0;
		const char *host0, *extra; /* path or master */
	} cases[] = {
		{ "local", 1, RSTORE_LOCAL, 0, 0, 0, 0, "", "" },
		{ "redis://127.0.0.1:6380/3", 1, RSTORE_TCP, 0, 3, 1, 6380, "127.0.0.1", "" },
		{ "redis://db.example", 1, RSTORE_TCP, 0, 0, 1, 6379, "db.example", "" },
		{ "rediss://[::1]:7000", 1, RSTORE_TCP, 1, 0, 1, 7000, "::1", "" },
		{ "redis+unix:///run/redis.sock?db=2", 1, RSTORE_UNIX, 0, 2, 0, 0, "", "/run/redis.sock" },
		{ "redis-sentinel://a:26379,b/mymaster/1", 1, RSTORE_SENTINEL, 0, 1, 2, 26379, "a", "mymaster" },
		{ "redis://h:0", 0, 0, 0, 0, 0, 0, "", "" },
		{ "redis://h:99999", 0, 0, 0, 0, 0, 0, "", "" },
		{ "redis://h/x", 0, 0, 0, 0, 0, 0, "", "" },
		{ "redis+unix://relative", 0, 0, 0, 0, 0, 0, "", "" },
		{ "redis-sentinel://a:1", 0, 0, 0, 0, 0, 0, "", "" },
		{ "memcached://h", 0, 0, 0, 0, 0, 0, "", "" },
	};
	struct rstore_addr a;
	char err[256], name[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = rstore_parse(cases[i].url, &a, err, sizeof err);
		snprintf(name, sizeof name, "parse %s", cases[i].url);
		if (!cases[i].ok) {
			T_CHECK(name, rc < 0 && strstr(err, "rate_store"));
			continue;
		}
		T_CHECK(name, rc == 0 && (int)a.kind == cases[i].kind &&
			a.tls == cases[i].tls && a.db == cases[i].db &&
			a.nhosts == cases[i].nhosts &&
			(!a.nhosts || (a.port[0] == cases[i].port0 &&
				       !strcmp(a.host[0], cases[i].host0))) &&
			(a.kind != RSTORE_UNIX || !strcmp(a.path, cases[i].extra)) &&
			(a.kind != RSTORE_SENTINEL ||
			 !strcmp(a.master, cases[i].extra)));
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_auth(void)
{
	char dir[] = "/tmp/test_rstore.XXXXXX", path[256], link[256];
	char user[64], pass[64], err[256];

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof path, "%s/auth", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	T_CHECK("auth: no file, no AUTH",
		rstore_auth_load(path, user, sizeof user, pass, sizeof pass,
				 err, sizeof err) == 0 && !*user && !*pass);
	write_file(path, "# fleet\nuser relay\npassword s3cret\n", 0600);
	T_CHECK("auth: user and password read",
		rstore_auth_load(path, user, sizeof user, pass, sizeof pass,
				 err, sizeof err) == 0 &&
		!strcmp(user, "relay") && !strcmp(pass, "s3cret"));
	chmod(path, 0644);
	T_CHECK("auth: a file others may read is refused",
		rstore_auth_load(path, user, sizeof user, pass, sizeof pass,
				 err, sizeof err) < 0 && strstr(err, "refused"));
	chmod(path, 0600);
	symlink(path, link);
	T_CHECK("auth: a symbolic link is refused",
		rstore_auth_load(link, user, sizeof user, pass, sizeof pass,
				 err, sizeof err) < 0);
	write_file(path, "password only\nbogus line\n", 0600);
	T_CHECK("auth: a bad line is an error naming it",
		rstore_auth_load(path, user, sizeof user, pass, sizeof pass,
				 err, sizeof err) < 0 && strstr(err, ":2:"));
	unlink(link);
	unlink(path);
	rmdir(dir);
}

/* A fake server: accepts `conns` connections; on each, reads something,
 * then writes reply (len bytes, repeated `times`), or nothing and
 * sleeps when reply is NULL, then closes. */
static int hold_open; /* the fake keeps the connection 3 s after replying */
static int closed_pipe = -1; /* the fake writes a byte here at each close */

static pid_t fake(int *port, const char *reply, size_t len, int times,
		  int conns)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	bind(lfd, (struct sockaddr *)&sa, sizeof sa);
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) == 0) {
		for (int c = 0; c < conns; c++) {
			char buf[4096];
			int fd = accept(lfd, NULL, NULL);
			if (read(fd, buf, sizeof buf) <= 0) {
				close(fd);
				continue;
			}
			if (!reply)
				sleep(3);
			for (int i = 0; reply && i < times; i++)
				if (write(fd, reply, len) < 0)
					break;
			if (hold_open)
				sleep(3);
			close(fd);
			if (closed_pipe >= 0 && write(closed_pipe, "c", 1) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(lfd);
	return pid;
}

static struct rstore *client(int port, int timeout_ms)
{
	struct rstore_addr a;
	char url[64], err[128];

	snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
	rstore_parse(url, &a, err, sizeof err);
	return rstore_new(&a, "", "", "", timeout_ms);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_pipeline(void)
{
	static const char ans[] = "+PONG\r\n:42\r\n";
	int port;
	pid_t pid = fake(&port, ans, sizeof ans - 1, 1, 1);
	struct rstore *r = client(port, 2000);
	redisReply *rep[2] = { 0 };

	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("exchange: two pipelined commands, two replies",
		rstore_exec(r, rep, 2) == 0 && rep[0]->type == REDIS_REPLY_STATUS &&
		!strcmp(rep[0]->str, "PONG") && rep[1]->integer == 42);
	T_CHECK("exchange: up after a good exchange", rstore_up(r));
	rstore_replies_free(rep, 2);
	rstore_free(r);
	waitpid(pid, NULL, 0);
}

static void test_deadline(void)
{
	int port;
	pid_t pid = fake(&port, NULL, 0, 0, 1);
	struct rstore *r = client(port, 200);
	redisReply *rep = NULL;
	struct timespec t0;
	long took;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	T_CHECK("deadline: a silent server fails the exchange",
		rstore_exec(r, &rep, 1) < 0 && !rstore_up(r));
	took = ms_since(&t0);
	T_CHECK("deadline: within the timeout (200 ms, + slack)",
		took >= 150 && took < 1000);
	T_CHECK("deadline: the error says so", strstr(rstore_error(r), "timed out"));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	T_CHECK("deadline: the next try waits its pause, at once",
		rstore_exec(r, &rep, 1) < 0 && ms_since(&t0) < 50);
	rstore_free(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_too_big(void)
{
	static char chunk[65536];
	int port;
	pid_t pid;
	struct rstore *r;
	redisReply *rep = NULL;

	memcpy(chunk, "$99999999\r\n", 11);
	memset(chunk + 11, 'x', sizeof chunk - 11);
	pid = fake(&port, chunk, sizeof chunk, 200, 1); /* 13 MB */
	r = client(port, 5000);
	rstore_append(r, 1, (const char *[]){ "GET", "k" }, NULL);
	T_CHECK("hostile: a reply over the limit fails the exchange",
		rstore_exec(r, &rep, 1) < 0 &&
		strstr(rstore_error(r), "size limit"));
	rstore_free(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A reply that announces an array of two thousand million elements (16
 * GB of pointers): refused as it is announced, at once, not after the
 * timeout (the server keeps the connection open). */
static void test_huge_header(void)
{
	static const char head[] = "*2000000000\r\n";
	int port;
	pid_t pid;
	struct rstore *r;
	redisReply *rep = NULL;
	struct timespec t0;

	hold_open = 1;
	pid = fake(&port, head, sizeof head - 1, 1, 1);
	hold_open = 0;
	r = client(port, 2000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	T_CHECK("hostile: a 2-billion-element array is refused at once",
		rstore_exec(r, &rep, 1) < 0 && ms_since(&t0) < 1000 &&
		strstr(rstore_error(r), "Redis reply"));
	rstore_free(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A reply of n elements, each `elem`, after its array header, in a
 * buffer the caller frees; its length in *len. */
static char *array_of(size_t n, const char *elem, size_t *len)
{
	size_t el = strlen(elem);
	char *buf = malloc(32 + n * el);
	int h = snprintf(buf, 32, "*%zu\r\n", n);

	for (size_t i = 0; i < n; i++)
		memcpy(buf + h + i * el, elem, el);
	*len = (size_t)h + n * el;
	return buf;
}

static int exchange_with(const char *reply, size_t len, redisReply **rep,
			 struct rstore **rp)
{
	int port;
	pid_t pid = fake(&port, reply, len, 1, 1);
	struct rstore *r = client(port, 20000);
	int rc;

	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	rc = rstore_exec(r, rep, 1);
	*rp = r;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return rc;
}

/* Objects are counted per reply: 500,000 one-element arrays of an
 * integer (4 MB of RESP, every array under the element limit) would
 * cost ~60 MB of objects; refused.  A flat array of 200,000 integers
 * (what a long list costs) still comes through, twice in a row (the
 * budget is each reply's own). */
static void test_object_budget(void)
{
	struct rstore *r;
	redisReply *rep = NULL;
	size_t len;
	char *buf = array_of(500000, "*1\r\n:1\r\n", &len);
	int rc = exchange_with(buf, len, &rep, &r);

	T_CHECK("hostile: nested arrays past the objects' budget are refused",
		rc < 0 && strstr(rstore_error(r), "Redis reply"));
	if (rc == 0)
		freeReplyObject(rep);
	rstore_free(r);
	free(buf);
	buf = array_of(200000, ":1\r\n", &len);
	for (int k = 0; k < 2; k++) {
		rep = NULL;
		T_CHECK("object budget: a flat array of 200,000 integers is read",
			exchange_with(buf, len, &rep, &r) == 0 &&
			rep->type == REDIS_REPLY_ARRAY &&
			rep->elements == 200000);
		if (rep)
			freeReplyObject(rep);
		rstore_free(r);
	}
	free(buf);
}

static void *done_tag;
static long long done_int = -1;
static int done_calls;

static void on_done(void *tag, redisReply *rep)
{
	done_calls++;
	done_tag = tag;
	done_int = rep ? rep->integer : -1;
}

/* A command sent without waiting: its reply, read with the next
 * exchange's, goes to the done function first and the caller gets its
 * own; one that a silent server never answers is handed over as lost
 * when rstore_drain gives up. */
static void test_send(void)
{
	static const char ans[] = ":7\r\n+PONG\r\n";
	int port, tag;
	pid_t pid = fake(&port, ans, sizeof ans - 1, 1, 1);
	struct rstore *r = client(port, 2000);
	redisReply *rep = NULL;

	rstore_set_done(r, on_done);
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("send: sent without waiting", rstore_send(r, &tag) == 0 &&
		rstore_inflight(r) == 1 && done_calls == 0);
	rstore_append(r, 1, (const char *[]){ "PING" }, NULL);
	T_CHECK("send: the next exchange gets its own reply",
		rstore_exec(r, &rep, 1) == 0 && !strcmp(rep->str, "PONG"));
	T_CHECK("send: ... after the earlier one went to done, with its tag",
		done_calls == 1 && done_tag == &tag && done_int == 7 &&
		rstore_inflight(r) == 0);
	rstore_replies_free(&rep, 1);
	rstore_free(r);
	waitpid(pid, NULL, 0);

	pid = fake(&port, NULL, 0, 0, 1);
	r = client(port, 200);
	rstore_set_done(r, on_done);
	done_calls = 0;
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	rstore_send(r, &tag);
	T_CHECK("send: unanswered, drain gives up",
		rstore_drain(r) < 0);
	T_CHECK("send: ... and done hears it was lost",
		done_calls == 1 && done_tag == &tag && done_int == -1);
	rstore_free(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The server closes the kept connection after its first answer; the
 * second exchange goes through on a new connection. */
static void test_reconnect(void)
{
	static const char ans[] = ":1\r\n";
	int port;
	pid_t pid = fake(&port, ans, sizeof ans - 1, 1, 2);
	struct rstore *r = client(port, 2000);
	redisReply *rep = NULL;

	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("reconnect: first exchange", rstore_exec(r, &rep, 1) == 0);
	rstore_replies_free(&rep, 1);
	usleep(100000); /* the server has closed by now */
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("reconnect: a closed kept connection is replaced at once",
		rstore_exec(r, &rep, 1) == 0 && rep->integer == 1);
	rstore_replies_free(&rep, 1);
	rstore_free(r);
	waitpid(pid, NULL, 0);
}

/* The server closes the kept connection while the client is idle (its
 * idle timeout, CLIENT KILL): a command sent without waiting goes on a
 * new connection and its reply comes back, not lost on the closed one. */
static void test_send_after_close(void)
{
	static const char ans[] = ":1\r\n";
	int port, tag, p[2];
	pid_t pid;
	struct rstore *r;
	redisReply *rep = NULL;
	char c;

	if (pipe(p) < 0)
		return;
	closed_pipe = p[1];
	pid = fake(&port, ans, sizeof ans - 1, 1, 2);
	closed_pipe = -1;
	close(p[1]);
	r = client(port, 2000);
	rstore_set_done(r, on_done);
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("idle close: first exchange", rstore_exec(r, &rep, 1) == 0);
	rstore_replies_free(&rep, 1);
	T_CHECK("idle close: the server closed it",
		read(p[0], &c, 1) == 1);
	done_calls = 0;
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("idle close: sent without waiting", rstore_send(r, &tag) == 0);
	T_CHECK("idle close: on a new connection, its reply comes",
		rstore_drain(r) == 0 && done_calls == 1 && done_tag == &tag &&
		done_int == 1);
	rstore_free(r);
	close(p[0]);
	kill(pid, SIGKILL); /* it waits for a second connection */
	waitpid(pid, NULL, 0);

	pid = fake(&port, "", 0, 1, 1); /* reads the command, closes */
	r = client(port, 2000);
	rstore_set_done(r, on_done);
	rstore_append(r, 2, (const char *[]){ "INCR", "k" }, NULL);
	T_CHECK("closed in flight: lost, and the error says closed",
		rstore_send(r, &tag) == 0 && rstore_drain(r) < 0 &&
		done_int == -1 &&
		!strcmp(rstore_error(r), "read from Redis: the server closed "
			"the connection"));
	rstore_free(r);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_parse();
	test_auth();
	test_pipeline();
	test_deadline();
	test_too_big();
	test_huge_header();
	test_object_budget();
	test_reconnect();
	test_send();
	test_send_after_close();
	return t_done();
}
