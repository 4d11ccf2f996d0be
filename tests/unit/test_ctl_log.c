// links: ctl/ctl_log.c
/* test_ctl_log.c: relayctl log over a small log file: a search whose
 * criterion matches nothing (its id set stays empty, never sorted or
 * searched), one that matches, and two criteria that meet in one
 * message; then lines written as relay-smtpd writes them (lib/log.h
 * log_field) with HELOs chosen to fake the keys relayctl log searches:
 * the fakes find nothing, the real values do. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../ctl/ctl.h"
#include "log.h"
#include "settings.h"
#include "t.h"

static const char log_text[] =
	"2026-11-23T12:00:00.001 relay-smtpd[1]: info: 6566A2F1: client=192.0.2.1 from=<a@example.com> result=queued\n"
	"2026-11-23T12:00:00.002 relay-send[2]: info: 6566A2F1: to=<r@example.org> status=sent\n"
	"2026-11-23T12:00:01.001 relay-smtpd[1]: info: 7777B3C2: client=192.0.2.2 from=<b@example.com> result=queued\n";

static int run(int argc, char **argv)
{
	int rc;

	fflush(stdout);
	rc = ctl_log(argc, argv);
	fflush(stdout);
	return rc;
}

/* One line as relay-smtpd's txn_log writes it. */
static void smtpd_line(FILE *f, const char *qid, const char *helo,
		       const char *from)
{
	char h[400], fr[800];

	log_field(h, sizeof h, helo, strlen(helo));
	log_field(fr, sizeof fr, from, strlen(from));
	fprintf(f, "2026-11-23T12:00:00.001 relay-smtpd[1]: info: %s: "
		   "client=192.0.2.1 helo=%s from=<%s> nrcpt=1 size=10 "
		   "result=queued\n", qid, h, fr);
}

static void test_forge(void)
{
	char path[] = "/tmp/test_log_field.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f) {
		T_CHECK("temporary log", 0);
		return;
	}
	smtpd_line(f, "6566A2F1", "a from=<victim@example.com> x",
		   "real@example.com");
	smtpd_line(f, "7777B3C2", "b client=10.9.8.7 [10.9.8.7] 6566A2F1:",
		   "a=b@example.com");
	fclose(f);
	cf.log_file = path;
	{
		char *a[] = { "--from", "victim@example.com" };
		T_CHECK("HELO faking from=<...>: not found", run(2, a) == 1);
	}
	{
		char *a[] = { "--from", "real@example.com" };
		T_CHECK("the real sender: found", run(2, a) == 0);
	}
	{
		char *a[] = { "--ip", "10.9.8.7" };
		T_CHECK("HELO faking client= and [ip]: not found",
			run(2, a) == 1);
	}
	{
		char *a[] = { "--from", "a=b@example.com" };
		T_CHECK("a sender with '=' (encoded): found", run(2, a) == 0);
	}
	{
		char *a[] = { "--id", "6566A2F1", "victim" };
		T_CHECK("--id with a pattern over the decoded line: found",
			run(3, a) == 0);
	}
	unlink(path);
}

int main(void)
{
	char path[] = "/tmp/test_ctl_log.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, log_text, sizeof log_text - 1) !=
			      (ssize_t)(sizeof log_text - 1))
		return 1;
	close(fd);
	cf.log_file = path;
	{
		char *a[] = { "--from", "nobody@example.net" };
		T_CHECK("a sender nobody used: nothing found", run(2, a) == 1);
	}
	{
		char *a[] = { "--from", "nobody@example.net", "--to", "r@example.org" };
		T_CHECK("one criterion empty: nothing found", run(4, a) == 1);
	}
	{
		char *a[] = { "--from", "a@example.com" };
		T_CHECK("a sender's message found", run(2, a) == 0);
	}
	{
		char *a[] = { "--from", "a@example.com", "--to", "r@example.org" };
		T_CHECK("two criteria meet in one message", run(4, a) == 0);
	}
	{
		char *a[] = { "--from", "b@example.com", "--to", "r@example.org" };
		T_CHECK("two criteria in different messages: none", run(4, a) == 1);
	}
	unlink(path);
	test_forge();
	return t_done();
}
