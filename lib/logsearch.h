/* logsearch.h: the email log search over the log relay-master writes
 * (cf.log_file, its rotated predecessor .1 first), shared by relayctl log
 * and relay-metrics' status page so both find the same lines.
 * Lines read "2026-11-23T12:00:00.123 prog[pid]: level: <qid>: text".
 *   id                every line of that message
 *   from, to, ip      find the messages (queue ids) that have a line
 *                     matching each of them (and the pattern), then
 *                     every line of those messages
 *   since, until      the log's timestamp form (logsearch_time)
 *   pattern           an extended regex (case-insensitive)
 * Peer-supplied values were written with log_field (lib/log.h): they hold
 * no '=', '<', '>', '[' or ']', so the keys, <addresses> and [ips] found
 * here are the daemons' own.  A value is decoded before it is compared,
 * and a line before it is emitted or matched against the pattern
 * (control bytes stay encoded). */
#ifndef LOGSEARCH_H
#define LOGSEARCH_H

#include <limits.h>
#include <regex.h>
#include <stddef.h>

#define LOGSEARCH_QID_MAX 64
#define LOGSEARCH_CUT_BYTES 1 /* the older part of the log not searched */
#define LOGSEARCH_CUT_TIME 2  /* stopped at the time budget */

enum { LOGSEARCH_FROM, LOGSEARCH_TO, LOGSEARCH_IP, LOGSEARCH_RE,
       LOGSEARCH_SETS };

struct logsearch_set {
	char (*ids)[LOGSEARCH_QID_MAX + 1];
	size_t n, cap;
	int used;                       /* this criterion was given */
};

struct logsearch {
	/* the query: NULL or "" when not given */
	const char *id, *from, *to, *ip;
	char since[32], until[32];
	/* each line found, decoded (the callback may keep it no longer
	 * than the call); limit: stop after this many (0: no limit) */
	void (*emit)(void *arg, const char *line);
	void *arg;
	long limit;
	/* a budget (0: none): search only the newest max_bytes of the
	 * two files, and stop after max_ms (with a pattern, from or to, the
	 * first of the two passes stops at half of it) */
	long long max_bytes;
	long max_ms;
	/* the results; error: why a log file could not be read (the
	 * current one for any reason, the rotated .1 for any but its
	 * absence), "" when both were read */
	long printed;
	char error[PATH_MAX + 64];
	/* where the budget cut the search: LOGSEARCH_CUT_* bits, 0 when
	 * the whole log was searched */
	int cut;
	/* inside */
	regex_t re;
	int has_re;
	long deadline;          /* monotonic ms of the pass, 0: none */
	struct logsearch_set sets[LOGSEARCH_SETS + 1];
};

/* TIME -> the log's timestamp form, as precise as TIME was: "2026-11-23",
 * "2026-11-23T12:30", "2026-11-23T12:30:15"; "2h", "30m", "1d" ago,
 * "12:30" today.  -1 when unreadable. */
int logsearch_time(const char *s, char *out, size_t n);
/* Take pattern (an extended regex); -1 when it does not compile. */
int logsearch_pattern(struct logsearch *q, const char *pattern);
/* Run the query over logfile.1 then logfile; frees what it made. */
void logsearch_run(struct logsearch *q, const char *logfile);

#endif
