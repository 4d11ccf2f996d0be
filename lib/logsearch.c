/* logsearch.c: the email log search of logsearch.h (relayctl log, the
 * status page of relay-metrics). */
#include "logsearch.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_STAMP_LEN 23

/* The queue id of a line: the token after "level: " when it is followed
 * by ':' and looks like an id (letters/digits, at least one digit), else
 * the value of a qid= or id= key.  "" when none. */
static void ls_line_qid(const char *line, char *out)
{
	const char *p = strstr(line, "]: "), *q;
	size_t n = 0;

	out[0] = '\0';
	if (p && (p = strstr(p + 3, ": "))) {
		p += 2;
		while (n < LOGSEARCH_QID_MAX && (isalnum((unsigned char)p[n]) ||
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
		for (n = 0; n < LOGSEARCH_QID_MAX && q[3 + n] && q[3 + n] != ' ' &&
			    q[3 + n] != '\n' && q[3 + n] != ','; n++)
			;
		memcpy(out, q + 3, n);
		out[n] = '\0';
		return;
	}
}

/* Does the <...> value after key (e.g. "from=<") match addr?  With an '@'
 * addr must be the whole address, without one it is a part (a domain). */
static int ls_addr_match(const char *line, const char *key, const char *addr)
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
static int ls_after_key(const char *line, const char *p, const char *key)
{
	size_t kl = strlen(key), off = (size_t)(p - line);

	return off >= kl && strncmp(p - kl, key, kl) == 0 &&
	       (off == kl || p[-(long)kl - 1] == ' ');
}

/* ip as the value of ip= or client=, or as "[ip]" (relay=host[ip]:port):
 * the daemons' own keys, which no peer-supplied value can imitate. */
static int ls_ip_match(const char *line, const char *ip)
{
	size_t il = strlen(ip);
	const char *p;

	for (p = line; (p = strstr(p, ip)); p += il) {
		int key = ls_after_key(line, p, "ip=") ||
			  ls_after_key(line, p, "client=") ||
			  (p > line && p[-1] == '[');
		char c = p[il];
		if (key && (c == '\0' || c == ' ' || c == ']' || c == '\n' ||
			    c == ','))
			return 1;
	}
	return 0;
}

static int ls_in_time(const struct logsearch *q, const char *line)
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
static int ls_re_match(const struct logsearch *q, const char *line)
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
static int ls_criterion(const struct logsearch *q, int c, const char *line)
{
	switch (c) {
	case LOGSEARCH_FROM:
		return ls_addr_match(line, "from=<", q->from);
	case LOGSEARCH_TO:
		return ls_addr_match(line, "to=<", q->to) ||
		       ls_addr_match(line, "rcpt=<", q->to);
	case LOGSEARCH_IP:
		return ls_ip_match(line, q->ip);
	case LOGSEARCH_RE:
		return ls_re_match(q, line);
	}
	return 0;
}

static void ls_add_qid(struct logsearch_set *set, const char *qid)
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
	snprintf(set->ids[set->n++], LOGSEARCH_QID_MAX + 1, "%s", qid);
}

static int ls_qid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static long ls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time budget: looked at every so many lines (a clock read each
 * line would cost more than most lines' match). */
static int ls_out_of_time(struct logsearch *q, unsigned long lines)
{
	if (!q->deadline || lines % 1024 || ls_now_ms() < q->deadline)
		return 0;
	q->cut |= LOGSEARCH_CUT_TIME;
	return 1;
}

/* With a byte budget: how much of the oldest part of the two files
 * (sizes size[0] rotated, size[1] current) to pass over. */
static long long ls_bytes_to_skip(struct logsearch *q, const off_t size[2])
{
	long long total = (long long)size[0] + size[1];

	if (!q->max_bytes || total <= q->max_bytes)
		return 0;
	q->cut |= LOGSEARCH_CUT_BYTES;
	return total - q->max_bytes;
}

static off_t ls_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Pass over the first *skip bytes of f (all of it when *skip is larger:
 * *skip less its size is left for the next file), then the rest of the
 * line they end in; 0 when nothing of f is left to read. */
static int ls_skip(FILE *f, off_t size, long long *skip, char **line,
		   size_t *cap)
{
	if (!*skip)
		return 1;
	if (*skip >= size) {
		*skip -= size;
		return 0;
	}
	/* from the byte before: a line that starts just there is kept */
	if (fseeko(f, (off_t)*skip - 1, SEEK_SET) < 0)
		return 0;
	*skip = 0;
	return getline(line, cap, f) > 0; /* the end of the line before */
}

/* Run fn over every line of the rotated log and then the current one
 * (the newest max_bytes of them with a byte budget), until the time
 * budget is spent. */
static void ls_each_line(struct logsearch *q, const char *logfile,
			 void (*fn)(struct logsearch *, char *))
{
	char rotated[PATH_MAX];
	const char *files[2];
	off_t size[2];
	long long skip;
	char *line = NULL;
	size_t cap = 0;
	unsigned long n = 0;
	int i, stopped = 0;

	snprintf(rotated, sizeof rotated, "%s.1", logfile);
	files[0] = rotated;
	files[1] = logfile;
	size[0] = ls_size(rotated);
	size[1] = ls_size(logfile);
	skip = ls_bytes_to_skip(q, size);
	for (i = 0; i < 2 && !stopped; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f) {
			/* no rotated log yet is normal; anything else would
			 * look like "nothing matched" */
			if ((i == 1 || errno != ENOENT) && !*q->error)
				snprintf(q->error, sizeof q->error, "%s: %s",
					 files[i], strerror(errno));
			continue;
		}
		if (ls_skip(f, size[i], &skip, &line, &cap))
			while (!(stopped = ls_out_of_time(q, ++n)) &&
			       getline(&line, &cap, f) > 0 &&
			       (!q->limit || q->printed < q->limit))
				fn(q, line);
		fclose(f);
	}
	free(line);
}

static void ls_print(struct logsearch *q, char *line)
{
	log_field_decode(line, 1);
	q->emit(q->arg, line);
	q->printed++;
}

/* Without --id/--from/--to/--ip: the lines in the time range that match
 * the pattern, if any. */
static void ls_pass_print(struct logsearch *q, char *line)
{
	if (ls_in_time(q, line) &&
	    (!q->has_re || ls_criterion(q, LOGSEARCH_RE, line)))
		ls_print(q, line);
}

static void ls_pass_collect(struct logsearch *q, char *line)
{
	char qid[LOGSEARCH_QID_MAX + 1];
	int c;

	if (!ls_in_time(q, line))
		return;
	ls_line_qid(line, qid);
	if (!*qid)
		return;
	for (c = 0; c < LOGSEARCH_SETS; c++)
		if (q->sets[c].used && ls_criterion(q, c, line))
			ls_add_qid(&q->sets[c], qid);
}

static void ls_pass_by_qid(struct logsearch *q, char *line)
{
	char qid[LOGSEARCH_QID_MAX + 1];

	ls_line_qid(line, qid);
	if (q->id) {
		if (ls_in_time(q, line) && strcmp(qid, q->id) == 0)
			ls_print(q, line);
		return;
	}
	if (*qid && bsearch(qid, q->sets[LOGSEARCH_SETS].ids, q->sets[LOGSEARCH_SETS].n,
			    sizeof *q->sets[LOGSEARCH_SETS].ids, ls_qid_cmp))
		ls_print(q, line);
}

/* "YYYY-MM-DD", optionally then " HH:MM" or "THH:MM" and ":SS", each
 * field all its digits, a date that exists, hours < 24, minutes and
 * seconds < 60 -> out in the log's form; -1 otherwise (it is compared
 * with the log's timestamps as text: "6:36" or "06:35:99" would silently
 * select the wrong lines). */
static int ls_time_absolute(const char *s, char *out, size_t n)
{
	static const char shape[] = "dddd-dd-dd?dd:dd:dd";
	size_t len = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0;
	struct tm tm;

	if ((len != 10 && len != 16 && len != 19) || len >= n)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    shape[i] == '?' ? s[i] != ' ' && s[i] != 'T' :
		    s[i] != shape[i])
			return -1;
	if (sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) != 3 ||
	    (len > 10 && sscanf(s + 11, "%2d:%2d", &h, &mi) != 2) ||
	    (len > 16 && sscanf(s + 17, "%2d", &sec) != 1))
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	/* timegm moves an impossible day (02-30) into the next month */
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 ||
	    timegm(&tm) == (time_t)-1 || tm.tm_mon != mo - 1 || tm.tm_mday != d)
		return -1;
	snprintf(out, n, "%s", s);
	if (len > 10)
		out[10] = 'T';
	return 0;
}

/* TIME -> the log's timestamp form, as precise as TIME was: "2026-11-23",
 * "2026-11-23T12:30", "2026-11-23T12:30:15".  -1 when unreadable. */
int logsearch_time(const char *s, char *out, size_t n)
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
	return ls_time_absolute(s, out, n);
}

/* sets[LOGSEARCH_SETS] = the ids found by every criterion that was given. */
static void ls_intersect(struct logsearch *q)
{
	struct logsearch_set *all = &q->sets[LOGSEARCH_SETS], *first = NULL;
	size_t i;
	int c, keep;

	for (c = 0; c < LOGSEARCH_SETS; c++) {
		if (!q->sets[c].used)
			continue;
		/* a criterion that matched nothing empties the intersection;
		 * its ids are NULL, which qsort and bsearch must not get */
		if (!q->sets[c].n)
			return;
		qsort(q->sets[c].ids, q->sets[c].n, sizeof *q->sets[c].ids,
		      ls_qid_cmp);
		if (!first)
			first = &q->sets[c];
	}
	for (i = 0; first && i < first->n; i++) {
		if (i > 0 && strcmp(first->ids[i], first->ids[i - 1]) == 0)
			continue;
		for (keep = 1, c = 0; c < LOGSEARCH_SETS && keep; c++)
			keep = !q->sets[c].used ||
			       bsearch(first->ids[i], q->sets[c].ids, q->sets[c].n,
				       sizeof *q->sets[c].ids, ls_qid_cmp);
		if (keep)
			ls_add_qid(all, first->ids[i]);
	}
}


int logsearch_pattern(struct logsearch *q, const char *pattern)
{
	if (regcomp(&q->re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB))
		return -1;
	q->has_re = 1;
	return 0;
}

void logsearch_run(struct logsearch *q, const char *logfile)
{
	long start;
	int c;

	if (q->id && !*q->id)
		q->id = NULL;
	if (q->from && !*q->from)
		q->from = NULL;
	if (q->to && !*q->to)
		q->to = NULL;
	if (q->ip && !*q->ip)
		q->ip = NULL;
	q->sets[LOGSEARCH_FROM].used = q->from != NULL;
	q->sets[LOGSEARCH_TO].used = q->to != NULL;
	q->sets[LOGSEARCH_IP].used = q->ip != NULL;
	q->sets[LOGSEARCH_RE].used = q->has_re;
	q->cut = 0;
	start = ls_now_ms();
	q->deadline = q->max_ms ? start + q->max_ms : 0;
	if (q->id)
		ls_each_line(q, logfile, ls_pass_by_qid);
	else if (q->from || q->to || q->ip) {
		/* the ids found in the time the first pass had, then their
		 * lines in the rest */
		if (q->max_ms)
			q->deadline = start + q->max_ms / 2;
		ls_each_line(q, logfile, ls_pass_collect);
		ls_intersect(q);
		q->deadline = q->max_ms ? start + q->max_ms : 0;
		if (q->sets[LOGSEARCH_SETS].n)
			ls_each_line(q, logfile, ls_pass_by_qid);
	} else
		ls_each_line(q, logfile, ls_pass_print);
	if (q->has_re)
		regfree(&q->re);
	q->has_re = 0;
	for (c = 0; c <= LOGSEARCH_SETS; c++) {
		free(q->sets[c].ids);
		memset(&q->sets[c], 0, sizeof q->sets[c]);
	}
}
