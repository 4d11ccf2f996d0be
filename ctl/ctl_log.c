/* ctl_log.c: relayctl log, the "email log search" over the log that
 * relay-master writes (cf.log_file, and its rotated predecessor .1 first).
 * Lines read "2026-11-23T12:00:00.123 prog[pid]: level: <qid>: text".
 *   --id QID                 every line of that message
 *   --from/--to ADDR, --ip IP  find the messages (queue ids) that have
 *                            a line matching each of them (and PATTERN),
 *                            then print every line of those messages
 *   --since/--until TIME     "2026-11-23", "2026-11-23 12:30[:15]",
 *                            "12:30" (today), or "2h"/"30m"/"1d" ago
 *   PATTERN                  an extended regex (case-insensitive)
 * Exits 0 when something was printed, 1 when nothing matched.
 *
 * Peer-supplied values were written with log_field (lib/log.h): they hold
 * no '=', '<', '>', '[' or ']', so the keys, <addresses> and [ips] found
 * here are the daemons' own.  A value is decoded before it is compared,
 * and a line before it is shown or matched against PATTERN (control
 * bytes stay encoded: the terminal gets no escape sequence). */
#include "ctl.h"
#include "log.h"
#include "settings.h"

#include <ctype.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_QID_MAX 64
#define LOG_STAMP_LEN 23

enum { LOG_FROM, LOG_TO, LOG_IP, LOG_RE, LOG_SETS };

struct log_set {
	char (*ids)[LOG_QID_MAX + 1];
	size_t n, cap;
	int used;                       /* this criterion was given */
};

struct log_query {
	const char *id, *from, *to, *ip;
	char since[32], until[32];
	regex_t re;
	int has_re;
	/* pass 1 collects, per criterion (from, to, ip, pattern), the queue
	 * ids of the lines it matches; a message must meet every criterion
	 * given, on any of its lines: sets[LOG_SETS] is the intersection */
	struct log_set sets[LOG_SETS + 1];
	long printed;
};

/* The queue id of a line: the token after "level: " when it is followed
 * by ':' and looks like an id (letters/digits, at least one digit), else
 * the value of a qid= or id= key.  "" when none. */
static void log_line_qid(const char *line, char *out)
{
	const char *p = strstr(line, "]: "), *q;
	size_t n = 0;

	out[0] = '\0';
	if (p && (p = strstr(p + 3, ": "))) {
		p += 2;
		while (n < LOG_QID_MAX && (isalnum((unsigned char)p[n]) ||
					   p[n] == '.' || p[n] == '_' || p[n] == '-'))
			n++;
		/* an IPv4 address (smtpd starts its lines with the client's)
		 * is not a queue id */
		const char *digit = strpbrk(p, "0123456789");
		if (n >= 6 && p[n] == ':' && digit && digit < p + n &&
		    strspn(p, "0123456789.") < n) {
			memcpy(out, p, n);
			out[n] = '\0';
			return;
		}
	}
	for (q = line; (q = strstr(q, "id=")); q += 3) {
		if (q != line && q[-1] != ' ' && q[-1] != 'q')
			continue;
		for (n = 0; n < LOG_QID_MAX && q[3 + n] && q[3 + n] != ' ' &&
			    q[3 + n] != '\n' && q[3 + n] != ','; n++)
			;
		memcpy(out, q + 3, n);
		out[n] = '\0';
		return;
	}
}

/* Does the <...> value after key (e.g. "from=<") match addr?  With an '@'
 * addr must be the whole address, without one it is a part (a domain). */
static int log_addr_match(const char *line, const char *key, const char *addr)
{
	const char *p = line, *end;
	size_t kl = strlen(key);
	char val[512];

	while ((p = strstr(p, key))) {
		p += kl;
		end = strchr(p, '>');
		if (!end || (size_t)(end - p) >= sizeof val)
			continue;
		memcpy(val, p, (size_t)(end - p));
		val[end - p] = '\0';
		log_field_decode(val, 0);
		if (strchr(addr, '@') ? strcasecmp(val, addr) == 0
				      : strcasestr(val, addr) != NULL)
			return 1;
	}
	return 0;
}

/* Is p (inside line) just after " key" (or key at the line's start)? */
static int log_after_key(const char *line, const char *p, const char *key)
{
	size_t kl = strlen(key), off = (size_t)(p - line);

	return off >= kl && strncmp(p - kl, key, kl) == 0 &&
	       (off == kl || p[-(long)kl - 1] == ' ');
}

/* ip as the value of ip= or client=, or as "[ip]" (relay=host[ip]:port):
 * the daemons' own keys, which no peer-supplied value can imitate. */
static int log_ip_match(const char *line, const char *ip)
{
	size_t il = strlen(ip);
	const char *p;

	for (p = line; (p = strstr(p, ip)); p += il) {
		int key = log_after_key(line, p, "ip=") ||
			  log_after_key(line, p, "client=") ||
			  (p > line && p[-1] == '[');
		char c = p[il];
		if (key && (c == '\0' || c == ' ' || c == ']' || c == '\n' ||
			    c == ','))
			return 1;
	}
	return 0;
}

static int log_in_time(const struct log_query *q, const char *line)
{
	if (strlen(line) < LOG_STAMP_LEN)
		return !q->since[0] && !q->until[0];
	if (q->since[0] && strncmp(line, q->since, strlen(q->since)) < 0)
		return 0;
	if (q->until[0] && strncmp(line, q->until, strlen(q->until)) > 0)
		return 0;
	return 1;
}

/* PATTERN against the line as shown (decoded). */
static int log_re_match(const struct log_query *q, const char *line)
{
	char *shown = strdup(line);
	int m;

	if (!shown)
		return regexec(&q->re, line, 0, NULL, 0) == 0;
	log_field_decode(shown, 1);
	m = regexec(&q->re, shown, 0, NULL, 0) == 0;
	free(shown);
	return m;
}

/* Does line meet criterion c (pass 1)? */
static int log_criterion(const struct log_query *q, int c, const char *line)
{
	switch (c) {
	case LOG_FROM:
		return log_addr_match(line, "from=<", q->from);
	case LOG_TO:
		return log_addr_match(line, "to=<", q->to) ||
		       log_addr_match(line, "rcpt=<", q->to);
	case LOG_IP:
		return log_ip_match(line, q->ip);
	case LOG_RE:
		return log_re_match(q, line);
	}
	return 0;
}

static void log_add_qid(struct log_set *set, const char *qid)
{
	if (!*qid)
		return;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		void *n = realloc(set->ids, cap * sizeof *set->ids);
		if (!n)
			return;
		set->ids = n;
		set->cap = cap;
	}
	snprintf(set->ids[set->n++], LOG_QID_MAX + 1, "%s", qid);
}

static int log_qid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Run fn over every line of the rotated log and then the current one. */
static void log_each_line(struct log_query *q,
			  void (*fn)(struct log_query *, char *))
{
	char rotated[PATH_MAX];
	const char *files[2];
	char *line = NULL;
	size_t cap = 0;
	int i;

	snprintf(rotated, sizeof rotated, "%s.1", cf.log_file);
	files[0] = rotated;
	files[1] = cf.log_file;
	for (i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			continue;
		while (getline(&line, &cap, f) > 0)
			fn(q, line);
		fclose(f);
	}
	free(line);
}

static void log_print(struct log_query *q, char *line)
{
	log_field_decode(line, 1);
	fputs(line, stdout);
	q->printed++;
}

/* Without --id/--from/--to/--ip: the lines in the time range that match
 * the pattern, if any. */
static void log_pass_print(struct log_query *q, char *line)
{
	if (log_in_time(q, line) &&
	    (!q->has_re || log_criterion(q, LOG_RE, line)))
		log_print(q, line);
}

static void log_pass_collect(struct log_query *q, char *line)
{
	char qid[LOG_QID_MAX + 1];
	int c;

	if (!log_in_time(q, line))
		return;
	log_line_qid(line, qid);
	if (!*qid)
		return;
	for (c = 0; c < LOG_SETS; c++)
		if (q->sets[c].used && log_criterion(q, c, line))
			log_add_qid(&q->sets[c], qid);
}

static void log_pass_by_qid(struct log_query *q, char *line)
{
	char qid[LOG_QID_MAX + 1];

	log_line_qid(line, qid);
	if (q->id) {
		if (log_in_time(q, line) && strcmp(qid, q->id) == 0)
			log_print(q, line);
		return;
	}
	if (*qid && bsearch(qid, q->sets[LOG_SETS].ids, q->sets[LOG_SETS].n,
			    sizeof *q->sets[LOG_SETS].ids, log_qid_cmp))
		log_print(q, line);
}

/* TIME -> the log's timestamp form, as precise as TIME was: "2026-11-23",
 * "2026-11-23T12:30", "2026-11-23T12:30:15".  -1 when unreadable. */
static int log_parse_time(const char *s, char *out, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	char unit = 0, date[16];
	long v;
	int a, b, c = -1, len = 0;

	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y-%m-%d", &tm);
	if (sscanf(s, "%ld%c%n", &v, &unit, &len) == 2 && !s[len] && v >= 0 &&
	    strchr("smhd", unit)) {
		long mult = unit == 's' ? 1 : unit == 'm' ? 60 :
			    unit == 'h' ? 3600 : 86400;
		time_t t = now - (time_t)(v * mult);
		localtime_r(&t, &tm);
		strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
		return 0;
	}
	if (sscanf(s, "%d:%d%n:%d%n", &a, &b, &len, &c, &len) >= 2 && !s[len] &&
	    strlen(s) <= 8 && a >= 0 && a < 24 && b >= 0 && b < 60 && c < 60) {
		if (c < 0)
			snprintf(out, n, "%.10sT%02u:%02u", date, (unsigned)a % 24u,
				 (unsigned)b % 60u);
		else
			snprintf(out, n, "%.10sT%02u:%02u:%02u", date,
				 (unsigned)a % 24u, (unsigned)b % 60u,
				 (unsigned)c % 60u);
		return 0;
	}
	if (strlen(s) < 10 || strlen(s) >= n || s[4] != '-' || s[7] != '-')
		return -1;
	snprintf(out, n, "%s", s);
	if (out[10] == ' ')
		out[10] = 'T';
	return 0;
}

static int log_usage(void)
{
	fprintf(stderr, "usage: relayctl log [--id QID] [--from ADDR] [--to ADDR] "
			"[--ip IP] [--since TIME] [--until TIME] [PATTERN]\n"
			"TIME: 2026-11-23, '2026-11-23 12:30', 12:30, 2h, 30m, 1d\n");
	return 100;
}

/* Options with a value; 0, or -1 on a usage error. */
static int log_parse_args(struct log_query *q, int argc, char **argv)
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
			if (log_parse_time(v, q->since, sizeof q->since) < 0)
				return -1;
		} else if (strcmp(o, "--until") == 0) {
			if (log_parse_time(v, q->until, sizeof q->until) < 0)
				return -1;
		} else
			return -1;
	}
	if (pattern) {
		if (regcomp(&q->re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB))
			return -1;
		q->has_re = 1;
	}
	return 0;
}

/* sets[LOG_SETS] = the ids found by every criterion that was given. */
static void log_intersect(struct log_query *q)
{
	struct log_set *all = &q->sets[LOG_SETS], *first = NULL;
	size_t i;
	int c, keep;

	for (c = 0; c < LOG_SETS; c++) {
		if (!q->sets[c].used)
			continue;
		/* a criterion that matched nothing empties the intersection;
		 * its ids are NULL, which qsort and bsearch must not get */
		if (!q->sets[c].n)
			return;
		qsort(q->sets[c].ids, q->sets[c].n, sizeof *q->sets[c].ids,
		      log_qid_cmp);
		if (!first)
			first = &q->sets[c];
	}
	for (i = 0; first && i < first->n; i++) {
		if (i > 0 && strcmp(first->ids[i], first->ids[i - 1]) == 0)
			continue;
		for (keep = 1, c = 0; c < LOG_SETS && keep; c++)
			keep = !q->sets[c].used ||
			       bsearch(first->ids[i], q->sets[c].ids, q->sets[c].n,
				       sizeof *q->sets[c].ids, log_qid_cmp);
		if (keep)
			log_add_qid(all, first->ids[i]);
	}
}

int ctl_log(int argc, char **argv)
{
	struct log_query q;
	int c;

	memset(&q, 0, sizeof q);
	if (log_parse_args(&q, argc, argv) < 0)
		return log_usage();
	q.sets[LOG_FROM].used = q.from != NULL;
	q.sets[LOG_TO].used = q.to != NULL;
	q.sets[LOG_IP].used = q.ip != NULL;
	q.sets[LOG_RE].used = q.has_re;
	if (q.id)
		log_each_line(&q, log_pass_by_qid);
	else if (q.from || q.to || q.ip) {
		log_each_line(&q, log_pass_collect);
		log_intersect(&q);
		if (q.sets[LOG_SETS].n)
			log_each_line(&q, log_pass_by_qid);
	} else
		log_each_line(&q, log_pass_print);
	if (q.has_re)
		regfree(&q.re);
	for (c = 0; c <= LOG_SETS; c++)
		free(q.sets[c].ids);
	return q.printed ? 0 : 1; /* like grep: 1 when nothing matched */
}
