// links:
/* test_rstore_lua.c: the shared rate store's scripts (lib/rstore_lua.c)
 * in a real redis-server (started here on a unix socket in a temporary
 * folder, so no port is needed, and killed at the end), driven with
 * explicit times so that each window's edge is checked to the second:
 * the peak window frees a count at exactly t + 600, the daily window at
 * the start of minute(t) + 1441 (never before 24 h), pending
 * reservations count until released, or (a box that died) as long as
 * a count made when they were would, a unique recipient sent
 * to again costs the user nothing and stays counted from its last use. */
#include "t.h"
#include "rstore.h"
#include "rstore_lua.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct rstore *rs;
static char keys[RK_N][RSTORE_KEY_MAX];

/* The rcpt script at time now: 0 ok, 1 user, 2 customer daily, 3 peak;
 * -1 on error.  Limits: msgs rcpts daily peak. */
static int rcpt(long now, const char *id, int n, const char *hash, int umsg,
		long lm, long lr, long ld, long lp)
{
	char a[12][32];
	const char *args[12], *k[7];
	redisReply *rep = NULL;
	int v = -1;

	snprintf(a[0], 32, "1");
	snprintf(a[1], 32, "1");
	snprintf(a[2], 32, "%ld", now);
	snprintf(a[3], 32, "%s", id);
	snprintf(a[4], 32, "%d", n);
	snprintf(a[5], 32, "%s", hash);
	snprintf(a[6], 32, "%d", umsg);
	snprintf(a[7], 32, "0");
	snprintf(a[8], 32, "%ld", lm);
	snprintf(a[9], 32, "%ld", lr);
	snprintf(a[10], 32, "%ld", ld);
	snprintf(a[11], 32, "%ld", lp);
	for (int i = 0; i < 12; i++)
		args[i] = a[i];
	for (int i = 0; i < 7; i++)
		k[i] = keys[i];
	if (rstore_script_run(rs, RSTORE_RCPT, 7, k, 12, args, &rep) < 0)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		v = (int)rep->element[0]->integer;
	else if (rep->type == REDIS_REPLY_ERROR)
		printf("# %s\n", rep->str);
	freeReplyObject(rep);
	return v;
}

/* Commit id's n pending recipients (hashes) at now; done: with the
 * transaction's once-only key (relay-policy's way), else without. */
static int commit_k(long now, const char *id, int n, const char *const *h,
		    int done)
{
	char a[5][32], dk[RSTORE_KEY_MAX];
	const char *args[8 + 16], *k[9];
	redisReply *rep = NULL;
	int rc;

	snprintf(a[0], 32, "1");
	snprintf(a[1], 32, "1");
	snprintf(a[2], 32, "%ld", now);
	snprintf(a[3], 32, "%d", n);
	snprintf(a[4], 32, "%d", n);
	args[0] = a[0], args[1] = a[1], args[2] = a[2], args[3] = id;
	args[4] = a[3], args[5] = a[4], args[6] = "u@x", args[7] = "c";
	for (int i = 0; i < n; i++)
		args[8 + i] = h[i];
	for (int i = 0; i < 8; i++)
		k[i] = keys[i];
	rstore_done_key(dk, "t:", id);
	k[8] = dk;
	if (rstore_script_run(rs, RSTORE_COMMIT, done ? 9 : 8, k, 8 + n, args,
			      &rep) < 0)
		return -1;
	rc = rep->type == REDIS_REPLY_ERROR ? -1 : 0;
	freeReplyObject(rep);
	return rc;
}

static int commit(long now, const char *id, int n, const char *const *h)
{
	return commit_k(now, id, n, h, 0);
}

static int release(const char *id, int n)
{
	char ns[16];
	const char *k[3] = { keys[RK_UPM], keys[RK_UPR], keys[RK_CP] };
	const char *args[2] = { id, ns };
	redisReply *rep = NULL;

	snprintf(ns, sizeof ns, "%d", n);
	if (rstore_script_run(rs, RSTORE_RELEASE, 3, k, 2, args, &rep) < 0)
		return -1;
	freeReplyObject(rep);
	return 0;
}

static void use(const char *user, const char *cust)
{
	rstore_keys(keys, "t:", user, cust);
}

#define T0 1800000000L /* a minute boundary: 30000000 * 60 */

static void test_peak(void)
{
	static const char *const h[3] = { "01", "02", "03" };

	use("u1@x", "peak");
	for (int i = 1; i <= 3; i++)
		rcpt(T0 + 5, "p1", i, h[i - 1], i == 1, 0, 0, 0, 3);
	T_CHECK("peak: the 4th pending recipient is refused (3 pending)",
		rcpt(T0 + 5, "p2", 1, "04", 0, 0, 0, 0, 3) == 3);
	T_CHECK("peak: commit", commit(T0 + 5, "p1", 3, h) == 0);
	T_CHECK("peak: still refused 599 s later",
		rcpt(T0 + 604, "p3", 1, "04", 1, 0, 0, 0, 3) == 3);
	T_CHECK("peak: room again at exactly t + 600",
		rcpt(T0 + 605, "p3", 1, "04", 1, 0, 0, 0, 3) == 0);
	release("p3", 1);
}

/* A commit Redis ran after the box stopped waiting is replayed from the
 * journal with the same id: it counts once. */
static void test_commit_once(void)
{
	static const char *const h[3] = { "01", "02", "03" };

	use("u9@x", "once");
	for (int i = 1; i <= 3; i++)
		rcpt(T0 + 5, "o1", i, h[i - 1], i == 1, 0, 0, 0, 4);
	T_CHECK("once: commit", commit_k(T0 + 5, "o1", 3, h, 1) == 0);
	T_CHECK("once: the same commit again (a replay) runs",
		commit_k(T0 + 6, "o1", 3, h, 1) == 0);
	T_CHECK("once: counted once: a 4th recipient of a peak of 4 fits",
		rcpt(T0 + 7, "o2", 1, "04", 1, 0, 0, 0, 4) == 0);
	T_CHECK("once: ... and no 5th",
		rcpt(T0 + 7, "o2", 2, "05", 0, 0, 0, 0, 4) == 3);
	release("o2", 2);
}

static void test_pending(void)
{
	use("u2@x", "pend");
	rcpt(T0, "q1", 1, "01", 1, 0, 0, 0, 2);
	rcpt(T0, "q1", 2, "02", 0, 0, 0, 0, 2);
	T_CHECK("pending: another box's reservations count",
		rcpt(T0 + 1, "q2", 1, "03", 1, 0, 0, 0, 2) == 3);
	release("q1", 2);
	T_CHECK("pending: released, the room is back",
		rcpt(T0 + 2, "q2", 1, "03", 1, 0, 0, 0, 2) == 0);
	rcpt(T0 + 2, "q2", 2, "04", 0, 0, 0, 0, 2);
	T_CHECK("pending: full again",
		rcpt(T0 + 3, "q3", 1, "05", 1, 0, 0, 0, 2) == 3);
	T_CHECK("pending: a dead box's reservations still count long after "
		"a transaction's life (its message may have been queued)",
		rcpt(T0 + 301, "q3", 1, "05", 1, 0, 0, 0, 2) == 3);
	T_CHECK("pending: ... in the peak window until 600 s after they were "
		"made, as a count",
		rcpt(T0 + 601, "q3", 1, "05", 1, 0, 0, 0, 2) == 3 &&
		rcpt(T0 + 602, "q3", 1, "05", 1, 0, 0, 0, 2) == 0);
	release("q3", 1);
}

/* A box dies with reservations of its customer and user: the day window
 * and the user's limits keep them until the day is over. */
static void test_dead_box(void)
{
	use("u5@x", "dead");
	rcpt(T0 + 30, "k1", 1, "01", 1, 0, 0, 2, 0);
	rcpt(T0 + 30, "k1", 2, "02", 0, 0, 0, 2, 0);
	T_CHECK("dead box: customer daily full on its reservations",
		rcpt(T0 + 3600, "k2", 1, "03", 1, 0, 0, 2, 0) == 2);
	T_CHECK("dead box: still full 24 h later",
		rcpt(T0 + 30 + 86400, "k2", 1, "03", 1, 0, 0, 2, 0) == 2);
	T_CHECK("dead box: free at minute(t) + 1441",
		rcpt(T0 + 1441 * 60, "k2", 1, "03", 1, 0, 0, 2, 0) == 0);
	release("k2", 1);
	use("u6@x", "dead2");
	rcpt(T0, "k3", 1, "01", 1, 1, 1, 0, 0);
	T_CHECK("dead box: the user's message and recipient stay reserved",
		rcpt(T0 + 7200, "k4", 1, "02", 1, 0, 1, 0, 0) == 1 &&
		rcpt(T0 + 7200, "k4", 1, "02", 1, 1, 0, 0, 0) == 1);
	T_CHECK("dead box: ... for the day",
		rcpt(T0 + 1441 * 60, "k4", 1, "02", 1, 1, 1, 0, 0) == 0);
}

static void test_unique(void)
{
	static const char *const h[2] = { "aa", "bb" };

	use("u3@x", "uniq");
	rcpt(T0, "r1", 1, "aa", 1, 0, 2, 0, 0);
	rcpt(T0, "r1", 2, "bb", 0, 0, 2, 0, 0);
	commit(T0, "r1", 2, h);
	T_CHECK("unique: a known recipient costs the user nothing",
		rcpt(T0 + 60, "r2", 1, "aa", 1, 0, 2, 0, 0) == 0);
	T_CHECK("unique: a new one over the limit is refused (user)",
		rcpt(T0 + 60, "r2", 2, "cc", 0, 0, 2, 0, 0) == 1);
	commit(T0 + 60, "r2", 1, h);
	T_CHECK("unique: bb (last used at t) leaves at minute + 1441: not "
		"at 24 h",
		rcpt(T0 + 86400, "r3", 1, "cc", 1, 0, 2, 0, 0) == 1);
	T_CHECK("unique: ... but at t + 1441 min (aa, used again, stays)",
		rcpt(T0 + 1441 * 60, "r3", 1, "cc", 1, 0, 2, 0, 0) == 0);
	T_CHECK("unique: aa still counts (last used a minute after bb)",
		rcpt(T0 + 1441 * 60, "r3", 2, "dd", 0, 0, 2, 0, 0) == 1);
}

static void test_daily(void)
{
	static const char *const h[2] = { "01", "02" };

	use("u4@x", "day");
	rcpt(T0 + 30, "d1", 1, "01", 1, 0, 0, 2, 0);
	rcpt(T0 + 30, "d1", 2, "02", 0, 0, 0, 2, 0);
	commit(T0 + 30, "d1", 2, h);
	T_CHECK("daily: full", rcpt(T0 + 3600, "d2", 1, "03", 1, 0, 0, 2,
				    0) == 2);
	T_CHECK("daily: still full 24 h later (never early)",
		rcpt(T0 + 30 + 86400, "d2", 1, "03", 1, 0, 0, 2, 0) == 2);
	T_CHECK("daily: free at minute(t) + 1441",
		rcpt(T0 + 1441 * 60, "d2", 1, "03", 1, 0, 0, 2, 0) == 0);
	T_CHECK("daily: another transaction's pending message counts for the "
		"user's messages",
		rcpt(T0 + 1441 * 60, "d3", 1, "04", 1, 1, 0, 0, 0) == 1);
}

static int up(void)
{
	redisReply *rep = NULL;

	rstore_append(rs, 1, (const char *[]){ "PING" }, NULL);
	if (rstore_exec(rs, &rep, 1) < 0)
		return 0;
	freeReplyObject(rep);
	return 1;
}

static pid_t redis_start(const char *dir, char *sock, size_t n)
{
	char url[300], err[256], log[300];
	struct rstore_addr a;
	pid_t pid;

	snprintf(sock, n, "%s/redis.sock", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	if ((pid = fork()) == 0) {
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", sock, "--save", "", "--appendonly", "no",
		       "--dir", dir, "--loglevel", "warning", "--logfile", log,
		       (char *)NULL);
		_exit(127);
	}
	snprintf(url, sizeof url, "redis+unix://%s", sock);
	rstore_parse(url, &a, err, sizeof err);
	rs = rstore_new(&a, "", "", "", 2000);
	/* the socket's name exists from bind(), before listen(): wait for
	 * an answer, not for the name */
	for (int i = 0; i < 200 && !up(); i++) {
		rstore_reset(rs);
		usleep(25000);
	}
	return pid;
}

int main(void)
{
	char dir[] = "/tmp/test_rstore_lua.XXXXXX", sock[256];
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	pid = redis_start(dir, sock, sizeof sock);
	T_CHECK("redis-server runs (package redis-server)", up());
	test_peak();
	test_commit_once();
	test_pending();
	test_unique();
	test_daily();
	test_dead_box();
	rstore_free(rs);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(sock);
	snprintf(sock, sizeof sock, "%s/log", dir);
	unlink(sock);
	rmdir(dir);
	return t_done();
}
