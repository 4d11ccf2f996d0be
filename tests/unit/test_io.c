// links:
/* test_io.c: io_getline and friends.  A table of byte streams with the
 * lines and flags io_getline must report, each fed through a pipe whole
 * and then in one-byte writes from a child (lines split across reads);
 * then timeouts, io_read after lines, and long output. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "t.h"

#define LMAX 16 /* line buffer for the table: 15 bytes + NUL */

struct want {
	const char *line;
	unsigned flags;
};

static const struct {
	const char *name, *in;
	struct want w[4];
	int n;
} cases[] = {
	{ "CRLF", "HELO x\r\n", { { "HELO x", IO_CRLF } }, 1 },
	{ "two CRLF lines", "a\r\nb\r\n", { { "a", IO_CRLF }, { "b", IO_CRLF } },
	  2 },
	{ "empty CRLF line", "\r\n", { { "", IO_CRLF } }, 1 },
	{ "bare LF", "a\nb\r\n", { { "a", IO_BARE_LF }, { "b", IO_CRLF } }, 2 },
	{ "bare CR inside", "a\rb\r\n", { { "a\rb", IO_BARE_CR | IO_CRLF } },
	  1 },
	{ "CR CR LF", "a\r\r\n", { { "a\r", IO_BARE_CR | IO_CRLF } }, 1 },
	{ "bare CR only, then EOF", "a\r",
	  { { "a\r", IO_BARE_CR | IO_PARTIAL } }, 1 },
	{ "LF CR", "a\n\rb\r\n",
	  { { "a", IO_BARE_LF }, { "\rb", IO_BARE_CR | IO_CRLF } }, 2 },
	{ "partial at EOF", "QUIT", { { "QUIT", IO_PARTIAL } }, 1 },
	{ "line then partial", "a\r\nb",
	  { { "a", IO_CRLF }, { "b", IO_PARTIAL } }, 2 },
	{ "15 bytes fit", "123456789012345\r\n",
	  { { "123456789012345", IO_CRLF } }, 1 },
	{ "16 bytes too long", "1234567890123456\r\nnext\r\n",
	  { { "123456789012345", IO_CRLF | IO_TOOLONG }, { "next", IO_CRLF } },
	  2 },
	{ "very long, rest discarded",
	  "123456789012345678901234567890123456789012345678901234567890\r\nz\r\n",
	  { { "123456789012345", IO_CRLF | IO_TOOLONG }, { "z", IO_CRLF } },
	  2 },
	{ "too long with bare LF", "1234567890123456789\n",
	  { { "123456789012345", IO_BARE_LF | IO_TOOLONG } }, 1 },
	{ "too long partial", "1234567890123456789",
	  { { "123456789012345", IO_PARTIAL | IO_TOOLONG } }, 1 },
	{ "empty stream", "", { { NULL, 0 } }, 0 },
	{ "dot line", ".\r\n", { { ".", IO_CRLF } }, 1 },
};

static void run_case(size_t ci, int bytewise)
{
	char name[160], line[LMAX];
	const char *in = cases[ci].in;
	size_t n = strlen(in), len;
	unsigned fl;
	int p[2], i, ok = 1, rc = 0;
	pid_t pid = -1;
	struct io io;

	if (pipe(p) < 0)
		return;
	if (bytewise) {
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			for (size_t k = 0; k < n; k++) {
				if (write(p[1], in + k, 1) != 1)
					_exit(1);
				poll(NULL, 0, 1); /* make the reader wait */
			}
			_exit(0);
		}
	} else if (write(p[1], in, n) != (ssize_t)n) {
		ok = 0;
	}
	close(p[1]);
	io_init(&io, p[0], -1, 5000);
	for (i = 0; ok && i < cases[ci].n; i++) {
		rc = io_getline(&io, line, sizeof line, &len, &fl);
		if (rc != 1 || fl != cases[ci].w[i].flags ||
		    len != strlen(cases[ci].w[i].line) ||
		    memcmp(line, cases[ci].w[i].line, len) != 0 ||
		    line[len] != '\0') {
			printf("  # line %d: rc %d flags %#x len %zu\n", i, rc,
			       fl, len);
			ok = 0;
		}
	}
	if (ok)
		rc = io_getline(&io, line, sizeof line, &len, &fl);
	snprintf(name, sizeof name, "%s: %s", bytewise ? "split" : "whole",
		 cases[ci].name);
	T_CHECK(name, ok && rc == 0 && io.err == IO_ERR_EOF);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* A NUL is data: len counts it, so callers can refuse it. */
static void test_nul(void)
{
	char line[64];
	size_t len;
	unsigned fl;
	int p[2];
	struct io io;

	if (pipe(p) < 0 || write(p[1], "a\0b\r\n", 5) != 5)
		return;
	close(p[1]);
	io_init(&io, p[0], -1, 1000);
	T_CHECK("NUL byte kept, len counts it",
		io_getline(&io, line, sizeof line, &len, &fl) == 1 &&
		    len == 3 && !memcmp(line, "a\0b", 4) && fl == IO_CRLF);
	close(p[0]);
}

static void test_timeout(void)
{
	char line[64];
	size_t len;
	unsigned fl;
	int p[2];
	struct io io;
	struct timespec a, b;
	long ms;

	if (pipe(p) < 0)
		return;
	if (write(p[1], "abc", 3) != 3)
		return;
	io_init(&io, p[0], -1, 200);
	clock_gettime(CLOCK_MONOTONIC, &a);
	T_CHECK("partial line then silence: timeout",
		io_getline(&io, line, sizeof line, &len, &fl) == -1 &&
		    io.err == IO_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	T_CHECK("timeout took about 200 ms", ms >= 150 && ms < 2000);
	close(p[0]);
	close(p[1]);
}

static long ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* One io_getline on fd with timeout_ms: its result, err and how long it
 * took. */
static int timed_getline(struct io *io, long *ms)
{
	char line[64];
	size_t len;
	unsigned fl;
	struct timespec a;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = io_getline(io, line, sizeof line, &len, &fl);
	*ms = ms_since(&a);
	return rc;
}

/* A blocking socket: the read waits with SO_RCVTIMEO (set on the socket:
 * no poll), a line that comes late is read, silence is a timeout on
 * time, and a longer timeout than the one set still waits all of it. */
static void test_sock_timeout(void)
{
	int p[2];
	struct io io;
	struct timeval tv;
	socklen_t tl = sizeof tv;
	long ms;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		return;
	io_init(&io, p[0], -1, 200);
	T_CHECK("socket, silence: timeout",
		timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	T_CHECK("socket, silence: about 200 ms", ms >= 150 && ms < 2000);
	T_CHECK("socket: the wait is the socket's receive timeout",
		getsockopt(p[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 &&
		    tv.tv_sec == 0 && tv.tv_usec >= 150000);
	io.timeout_ms = 600;
	io.err = IO_ERR_NONE;
	T_CHECK("socket, longer timeout than set: timeout",
		timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	T_CHECK("socket, longer timeout than set: all of it (600 ms)",
		ms >= 550 && ms < 3000);
	pid = fork();
	if (pid == 0) {
		usleep(300 * 1000);
		_exit(write(p[1], "HELO x\r\n", 8) == 8 ? 0 : 1);
	}
	io.timeout_ms = 2000;
	io.err = IO_ERR_NONE;
	T_CHECK("socket: a line 300 ms late is read",
		timed_getline(&io, &ms) == 1 && ms >= 200);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

/* A non-blocking socket says EAGAIN at once: io notices and polls, so
 * the timeout is still the whole time, and data is still read. */
static void test_sock_nonblock(void)
{
	int p[2];
	struct io io;
	long ms;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0 ||
	    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) < 0)
		return;
	io_init(&io, p[0], -1, 200);
	T_CHECK("non-blocking socket, silence: timeout",
		timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	T_CHECK("non-blocking socket: after about 200 ms, not at once",
		ms >= 150 && ms < 2000);
	io.err = IO_ERR_NONE;
	T_CHECK("non-blocking socket: data is read",
		write(p[1], "a\r\n", 3) == 3 && timed_getline(&io, &ms) == 1);
	close(p[0]);
	close(p[1]);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Signals every 20 ms interrupt the read (a read with a receive timeout
 * is never restarted): the timeout must still end on time, with or
 * without SA_RESTART. */
static void test_sock_eintr(int restart)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } }, off = { 0 };
	int p[2];
	struct io io;
	long ms;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		return;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	io_init(&io, p[0], -1, 300);
	T_CHECK(restart ? "EINTR (SA_RESTART): timeout" : "EINTR: timeout",
		timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	setitimer(ITIMER_REAL, &off, NULL);
	T_CHECK(restart ? "EINTR (SA_RESTART): on time (300 ms)"
			: "EINTR: on time (300 ms), not restarted each signal",
		ms >= 250 && ms < 2000);
	signal(SIGALRM, SIG_DFL);
	close(p[0]);
	close(p[1]);
}

/* The same on a pipe, where io polls: each signal must not start the
 * timeout again. */
static void test_pipe_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } }, off = { 0 };
	int p[2];
	struct io io;
	long ms;

	if (pipe(p) < 0)
		return;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	io_init(&io, p[0], -1, 300);
	T_CHECK("pipe, EINTR: timeout",
		timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	setitimer(ITIMER_REAL, &off, NULL);
	T_CHECK("pipe, EINTR: on time (300 ms)", ms >= 250 && ms < 2000);
	signal(SIGALRM, SIG_DFL);
	close(p[0]);
	close(p[1]);
}

/* The idle hook: something kept (1 while idle_kept) is handed over after
 * IO_IDLE_MS of waiting, once; the read still waits its whole timeout. */
static int idle_kept, idle_runs;
static struct timespec idle_t0;
static long idle_at;

static int idle_hook(int run)
{
	if (run) {
		idle_at = ms_since(&idle_t0);
		idle_runs++;
		idle_kept = 0;
	}
	return idle_kept;
}

static void test_idle(const char *name, int sock)
{
	int p[2];
	struct io io;
	long ms;
	char label[96];

	if ((sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, p) : pipe(p)) < 0)
		return;
	io_init(&io, p[0], -1, 600);
	io.idle = idle_hook;
	idle_kept = 1;
	idle_runs = 0;
	clock_gettime(CLOCK_MONOTONIC, &idle_t0);
	snprintf(label, sizeof label, "%s, idle: silence is a timeout", name);
	T_CHECK(label, timed_getline(&io, &ms) == -1 && io.err == IO_ERR_TIMEOUT);
	snprintf(label, sizeof label, "%s, idle: after the whole 600 ms", name);
	T_CHECK(label, ms >= 550 && ms < 3000);
	snprintf(label, sizeof label, "%s, idle: handed over once", name);
	T_CHECK(label, idle_runs == 1 && !idle_kept);
	snprintf(label, sizeof label, "%s, idle: after IO_IDLE_MS, not the end",
		 name);
	T_CHECK(label, idle_at >= IO_IDLE_MS - 20 && idle_at < 450);
	idle_kept = 1;
	io.err = IO_ERR_NONE;
	snprintf(label, sizeof label, "%s, idle: data there, nothing handed over",
		 name);
	T_CHECK(label, write(p[1], "a\r\n", 3) == 3 &&
			       timed_getline(&io, &ms) == 1 && idle_runs == 1);
	close(p[0]);
	close(p[1]);
}

/* Pipelined commands stay buffered; io_read takes the bytes after them
 * (BDAT chunks); io_discard_input drops them (STARTTLS). */
static void test_pending(void)
{
	char line[64], raw[16];
	size_t len;
	unsigned fl;
	int p[2];
	struct io io;

	if (pipe(p) < 0)
		return;
	if (write(p[1], "MAIL\r\nRCPT\r\nxyz", 15) != 15)
		return;
	io_init(&io, p[0], -1, 1000);
	T_CHECK("first pipelined line",
		io_getline(&io, line, sizeof line, &len, &fl) == 1 &&
		    !strcmp(line, "MAIL"));
	T_CHECK("pending after first", io_pending(&io) == 9);
	T_CHECK("second pipelined line",
		io_getline(&io, line, sizeof line, &len, &fl) == 1 &&
		    !strcmp(line, "RCPT"));
	T_CHECK("io_read takes buffered bytes",
		io_read(&io, raw, 2) == 2 && !memcmp(raw, "xy", 2));
	io_discard_input(&io);
	T_CHECK("discard leaves nothing pending", io_pending(&io) == 0);
	close(p[1]);
	T_CHECK("io_read at EOF is 0", io_read(&io, raw, sizeof raw) == 0);
	close(p[0]);
}

static int page_resident(const void *p)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	unsigned char v = 0;

	return mincore((void *)((uintptr_t)p & ~(page - 1)), (size_t)page,
		       &v) == 0 && (v & 1);
}

/* io_release_idle: every page of the buffers past the input pending goes
 * back; the pending input and the fields before the buffers stay. */
static void test_release_idle(void)
{
	struct io *io = aligned_alloc(4096, (sizeof *io + 4095) / 4096 * 4096);
	char line[64], raw[8];
	size_t len;
	unsigned fl;
	int p[2];

	if (!io || pipe(p) < 0)
		abort();
	io_init(io, p[0], -1, 1000);
	memset(io->in, 'i', sizeof io->in); /* both buffers used to the end */
	memset(io->out, 'o', sizeof io->out);
	if (write(p[1], "MAIL\r\nxyz", 9) != 9)
		abort();
	T_CHECK("a line read, bytes pending",
		io_getline(io, line, sizeof line, &len, &fl) == 1 &&
		    io_pending(io) == 3);
	T_CHECK("buffers resident before",
		page_resident(io->in + 8192) && page_resident(io->out + 8192));
	io->out_len = 1;
	io_release_idle(io);
	T_CHECK("nothing given back while output waits",
		page_resident(io->out + 8192));
	io->out_len = 0;
	io_release_idle(io);
	T_CHECK("input pages past the pending bytes given back",
		!page_resident(io->in + 8192) &&
		    !page_resident(io->in + sizeof io->in - 1));
	T_CHECK("output pages given back",
		!page_resident(io->out) && !page_resident(io->out + 8192));
	T_CHECK("the pending bytes stay",
		io_read(io, raw, sizeof raw) == 3 && !memcmp(raw, "xyz", 3));
	close(p[1]);
	T_CHECK("and then EOF", io_read(io, raw, sizeof raw) == 0);
	close(p[0]);
	free(io);
}

/* Output larger than the buffer and than a pipe (or a socket's buffer),
 * read by a child: through a pipe with a timeout (poll, then write), a
 * socket (tried first, poll when full) and a pipe without a timeout (the
 * write just blocks). */
static void test_output(const char *name, int sock, int timeout_ms)
{
	enum { TOTAL = 200000 };
	int p[2], st = 0;
	pid_t pid;
	struct io io;
	char chunk[1000], label[96];

	if ((sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, p) : pipe(p)) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		char buf[4096];
		size_t got = 0;
		ssize_t r;
		close(p[1]);
		while ((r = read(p[0], buf, sizeof buf)) > 0)
			for (ssize_t k = 0; k < r; k++, got++)
				if (buf[k] != (char)('a' + got % 26))
					_exit(2);
		_exit(got == TOTAL ? 0 : 1);
	}
	close(p[0]);
	io_init(&io, -1, p[1], timeout_ms);
	for (size_t off = 0; off < TOTAL; off += sizeof chunk) {
		for (size_t k = 0; k < sizeof chunk; k++)
			chunk[k] = (char)('a' + (off + k) % 26);
		if (io_put(&io, chunk, sizeof chunk) < 0)
			break;
	}
	snprintf(label, sizeof label, "%s: io_put 200000 bytes", name);
	T_CHECK(label, io_flush(&io) == 0);
	close(p[1]);
	waitpid(pid, &st, 0);
	snprintf(label, sizeof label, "%s: reader got every byte in order", name);
	T_CHECK(label, WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_CHECK("io_printf", io_printf(&io, "%s %d", "x", 1) == 0 &&
				     io.out_len == 3);
	io.out_len = 0;
}

/* A socket whose reader never reads: the write fills it, then waits for
 * room at most the timeout; a socket whose reader left: an error, no
 * SIGPIPE even when it is not ignored. */
static void test_socket_stuck(void)
{
	static char big[IO_BUFSZ];
	int p[2];
	struct io io;
	int rc = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		return;
	io_init(&io, -1, p[1], 200);
	memset(big, 'x', sizeof big);
	for (int i = 0; i < 200 && rc == 0; i++)
		rc = io_put(&io, big, sizeof big);
	T_CHECK("socket never read: write times out",
		rc == -1 && io.err == IO_ERR_TIMEOUT);
	close(p[0]);
	signal(SIGPIPE, SIG_DFL);
	io.err = IO_ERR_NONE;
	io.out_len = 0;
	io_puts(&io, "250 ok\r\n");
	T_CHECK("socket reader gone: error, no SIGPIPE",
		io_flush(&io) == -1 && io.err == IO_ERR_SYS);
	signal(SIGPIPE, SIG_IGN);
	close(p[1]);
}

static void test_write_error(void)
{
	int p[2];
	struct io io;

	if (pipe(p) < 0)
		return;
	close(p[0]);
	io_init(&io, -1, p[1], 1000);
	io_puts(&io, "250 ok\r\n");
	T_CHECK("flush to closed pipe fails", io_flush(&io) == -1 &&
						      io.err == IO_ERR_SYS);
	close(p[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		run_case(i, 0);
		run_case(i, 1);
	}
	test_nul();
	test_timeout();
	test_sock_timeout();
	test_sock_nonblock();
	test_sock_eintr(0);
	test_sock_eintr(1);
	test_pipe_eintr();
	test_idle("socket", 1);
	test_idle("pipe", 0);
	test_pending();
	test_release_idle();
	test_output("pipe", 0, 5000);
	test_output("socket", 1, 5000);
	test_output("pipe, no timeout", 0, 0);
	test_socket_stuck();
	test_write_error();
	return t_done();
}
