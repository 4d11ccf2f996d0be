// links: policy/rate.c policy/rate_set.c
/* test_rate_concurrency.c: many sessions near a limit never let more
 * through than the limit (transactions multiplexed in one process as
 * relay-policy runs them), and a reader in another process beside the
 * writer sees only whole records, without a lock (the seqlock). */
#include "test_rate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

/* Two sessions pending 5 each against 9 left: the 10th RCPT is refused
 * although neither message is committed yet. */
static void test_pair(void)
{
	struct rate_txn *a = rate_txn_new(), *b = rate_txn_new();
	struct rate_limits p9 = { 0, 0, 0, 9 };
	long now = 7000000;
	int ok = 0;

	fresh();
	for (int i = 0; i < 5; i++)
		ok += rate_rcpt(a, NULL, "two", "x@example.net", &p9, now) == RATE_OK;
	for (int i = 0; i < 5; i++)
		ok += rate_rcpt(b, NULL, "two", "y@example.net", &p9, now) == RATE_OK;
	T_CHECK("multiplex: 5 + 5 pending against 9: the 10th refused", ok == 9);
	rate_commit(a, now);
	rate_commit(b, now);
	T_CHECK("multiplex: both committed = 9", stat_of(RATE_CUSTOMER, "two", now, 2) == 9);
	rate_txn_free(a);
	rate_txn_free(b);
}

/* Is any counter over its limit? */
static int over_limit(const struct rate_limits *l, long now)
{
	return stat_of(RATE_CUSTOMER, "busy", now, 2) > l->cust_peak ||
	       stat_of(RATE_CUSTOMER, "busy", now, 1) > l->cust_daily ||
	       stat_of(RATE_USER, "odd@example.com", now, 0) > l->user_msgs ||
	       stat_of(RATE_USER, "even@example.com", now, 0) > l->user_msgs ||
	       stat_of(RATE_USER, "odd@example.com", now, 1) > l->user_rcpts ||
	       stat_of(RATE_USER, "even@example.com", now, 1) > l->user_rcpts;
}

/* Sessions multiplexed in one process (relay-policy's model): 40
 * transactions interleaved at random near the limits, some committed,
 * some aborted; what is committed never exceeds a limit. */
static void test_multiplex(void)
{
	enum { NT = 40 };
	struct rate_limits l = { 200, 60, 300, 45 };
	struct rate_txn *t[NT];
	long pending[NT] = { 0 }, committed = 0, now = 7100000;
	unsigned seed = 12345;
	int over = 0;
	char rcpt[64];

	fresh();
	for (int i = 0; i < NT; i++)
		t[i] = rate_txn_new();
	for (int step = 0; step < 20000; step++, now += step % 2) {
		int i = (int)((seed = seed * 1103515245 + 12345) >> 16) % NT;
		int op = (int)(seed >> 8) % 10;
		if (op < 7) {
			snprintf(rcpt, sizeof rcpt, "r%u@example.net", (seed >> 4) % 200);
			pending[i] += rate_rcpt(t[i], i % 2 ? "odd@example.com" : "even@example.com",
						"busy", rcpt, &l, now) == RATE_OK;
		} else if (op < 9) {
			rate_commit(t[i], now);
			committed += pending[i];
			pending[i] = 0;
		} else {
			rate_txn_reset(t[i]);
			pending[i] = 0;
		}
		over += over_limit(&l, now);
	}
	T_CHECK("multiplex: 20,000 random steps never over a limit", over == 0);
	T_CHECK("multiplex: the daily limit was reached exactly",
		stat_of(RATE_CUSTOMER, "busy", now, 1) == 300 && committed == 300);
	for (int i = 0; i < NT; i++)
		rate_txn_free(t[i]);
}

/* The writer in one process, a reader (relayctl stats, relay-metrics)
 * in another, no lock (lib/rate_file.h): every record the reader gets is
 * one the writer left whole.  Each message is one new recipient of one
 * user and customer, counted in one commit, so a whole record has
 * msgs_24h == rcpts_24h (user) and rcpts_24h == rcpts_10m (customer); a
 * copy taken in the middle of a commit would not. */
enum { MSGS = 10000 };

static void writer_child(void)
{
	enum rate_verdict v;

	rate_close();
	if (rate_open(path) < 0)
		_exit(2);
	for (long i = 1; i < MSGS; i++)
		if (send_msg("w@example.com", "seq", i, 1, &nolim, 8000000, &v) != 1)
			_exit(3);
	rate_close();
	_exit(0);
}

/* One look at both records: 1 whole, 0 torn, -1 no answer. */
static int whole(long *reads)
{
	struct rate_stats u, c;

	if (rate_stats_get(RATE_USER, "w@example.com", 8000000, &u) < 0 ||
	    rate_stats_get(RATE_CUSTOMER, "seq", 8000000, &c) < 0)
		return -1;
	++*reads;
	return u.msgs == u.rcpts && c.rcpts == c.peak && c.rcpts >= u.msgs;
}

static void test_reader_beside_writer(void)
{
	enum rate_verdict v;
	long reads = 0, torn = 0, lost = 0;
	int st = -1, w;
	pid_t pid;

	fresh();
	send_msg("w@example.com", "seq", 0, 1, &nolim, 8000000, &v);
	rate_close();
	if ((pid = fork()) == 0)
		writer_child();
	T_CHECK("seqlock: reader opens beside the writer",
		pid > 0 && rate_stats_open(path) == 0);
	do {
		w = whole(&reads);
		torn += w == 0;
		lost += w < 0;
	} while (pid > 0 && waitpid(pid, &st, WNOHANG) == 0);
	T_CHECK("seqlock: the writer counted every message",
		WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
		stat_of(RATE_CUSTOMER, "seq", 8000000, 1) == MSGS &&
		stat_of(RATE_USER, "w@example.com", 8000000, 0) == MSGS);
	printf("# seqlock: %ld reads beside %d commits, %ld torn, %ld "
	       "without an answer\n", reads, MSGS, torn, lost);
	T_CHECK("seqlock: the reader read while the writer wrote", reads > 10);
	T_CHECK("seqlock: no read saw a record half-updated", torn == 0);
	T_CHECK("seqlock: every read got an answer", lost == 0);
	rate_stats_close();
}

/* A writer killed inside an update leaves the seqlock odd: readers wait
 * a bounded time and say so (EAGAIN) instead of hanging, and the next
 * writer's open makes it even again. */
static void test_writer_killed_inside(void)
{
	struct rate_stats st;
	uint64_t odd = 7;
	int fd;

	fresh();
	one(NULL, "k", "a@example.net", &nolim, 8000000, 1);
	rate_close();
	fd = open(path, O_WRONLY);
	T_CHECK("killed writer: seq left odd", fd >= 0 &&
		pwrite(fd, &odd, sizeof odd, offsetof(struct rate_hdr, seq)) ==
			(ssize_t)sizeof odd);
	if (fd >= 0)
		close(fd);
	T_CHECK("killed writer: reader opens", rate_stats_open(path) == 0);
	errno = 0;
	T_CHECK("killed writer: a read ends with EAGAIN, never hangs",
		rate_stats_get(RATE_CUSTOMER, "k", 8000000, &st) == -2 &&
		errno == EAGAIN);
	rate_stats_close();
	T_CHECK("killed writer: the next writer opens", rate_open(path) == 0);
	T_CHECK("killed writer: readers read again",
		stat_of(RATE_CUSTOMER, "k", 8000000, 1) == 1);
}

/* A hostile writer keeps the seqlock odd almost all the time (200 us
 * odd, then even for about a tenth of a microsecond: long enough for a
 * reader's look to find it even now and then, too short for a copy to
 * finish), so nearly every copy is spoiled; a read still ends within
 * its second (EAGAIN), not a second per copy.  The writer stops by
 * itself after 4 s, so a reader without that bound fails here, never
 * hangs. */
static void hostile_writer_child(int ready)
{
	const struct timespec odd = { 0, 200000 };
	int64_t end = rate_file_now_ns() + 4 * RATE_READ_WAIT_NS;

	rate_close();
	if (rate_open(path) < 0)
		_exit(2);
	rate_file_write_begin();
	if (write(ready, "w", 1) != 1)
		_exit(3);
	while (rate_file_now_ns() < end) {
		nanosleep(&odd, NULL);
		rate_file_write_end();
		for (volatile int q = 0; q < 20; q++)
			;
		rate_file_write_begin();
	}
	rate_file_write_end();
	_exit(0);
}

static void test_hostile_writer_bound(void)
{
	struct rate_stats st;
	int64_t t0, took = -1;
	int rc = 0, e = 0, ready[2] = { -1, -1 };
	char c;
	pid_t pid = -1;

	fresh();
	one(NULL, "h", "a@example.net", &nolim, 8000000, 1);
	rate_close();
	if (pipe(ready) == 0 && (pid = fork()) == 0)
		hostile_writer_child(ready[1]);
	T_CHECK("hostile writer: reader opens beside it",
		pid > 0 && read(ready[0], &c, 1) == 1 &&
		rate_stats_open(path) == 0);
	if (pid > 0) {
		t0 = rate_file_now_ns();
		errno = 0;
		rc = rate_stats_get(RATE_CUSTOMER, "h", 8000000, &st);
		e = errno;
		took = (rate_file_now_ns() - t0) / 1000000;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	printf("# hostile writer: read ended after %lld ms (%d, %s)\n",
	       (long long)took, rc, strerror(e));
	/* a copy may get through when the writer is preempted while even
	 * (a loaded machine): then the read ends sooner, also within */
	T_CHECK("hostile writer: the read ends (EAGAIN) within 1.5 s",
		(rc == 0 || (rc == -2 && e == EAGAIN)) && took >= 0 &&
			took < 1500);
	rate_stats_close();
	close(ready[0]);
	close(ready[1]);
	T_CHECK("hostile writer: the next writer opens", rate_open(path) == 0);
}

int main(void)
{
	rate_t_setup();
	test_pair();
	test_multiplex();
	test_reader_beside_writer();
	test_writer_killed_inside();
	test_hostile_writer_bound();
	rate_t_teardown();
	return t_done();
}
