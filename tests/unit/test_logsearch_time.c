// links:
/* test_logsearch_time.c: logsearch_time, the --since/--until parser of
 * relayctl log and relay-metrics' /log: the absolute forms are read field
 * by field and checked (a real date, hours < 24, minutes and seconds
 * < 60, two digits each), printed in the log's own form; anything else
 * is refused (-1) rather than compared as text. */
#include <stdio.h>
#include <string.h>

#include "logsearch.h"
#include "t.h"

static const struct {
	const char *in, *want;  /* want NULL: refused */
} cases[] = {
	{ "2026-12-07", "2026-12-07" },
	{ "2026-12-07 06:36", "2026-12-07T06:36" },
	{ "2026-12-07T06:36", "2026-12-07T06:36" },
	{ "2026-12-07 06:35:59", "2026-12-07T06:35:59" },
	{ "2024-02-29", "2024-02-29" },
	{ "2026-12-07 6:36", NULL },
	{ "2026-12-07 06:35:99", NULL },
	{ "2026-12-07 24:00", NULL },
	{ "2026-12-07 06:60", NULL },
	{ "2026-02-30", NULL },
	{ "2025-02-29", NULL },
	{ "2026-99-99", NULL },
	{ "2026-00-10", NULL },
	{ "2026-12-00", NULL },
	{ "2026-12-07 garbage", NULL },
	{ "2026-12-07garbage", NULL },
	{ "2026-12-07 06:36 ", NULL },
	{ "2026-1-07", NULL },
	{ "+026-12-07", NULL },
	{ "2026-12-07 06:36:5", NULL },
	{ "2026-12-07 06:-1", NULL },
};

int main(void)
{
	char out[32], name[96];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = logsearch_time(cases[i].in, out, sizeof out);
		snprintf(name, sizeof name, "logsearch_time \"%s\" %s", cases[i].in,
			 cases[i].want ? cases[i].want : "refused");
		if (cases[i].want)
			T_CHECK(name, rc == 0 && !strcmp(out, cases[i].want));
		else
			T_CHECK(name, rc < 0);
	}
	/* relative forms still work */
	T_CHECK("logsearch_time \"12:30\" today", logsearch_time("12:30", out,
		sizeof out) == 0 && !strcmp(out + 10, "T12:30"));
	T_CHECK("logsearch_time \"2h\"", logsearch_time("2h", out, sizeof out)
		== 0 && strlen(out) == 19);
	return t_done();
}
