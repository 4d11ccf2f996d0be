// links:
/* test_ns.c: netstring framing under hostile input: a table of byte
 * streams, each read to the end through a pipe (whole, then one byte per
 * write from a child), with the frames and the final result expected. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns.h"
#include "t.h"

#define END_CLEAN 0      /* -1 with errno 0: EOF on a frame boundary */
#define END_PROTO EPROTO /* -1 with errno EPROTO: garbage or truncated */

static const struct {
	const char *name, *in;
	int nframes;
	const char *frames[3];
	int end;
} cases[] = {
	{ "one frame", "5:hello,", 1, { "hello" }, END_CLEAN },
	{ "two frames", "5:hello,3:abc,", 2, { "hello", "abc" }, END_CLEAN },
	{ "empty frame", "0:,", 1, { "" }, END_CLEAN },
	{ "empty stream", "", 0, { 0 }, END_CLEAN },
	{ "payload with ':' and ','", "3:a:,,", 1, { "a:," }, END_CLEAN },
	{ "leading zero", "05:hello,", 0, { 0 }, END_PROTO },
	{ "double zero", "00:,", 0, { 0 }, END_PROTO },
	{ "no length", ":hello,", 0, { 0 }, END_PROTO },
	{ "negative length", "-1:x,", 0, { 0 }, END_PROTO },
	{ "letter in length", "5x:hello,", 0, { 0 }, END_PROTO },
	{ "space in length", " 5:hello,", 0, { 0 }, END_PROTO },
	{ "missing comma", "5:hello;", 0, { 0 }, END_PROTO },
	{ "length too short", "4:hello,", 0, { 0 }, END_PROTO },
	{ "over NS_MAX", "65537:", 0, { 0 }, END_PROTO },
	{ "seven digits", "1000000", 0, { 0 }, END_PROTO },
	{ "good then garbage", "1:a,x", 1, { "a" }, END_PROTO },
	{ "EOF mid-length", "12", 0, { 0 }, END_PROTO },
	{ "EOF mid-payload", "5:hel", 0, { 0 }, END_PROTO },
	{ "EOF before comma", "5:hello", 0, { 0 }, END_PROTO },
	{ "good then EOF mid-frame", "1:a,2:b", 1, { "a" }, END_PROTO },
};

/* Feed in to a pipe (whole, or byte by byte from a child) and read it. */
static void run_case(size_t ci, int bytewise)
{
	char name[160];
	int p[2], got = 0, ok = 1, rc;
	struct ns_reader r;
	char *payload;
	size_t len, n = strlen(cases[ci].in);
	pid_t pid = -1;

	if (pipe(p) < 0)
		return;
	if (bytewise) {
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			for (size_t i = 0; i < n; i++)
				if (write(p[1], cases[ci].in + i, 1) != 1)
					_exit(1);
			_exit(0);
		}
	} else if (write(p[1], cases[ci].in, n) != (ssize_t)n) {
		ok = 0;
	}
	close(p[1]);
	ns_reader_init(&r, p[0]);
	while ((rc = ns_reader_next(&r, &payload, &len)) == 1) {
		if (got >= cases[ci].nframes ||
		    strcmp(payload, cases[ci].frames[got]) != 0 ||
		    len != strlen(cases[ci].frames[got]))
			ok = 0;
		got++;
	}
	snprintf(name, sizeof name, "%s: %s", bytewise ? "split" : "whole",
		 cases[ci].name);
	T_CHECK(name, ok && got == cases[ci].nframes && rc == -1 &&
			      errno == cases[ci].end);
	ns_reader_free(&r);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* Largest frame allowed, and one byte more, through a child writer. */
static void test_max(void)
{
	size_t big = NS_MAX + 16;
	char *buf = malloc(big), *payload = malloc(NS_MAX + 1), *pl;
	size_t n, len;
	int p[2];
	struct ns_reader r;
	pid_t pid;

	memset(payload, 'z', NS_MAX + 1);
	n = ns_encode(buf, big, payload, NS_MAX);
	T_CHECK("encode NS_MAX", n == NS_MAX + 7);
	T_CHECK("encode NS_MAX+1 refused",
		ns_encode(buf, big, payload, NS_MAX + 1) == 0);
	T_CHECK("encode into small buffer refused",
		ns_encode(buf, 7, "hello", 5) == 0);
	T_CHECK("encode exact fit", ns_encode(buf, 8, "hello", 5) == 8 &&
					    memcmp(buf, "5:hello,", 8) == 0);
	n = ns_encode(buf, big, payload, NS_MAX);
	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(write(p[1], buf, n) == (ssize_t)n &&
			      ns_write(p[1], "x", 1) == 0
			  ? 0
			  : 1);
	}
	close(p[1]);
	ns_reader_init(&r, p[0]);
	T_CHECK("a new reader's buffer is small", r.cap == NS_READER_MIN);
	T_CHECK("read NS_MAX frame",
		ns_reader_next(&r, &pl, &len) == 1 && len == NS_MAX &&
		    pl[0] == 'z' && pl[NS_MAX - 1] == 'z' && pl[NS_MAX] == '\0');
	T_CHECK("frame after NS_MAX frame",
		ns_reader_next(&r, &pl, &len) == 1 && strcmp(pl, "x") == 0);
	T_CHECK("grown to the largest frame, no further",
		r.cap == NS_MAX + 16);
	ns_reader_free(&r);
	close(p[0]);
	waitpid(pid, NULL, 0);
	free(buf);
	free(payload);
}

/* A reader on the non-blocking read end of a new pipe p; -1 when no
 * pipe could be made. */
static int nonblocking_reader(int p[2], struct ns_reader *r)
{
	if (pipe(p) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	return ns_reader_init(r, p[0]);
}

static void test_nonblocking(void)
{
	int p[2];
	struct ns_reader r;
	char *pl;
	size_t len;

	if (nonblocking_reader(p, &r) < 0)
		return;
	T_CHECK("nonblocking empty: 0", ns_reader_next(&r, &pl, &len) == 0);
	T_CHECK("write 3:ab", write(p[1], "3:ab", 4) == 4);
	T_CHECK("nonblocking partial: 0", ns_reader_next(&r, &pl, &len) == 0);
	T_CHECK("partial is pending", ns_reader_pending(&r) == 4);
	T_CHECK("write c,1:", write(p[1], "c,1:", 4) == 4);
	T_CHECK("frame completes",
		ns_reader_next(&r, &pl, &len) == 1 && strcmp(pl, "abc") == 0);
	T_CHECK("short frames keep the buffer small", r.cap == NS_READER_MIN);
	T_CHECK("next partial: 0", ns_reader_next(&r, &pl, &len) == 0);
	T_CHECK("two bytes pending", ns_reader_pending(&r) == 2);
	close(p[1]);
	T_CHECK("EOF mid-frame: EPROTO",
		ns_reader_next(&r, &pl, &len) == -1 && errno == EPROTO);
	ns_reader_free(&r);
	close(p[0]);
}

/* ns_reader_buffered never reads: frames already buffered come out,
 * bytes still in the pipe stay there. */
static void test_buffered(void)
{
	int p[2];
	struct ns_reader r;
	char *pl;
	size_t len;

	if (nonblocking_reader(p, &r) < 0)
		return;
	T_CHECK("buffered, nothing read yet: 0",
		ns_reader_buffered(&r, &pl, &len) == 0);
	T_CHECK("write two frames", write(p[1], "1:a,2:bc,", 9) == 9);
	T_CHECK("buffered does not read: still 0",
		ns_reader_buffered(&r, &pl, &len) == 0);
	T_CHECK("next reads the first",
		ns_reader_next(&r, &pl, &len) == 1 && !strcmp(pl, "a"));
	T_CHECK("write a third", write(p[1], "1:d,", 4) == 4);
	T_CHECK("buffered: the second, from the buffer",
		ns_reader_buffered(&r, &pl, &len) == 1 && !strcmp(pl, "bc"));
	T_CHECK("buffered: the third is still in the pipe",
		ns_reader_buffered(&r, &pl, &len) == 0);
	T_CHECK("next: the third",
		ns_reader_next(&r, &pl, &len) == 1 && !strcmp(pl, "d"));
	T_CHECK("write garbage", write(p[1], "x:", 2) == 2);
	T_CHECK("next: garbage: -1 EPROTO",
		ns_reader_next(&r, &pl, &len) == -1 && errno == EPROTO);
	ns_reader_free(&r);
	close(p[0]);
	close(p[1]);
	ns_reader_init(&r, -1);
	memcpy(r.buf, "2:x", 3);
	r.end = 3;
	T_CHECK("buffered: partial frame: 0", ns_reader_buffered(&r, &pl, &len) == 0);
	memcpy(r.buf, "2x:", 3);
	T_CHECK("buffered: garbage: -1 EPROTO",
		ns_reader_buffered(&r, &pl, &len) == -1 && errno == EPROTO);
	ns_reader_free(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		run_case(i, 0);
		run_case(i, 1);
	}
	test_max();
	test_nonblocking();
	test_buffered();
	return t_done();
}
