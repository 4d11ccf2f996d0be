// links: send/send_tlsrpt.c
/* test_send_tlsrpt.c: how often relay-send looks up again the TLSRPT
 * record of a policy domain whose lookup fails for now.  The lookup is
 * made in the scheduler's loop and waits for the resolver (up to about
 * 6 s when it does not answer), so a period kept for another try is
 * tried after 10 s, then after twice as long each time, up to an hour:
 * not every 10 s for a day, which held the loop in the resolver 6 s of
 * every 16.  dns_txt is this file's: it counts the lookups and always
 * fails for now; the ticks are called at the times the loop would wake
 * for them (send_tlsrpt_next), over a simulated hour and day. */
#include "../../send/send.h"
#include "dns.h"
#include "settings.h"
#include "t.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int lookups;

enum dns_status dns_txt(const char *name, char (*txt)[DNS_TXT_MAX],
			size_t max, size_t *n)
{
	(void)name;
	(void)txt;
	(void)max;
	*n = 0;
	lookups++;
	return DNS_TEMP;
}

int send_inject(const char *msg, size_t len, const char *from,
		const char *rcpt, const char *kind, int smtputf8, char *qid,
		size_t qidsz, char *err, size_t errsz)
{
	(void)msg, (void)len, (void)from, (void)rcpt, (void)kind;
	(void)smtputf8, (void)qid, (void)qidsz;
	snprintf(err, errsz, "not in this test");
	return -1;
}

void send_tlsrpt_post(const char *url, const char *json, size_t len)
{
	(void)url, (void)json, (void)len;
}

/* Ticks from now until now + secs, each at the time it is due; the
 * lookups they made. */
static int ticks(long long now, long long secs)
{
	long long end = now + secs, t = now;
	int before = lookups;

	for (int k = 0; k < 100000; k++) {
		long long due = send_tlsrpt_next();
		t = due > t ? due : t;
		if (t >= end)
			break;
		send_tlsrpt_tick(t);
		t++;
	}
	return lookups - before;
}

int main(void)
{
	char dir[] = "/tmp/test_send_tlsrpt.XXXXXX", path[PATH_MAX];
	long long now = (long long)time(NULL), start;
	FILE *f;
	int n;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/tlsrpt", dir);
	mkdir(path, 0700);
	cf.dir = dir;
	cf.tls_rpt = 1;
	cf.tls_rpt_period = 86400;
	/* the period that ended at the last midnight: within the day of
	 * patience for a lookup that fails for now */
	start = (now / 86400 - 1) * 86400;
	snprintf(path, sizeof path, "%s/tlsrpt/records.%lld", dir, start);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("slow.test sts certificate-expired mx.slow.test 127.0.18.5 "
	      "testing,86400,mx.slow.test\n", f);
	fclose(f);

	n = ticks(now, 3600);
	printf("# lookups in the first hour: %d\n", n);
	T_CHECK("the first hour: a lookup, then one after 10 s, doubling "
		"(9, not 360)", n >= 2 && n <= 12);
	T_CHECK("the period's records are kept meanwhile",
		access(path, F_OK) == 0);
	n = ticks(now + 3600, 6 * 3600);
	printf("# lookups in the next 6 hours: %d\n", n);
	T_CHECK("then once an hour at most", n >= 5 && n <= 7);

	unlink(path);
	snprintf(path, sizeof path, "%s/tlsrpt", dir);
	rmdir(path);
	rmdir(dir);
	return t_done();
}
