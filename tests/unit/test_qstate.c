/* test_qstate.c: the state file (lib/qstate) after a short write.  An
 * append cut short by a full disk, or a crash, leaves part of a line;
 * whatever follows must never change that part's meaning or be changed
 * by it: a glued or damaged line is read as "no result" (a duplicate at
 * worst), never as some recipient delivered.  The full disk is played
 * by RLIMIT_FSIZE: write() stores what fits below the limit and returns
 * a short count, the next one fails (EFBIG), as ENOSPC does at the end
 * of the last free block. */
#include "qstate.h"
#include "t.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NRCPT 20
#define LATER "4.7.1 {mx.example.org[192.0.2.5]:25} greylisted, try later"

static char tmpdir[] = "/tmp/test_qstate.XXXXXX";
static char path[300];

static void put_raw(const char *data, size_t len, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

static off_t file_size(void)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Recipients 0..13 deferred once, as relay-send's first job writes. */
static void put_deferred(void)
{
	char buf[NRCPT * (QSTATE_LINE_MAX + 2)];
	size_t len = 0;

	unlink(path);
	for (size_t i = 0; i < 14; i++)
		len += qstate_format(buf + len, sizeof buf - len, i, 'T',
				     1795432783, 1795433000, 451, LATER);
	qstate_append(path, buf, len);
}

static int append_line(size_t idx, char st, const char *text)
{
	char line[QSTATE_LINE_MAX + 2];
	size_t n = qstate_format(line, sizeof line, idx, st, 1795434000,
				 st == 'T' ? 1795435000 : 0,
				 st == 'D' ? 250 : 451, text);
	return qstate_append(path, line, n);
}

/* Which recipients the file says are delivered: "3", "3 13"... */
static void delivered(char *out, size_t n)
{
	struct qstate s;
	size_t len = 0;

	out[0] = '\0';
	if (qstate_init(&s, NRCPT) < 0)
		return;
	qstate_load(path, &s);
	for (size_t i = 0; i < NRCPT && len + 4 < n; i++)
		if (s.r[i].status == 'D')
			len += (size_t)snprintf(out + len, n - len, "%s%zu",
						len ? " " : "", i);
	qstate_free(&s);
}

/* The exact misread: a fragment "1" (the start of "13 T ...") left by
 * a failed append, then recipient 3's D line: must not read "13 D". */
static void test_fragment_then_append(void)
{
	char got[128];

	put_deferred();
	put_raw("1", 1, "ab");
	T_CHECK("fragment: next append written", append_line(3, 'D',
							      "2.0.0 ok") == 0);
	delivered(got, sizeof got);
	T_STREQ("fragment: only recipient 3 delivered, not 13", got, "3");
}

/* The same through qstate_append itself: a write cut by the limit. */
static void test_short_write(void)
{
	struct rlimit old, lim;
	char buf[2 * (QSTATE_LINE_MAX + 2)], got[128];
	size_t len = 0;
	off_t before;
	int rc;

	put_deferred();
	before = file_size();
	len += qstate_format(buf + len, sizeof buf - len, 13, 'T',
			     1795433100, 1795433900, 451, LATER);
	len += qstate_format(buf + len, sizeof buf - len, 11, 'T',
			     1795433100, 1795433900, 451, LATER);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 1; /* room for "1" of "13 T" */
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = qstate_append(path, buf, len);
	setrlimit(RLIMIT_FSIZE, &old);
	T_CHECK("short write: the append fails", rc < 0);
	T_CHECK("short write: the file is as it was", file_size() == before);
	T_CHECK("short write: the next append written",
		append_line(3, 'D', "2.0.0 ok") == 0);
	delivered(got, sizeof got);
	T_STREQ("short write: only recipient 3 delivered", got, "3");
}

/* A fragment that ends inside a line's text, and one of a D line that
 * stops before its text: neither may take the next line's bytes. */
static void test_fragment_kinds(void)
{
	char got[128];
	const char *frag = "5 T 1795433100 1795433900 451 4.7.1 {mx.exa";

	put_deferred();
	put_raw(frag, strlen(frag), "ab");
	append_line(3, 'D', "2.0.0 ok");
	append_line(4, 'D', "2.0.0 ok");
	delivered(got, sizeof got);
	T_STREQ("text fragment: the lines after it read", got, "3 4");
}

/* After a power cut without a journal the file can end in a block of
 * zeros (its size was written, its data not); lines appended after
 * them are still read. */
static void test_zero_block(void)
{
	char zeros[4096], got[128];

	memset(zeros, 0, sizeof zeros);
	put_deferred();
	put_raw(zeros, sizeof zeros, "ab");
	append_line(6, 'D', "2.0.0 ok");
	delivered(got, sizeof got);
	T_STREQ("zeros: the line after them read", got, "6");
}

/* A line glued to a fragment by something else (an older writer): the
 * reader alone must refuse it.  Recipient 3's line is taken from a
 * file the current writer made, glued after "1". */
static void test_glued_line(void)
{
	char line[QSTATE_LINE_MAX + 64], got[128];
	FILE *f;
	size_t n;

	unlink(path);
	append_line(3, 'D', "2.0.0 ok");
	f = fopen(path, "rb");
	n = f ? fread(line, 1, sizeof line, f) : 0;
	if (f)
		fclose(f);
	put_deferred();
	put_raw("1", 1, "ab");
	put_raw(line, n, "ab");
	delivered(got, sizeof got);
	T_STREQ("glued: \"1\" + \"3 D ...\" is not recipient 13", got, "");
}

/* A file the previous release wrote (lines without a check), cut by a
 * crash mid-line, then appended to by this one: the old results stay
 * read, the fragment is no result, the new line is read too. */
static void test_upgrade(void)
{
	char buf[4 * (QSTATE_LINE_MAX + 2)], got[128];
	size_t len = 0;

	unlink(path);
	len += qstate_format(buf + len, sizeof buf - len, 2, 'D', 1795434000,
			     0, 250, "2.0.0 ok");
	len += qstate_format(buf + len, sizeof buf - len, 4, 'T', 1795434000,
			     1795435000, 451, LATER);
	len += qstate_format(buf + len, sizeof buf - len, 5, 'D', 1795434000,
			     0, 250, "2.0.0 ok");
	put_raw(buf, len, "wb");
	put_raw("1", 1, "ab");
	T_CHECK("upgrade: append after the old lines", append_line(7, 'D',
								"2.0.0 ok") == 0);
	delivered(got, sizeof got);
	T_STREQ("upgrade: old results kept, the new one read", got, "2 5 7");
}

/* R lines mark success notices owed, an S line clears them all; a
 * malformed or out-of-range one is ignored. */
static void test_owed(void)
{
	struct qstate s;

	if (qstate_init(&s, 3) < 0)
		return;
	T_CHECK("owed: R lines", qstate_apply(&s, "0 D 5 0 250 ok") == 0 &&
		qstate_apply(&s, "R 0") == 0 && qstate_apply(&s, "R 2") == 0 &&
		qstate_owed(&s) == 2 && s.r[0].owed && s.r[2].owed);
	T_CHECK("owed: an index past the recipients is refused",
		qstate_apply(&s, "R 3") < 0 && qstate_apply(&s, "R x") < 0 &&
		qstate_owed(&s) == 2);
	T_CHECK("owed: S clears them", qstate_apply(&s, "S 9 ABC") == 0 &&
		qstate_owed(&s) == 0 && s.r[0].status == 'D');
	T_CHECK("owed: S needs a time and a qid", qstate_apply(&s, "S 9") < 0);
	qstate_free(&s);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	signal(SIGXFSZ, SIG_IGN); /* the limit answers EFBIG instead */
	snprintf(path, sizeof path, "%s/6B04214FE16FE028A60", tmpdir);
	test_fragment_then_append();
	test_short_write();
	test_fragment_kinds();
	test_zero_block();
	test_glued_line();
	test_upgrade();
	test_owed();
	unlink(path);
	rmdir(tmpdir);
	return t_done();
}
