// links:
/* test_logsearch_budget.c: the budget of a log search (relay-metrics'
 * /log sets one, relayctl log none).  A byte budget searches the newest
 * max_bytes of the rotated log and the current one: a line that starts
 * exactly at the limit is searched, one cut by it is not, and the result
 * says the older part was left out; a time budget stops the search and
 * says so; without one every line is searched and nothing is cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logsearch.h"
#include "t.h"

#define L(n) "2026-11-23T12:00:00.00" #n " relay-queue[1]: info: " \
	"ID00000" #n ": from=<s@example.com> size=9\n"
static const char rotated_text[] = L(1) L(2) L(3);
static const char current_text[] = L(4) L(5);

struct found {
	long n;
	char first[128];
};

static void keep(void *arg, const char *line)
{
	struct found *f = arg;

	if (!f->n++)
		snprintf(f->first, sizeof f->first, "%s", line);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A search of every line (no criterion) with the budget given. */
static struct found search(const char *log, long long max_bytes,
			   long max_ms, int *cut)
{
	struct logsearch q;
	struct found f = { 0, "" };

	memset(&q, 0, sizeof q);
	q.emit = keep;
	q.arg = &f;
	q.max_bytes = max_bytes;
	q.max_ms = max_ms;
	logsearch_run(&q, log);
	*cut = q.cut;
	return f;
}

static void test_bytes(const char *log)
{
	long long cur = (long long)strlen(current_text);
	long long line = (long long)strlen(L(3));
	struct found f;
	int cut;

	f = search(log, 0, 0, &cut);
	T_CHECK("no budget: every line, not cut", f.n == 5 && cut == 0);
	f = search(log, 1 << 20, 0, &cut);
	T_CHECK("a budget larger than the log: every line, not cut",
		f.n == 5 && cut == 0);
	f = search(log, cur, 0, &cut);
	T_CHECK("budget = the current log: its lines only, cut",
		f.n == 2 && strstr(f.first, "ID000004") &&
		cut == LOGSEARCH_CUT_BYTES);
	f = search(log, cur + line, 0, &cut);
	T_CHECK("a line that starts at the limit is searched",
		f.n == 3 && strstr(f.first, "ID000003"));
	f = search(log, cur + line + 1, 0, &cut);
	T_CHECK("a line the limit cuts is not",
		f.n == 3 && strstr(f.first, "ID000003"));
	f = search(log, cur - 1, 0, &cut);
	T_CHECK("a limit inside the current log: the lines after it",
		f.n == 1 && strstr(f.first, "ID000005"));
}

/* 200,000 lines take far more than a millisecond to read. */
static void test_time(const char *dir)
{
	char log[512];
	FILE *f;
	struct found fd;
	int cut;

	snprintf(log, sizeof log, "%s/big.log", dir);
	if (!(f = fopen(log, "w"))) {
		T_CHECK("big log written", 0);
		return;
	}
	for (long i = 0; i < 200000; i++)
		fputs(L(9), f);
	fclose(f);
	fd = search(log, 0, 1, &cut);
	T_CHECK("time budget of 1 ms: stopped, says so",
		fd.n < 200000 && (cut & LOGSEARCH_CUT_TIME));
	fd = search(log, 0, 0, &cut);
	T_CHECK("the same without a budget: every line",
		fd.n == 200000 && cut == 0);
	unlink(log);
}

int main(void)
{
	char dir[] = "/tmp/test_logsearch_budget.XXXXXX", log[512],
	     rotated[520];

	if (!mkdtemp(dir)) {
		T_CHECK("temporary folder", 0);
		return t_done();
	}
	snprintf(log, sizeof log, "%s/relay.log", dir);
	snprintf(rotated, sizeof rotated, "%s.1", log);
	T_CHECK("logs written", write_file(rotated, rotated_text) == 0 &&
		write_file(log, current_text) == 0);
	test_bytes(log);
	test_time(dir);
	unlink(rotated);
	unlink(log);
	rmdir(dir);
	return t_done();
}
