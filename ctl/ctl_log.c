/* ctl_log.c: relayctl log, the "email log search" (lib/logsearch.h,
 * shared with relay-metrics' status page) over the log that relay-master
 * writes (cf.log_file, and its rotated predecessor .1 first).
 *   --id QID                 every line of that message
 *   --from/--to ADDR, --ip IP  find the messages (queue ids) that have
 *                            a line matching each of them (and PATTERN),
 *                            then print every line of those messages
 *   --since/--until TIME     "2026-11-23", "2026-11-23 12:30[:15]",
 *                            "12:30" (today), or "2h"/"30m"/"1d" ago
 *   PATTERN                  an extended regex (case-insensitive)
 * Exits 0 when something was printed, 1 when nothing matched. */
#include "ctl.h"
#include "logsearch.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>

static void log_print(void *arg, const char *line)
{
	(void)arg;
	fputs(line, stdout);
}

static int log_usage(void)
{
	fprintf(stderr, "usage: relayctl log [--id QID] [--from ADDR] [--to ADDR] "
			"[--ip IP] [--since TIME] [--until TIME] [PATTERN]\n"
			"TIME: 2026-11-23, '2026-11-23 12:30', 12:30, 2h, 30m, 1d\n");
	return 100;
}

/* Options with a value; 0, or -1 on a usage error. */
static int log_parse_args(struct logsearch *q, int argc, char **argv)
{
	const char *pattern = NULL;
	int i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (o[0] != '-' || strcmp(o, "-") == 0) {
			if (pattern)
				return -1;
			pattern = o;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (strcmp(o, "--id") == 0)
			q->id = v;
		else if (strcmp(o, "--from") == 0)
			q->from = v;
		else if (strcmp(o, "--to") == 0)
			q->to = v;
		else if (strcmp(o, "--ip") == 0)
			q->ip = v;
		else if (strcmp(o, "--since") == 0) {
			if (logsearch_time(v, q->since, sizeof q->since) < 0)
				return -1;
		} else if (strcmp(o, "--until") == 0) {
			if (logsearch_time(v, q->until, sizeof q->until) < 0)
				return -1;
		} else
			return -1;
	}
	return pattern ? logsearch_pattern(q, pattern) : 0;
}

int ctl_log(int argc, char **argv)
{
	struct logsearch q;

	memset(&q, 0, sizeof q);
	if (log_parse_args(&q, argc, argv) < 0)
		return log_usage();
	q.emit = log_print;
	logsearch_run(&q, cf.log_file);
	if (*q.error) { /* a log it could not read: not "nothing matched" */
		fprintf(stderr, "relayctl: log: %s\n", q.error);
		return 111;
	}
	return q.printed ? 0 : 1; /* like grep: 1 when nothing matched */
}
