/* send_tlsrpt.c: TLS-RPT (RFC 8460) reports, with tls_rpt = yes.
 * relay-remote sends a record per TLS session an MTA-STS or DANE policy
 * governed in its result frames (lib/tlsrpt.h); relay-send appends them
 * to DIR/tlsrpt/records (its own folder, 0700).  Once a period
 * (tls_rpt_period, a day) the file is renamed records.<start>, counted
 * per (domain, policy, result, mx, ip), and for each policy domain the
 * JSON report goes to the mailto: addresses of its _smtp._tls TXT
 * record (rua=), injected through relay-queue like a bounce, from <>,
 * so the relay itself delivers it.  A period a crash left renamed but
 * not reported is reported at the next start.  https: rua get it by
 * POST, made by relay-remote (send_tlsrpt_post.c).  The TXT lookups
 * are made in the scheduler's loop, once a period per domain (again for
 * one not reported yet, at tries further and further apart): a slow
 * resolver delays the other work of that one wake-up, and the loop
 * beats (lib/notify.h) between two domains, so a period with many
 * domains is not taken for a hang by relay-master. */
#include "send.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "addr.h"
#include "date822.h"
#include "dns.h"
#include "log.h"
#include "notify.h"
#include "settings.h"
#include "tlsrpt.h"

#define RPT_RUA_MAX 4
#define RPT_URL_MAX 512
/* seconds after its period's end that a report whose TLSRPT record
 * cannot be looked up (SERVFAIL, timeouts) is still tried again */
#define RPT_DNS_PATIENCE 86400

void send_tlsrpt_note(const char *line)
{
	struct tlsrpt_rec r;
	char path[4200], buf[TLSRPT_LINE_MAX + 1];
	int fd, n;

	if (!cf.tls_rpt || tlsrpt_rec_parse(line, &r) < 0 ||
	    tlsrpt_rec_format(&r, buf, sizeof buf - 1) < 0)
		return; /* only what parses strictly is kept */
	n = (int)strlen(buf);
	buf[n++] = '\n';
	snprintf(path, sizeof path, "%s/%s/records", cf.dir, TLSRPT_DIR);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		log_warn("tls-rpt: cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The records counted: a table of distinct records, found by a hash of
 * the line (a day of a busy relay has few distinct ones). */
struct rpt_set {
	struct tlsrpt_rec *r;
	size_t n, cap;
	size_t *idx, icap;         /* open addressing: index + 1, 0 empty */
};

static unsigned long rpt_hash(const char *s)
{
	unsigned long h = 1469598103934665603UL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211UL;
	return h;
}

static int rpt_grow(struct rpt_set *s)
{
	size_t icap = s->icap ? s->icap * 2 : 1024;
	size_t *idx = calloc(icap, sizeof *idx);
	struct tlsrpt_rec *r = realloc(s->r, icap / 2 * sizeof *r);
	char line[TLSRPT_LINE_MAX];

	if (!idx || !r)
		return free(idx), r ? (s->r = r, -1) : -1;
	s->r = r;
	s->cap = icap / 2;
	for (size_t i = 0; i < s->n; i++) {
		tlsrpt_rec_format(&s->r[i], line, sizeof line);
		size_t h = rpt_hash(line) & (icap - 1);
		while (idx[h])
			h = (h + 1) & (icap - 1);
		idx[h] = i + 1;
	}
	free(s->idx);
	s->idx = idx;
	s->icap = icap;
	return 0;
}

static int rpt_add(struct rpt_set *s, const char *line)
{
	struct tlsrpt_rec r;
	char canon[TLSRPT_LINE_MAX], other[TLSRPT_LINE_MAX];
	size_t h;

	if (tlsrpt_rec_parse(line, &r) < 0 ||
	    tlsrpt_rec_format(&r, canon, sizeof canon) < 0)
		return 0; /* a damaged line is skipped */
	if (s->n >= s->cap && rpt_grow(s) < 0)
		return -1;
	for (h = rpt_hash(canon) & (s->icap - 1); s->idx[h];
	     h = (h + 1) & (s->icap - 1)) {
		tlsrpt_rec_format(&s->r[s->idx[h] - 1], other, sizeof other);
		if (strcmp(other, canon) == 0)
			return s->r[s->idx[h] - 1].count++, 0;
	}
	r.count = 1;
	s->r[s->n] = r;
	s->idx[h] = ++s->n;
	return 0;
}

static int rpt_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct tlsrpt_rec *)a)->domain,
			  ((const struct tlsrpt_rec *)b)->domain);
}

/* The mailto: addresses of domain's TLSRPTv1 record (their number) and
 * its https: URLs (*nurl of them); -1 when the lookup failed for now
 * (SERVFAIL, a timeout), which says nothing of the record. */
static int rpt_rua(const char *domain, char (*to)[ADDR_MAX + 1],
		   char (*url)[RPT_URL_MAX], size_t *nurl)
{
	static char txt[8][DNS_TXT_MAX];
	char name[300], *save = NULL, *p;
	size_t n = 0, t;
	int k = 0;
	enum dns_status st;

	*nurl = 0;
	snprintf(name, sizeof name, "_smtp._tls.%s", domain);
	if ((st = dns_txt(name, txt, 8, &n)) != DNS_OK)
		return st == DNS_TEMP ? -1 : 0;
	for (t = 0; t < n && strncmp(txt[t], "v=TLSRPTv1", 10) != 0; t++)
		;
	if (t == n || !(p = strstr(txt[t], "rua=")))
		return 0;
	p[strcspn(p, ";")] = '\0';
	for (char *u = strtok_r(p + 4, ",", &save); u && k < RPT_RUA_MAX;
	     u = strtok_r(NULL, ",", &save)) {
		u += strspn(u, " \t");
		u[strcspn(u, " \t")] = '\0';
		/* a plain mailbox only: no %-escapes, no ?headers */
		if (strncasecmp(u, "mailto:", 7) == 0 && !strpbrk(u, "%?!") &&
		    strlen(u + 7) <= ADDR_MAX &&
		    addr_mailbox_check(u + 7, 0) == ADDR_OK)
			snprintf(to[k++], ADDR_MAX + 1, "%s", u + 7);
		else if (strncasecmp(u, "https://", 8) == 0 && *nurl < RPT_RUA_MAX &&
			 strlen(u) < RPT_URL_MAX)
			snprintf(url[(*nurl)++], RPT_URL_MAX, "%s", u);
	}
	return k;
}

/* The report mail (RFC 8460 5.3): multipart/report; report-type=tlsrpt,
 * the JSON in base64 (one line of JSON may be longer than SMTP allows). */
static char *rpt_mail(const char *domain, const char *to, const char *id,
		      long long start, long long end, const char *json,
		      size_t jlen, size_t *len)
{
	size_t b64 = 4 * ((jlen + 2) / 3) + 1, cap = b64 + b64 / 76 * 2 + 2048;
	unsigned char *enc = malloc(b64);
	char *m = malloc(cap), date[64];
	size_t o;

	if (!enc || !m)
		return free(enc), free(m), NULL;
	EVP_EncodeBlock(enc, (const unsigned char *)json, (int)jlen);
	date822_format(end, date, sizeof date);
	o = (size_t)snprintf(m, cap,
	    "From: TLS reporting <postmaster@%s>\r\nTo: <%s>\r\n"
	    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s@%s>\r\n"
	    "Date: %s\r\nMessage-ID: <%s@%s>\r\nTLS-Report-Domain: %s\r\n"
	    "TLS-Report-Submitter: %s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	    "\tboundary=\"tlsrpt-%s\"\r\n\r\n--tlsrpt-%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "The TLS report of %s for %s is attached.\r\n\r\n--tlsrpt-%s\r\n"
	    "Content-Type: application/tlsrpt+json\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n"
	    "\tfilename=\"%s!%s!%lld!%lld.json\"\r\n\r\n",
	    cf.hostname, to, domain, cf.hostname, id, cf.hostname, date, id,
	    cf.hostname, domain, cf.hostname, id, id, cf.hostname, domain, id,
	    cf.hostname, domain, start, end);
	for (size_t i = 0, n = strlen((char *)enc); i < n && o + 80 < cap; i += 76)
		o += (size_t)snprintf(m + o, cap - o, "%.76s\r\n", enc + i);
	o += (size_t)snprintf(m + o, cap - o, "\r\n--tlsrpt-%s--\r\n", id);
	free(enc);
	*len = o < cap ? o : cap - 1;
	return m;
}

/* Report one domain's records; the number of report mails that could not
 * be queued, or 1 when its record could not be looked up for now and
 * the period ended less than RPT_DNS_PATIENCE ago. */
static int rpt_domain(const struct tlsrpt_rec *r, size_t n, long long start,
		      long long end)
{
	char to[RPT_RUA_MAX][ADDR_MAX + 1], id[64], qid[64], err[256];
	char url[RPT_RUA_MAX][RPT_URL_MAX];
	size_t nurl = 0, jlen = 0, mlen = 0;
	int nto = rpt_rua(r[0].domain, to, url, &nurl);
	char *json;
	int failed = 0;

	if (nto < 0) {
		int keep = (long long)time(NULL) - end < RPT_DNS_PATIENCE;
		log_warn("tls-rpt: domain=%s: its TLSRPT record could not be "
			 "looked up (temporary DNS failure): %s", r[0].domain,
			 keep ? "tried again later" : "no report");
		return keep;
	}
	if (nto + nurl == 0) {
		log_info("tls-rpt: domain=%s: no rua, no report", r[0].domain);
		return 0;
	}
	snprintf(id, sizeof id, "%lld.%ld", start, (long)getpid());
	json = tlsrpt_json(r[0].domain, r, n, cf.hostname, id, (time_t)start,
			   (time_t)end, &jlen);
	for (size_t i = 0; json && i < (size_t)nto; i++) {
		char *m = rpt_mail(r[0].domain, to[i], id, start, end, json, jlen,
				   &mlen);
		if (m && send_inject(m, mlen, "", to[i], "tlsrpt", 0, qid,
				     sizeof qid, err, sizeof err) == 0)
			log_info("tls-rpt: domain=%s to=<%s> report %s queued as %s",
				 r[0].domain, to[i], id, qid);
		else {
			log_warn("tls-rpt: domain=%s to=<%s>: %s", r[0].domain,
				 to[i], m ? err : "out of memory");
			failed++;
		}
		free(m);
	}
	for (size_t i = 0; json && i < nurl; i++)
		send_tlsrpt_post(url[i], json, jlen);
	free(json);
	return json ? failed : 1;
}

/* 1 when line's policy domain (its first word) is one of keep's n. */
static int rpt_kept(const char *line, const char **keep, size_t n)
{
	size_t len = strcspn(line, " \n");

	for (size_t i = 0; i < n; i++)
		if (strlen(keep[i]) == len && !strncasecmp(line, keep[i], len))
			return 1;
	return 0;
}

/* path rewritten with the lines of the n domains in keep alone, so that
 * the next try reports those and no other domain twice; 0 or -1. */
static int rpt_keep(const char *path, const char **keep, size_t n)
{
	char tmp[4400], line[TLSRPT_LINE_MAX + 2];
	FILE *in = fopen(path, "re"), *out;
	int fd, rc = 0;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = in ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
			    O_CLOEXEC, 0600) : -1;
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		if (in)
			fclose(in);
		return -1;
	}
	while (fgets(line, sizeof line, in))
		if (rpt_kept(line, keep, n) && fputs(line, out) == EOF)
			rc = -1;
	fclose(in);
	if (fclose(out) == EOF || rc < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Report the records of one finished period, then remove them.  The
 * domains whose report mail could not be queued (relay-queue not up yet
 * at our start, or down) or whose TLSRPT record could not be looked up
 * for now are kept (-1), alone, to be tried again: a receiver takes a
 * report again under the same Report-ID rather than never. */
static int rpt_file(const char *path, long long start, long long end)
{
	struct rpt_set s = { 0 };
	char line[TLSRPT_LINE_MAX + 2];
	FILE *f = fopen(path, "re");
	const char **keep = NULL;
	size_t nkeep = 0, ndomains = 0;
	int failed = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (rpt_add(&s, line) < 0)
			break;
	}
	fclose(f);
	qsort(s.r, s.n, sizeof *s.r, rpt_cmp);
	keep = calloc(s.n ? s.n : 1, sizeof *keep);
	for (size_t i = 0, j; i < s.n; i = j) {
		for (j = i + 1; j < s.n && !strcasecmp(s.r[j].domain, s.r[i].domain); j++)
			;
		/* a lookup each: bounded one by one, not all together */
		notify_beat();
		ndomains++;
		if (rpt_domain(s.r + i, j - i, start, end) > 0) {
			failed = 1;
			if (keep)
				keep[nkeep++] = s.r[i].domain;
		}
	}
	/* without the list (no memory) the whole file is tried again */
	if (failed && keep && nkeep < ndomains &&
	    rpt_keep(path, keep, nkeep) < 0)
		log_warn("tls-rpt: cannot rewrite %s: %s", path, strerror(errno));
	free(keep);
	free(s.r);
	free(s.idx);
	if (failed)
		return -1;
	unlink(path);
	return 0;
}

/* Periods a crash left behind or a report that could not be queued
 * (records.<start>): reported at start and retried; -1 while one is
 * left. */
static int rpt_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4600];
	int rc = 0;

	while (d && (e = readdir(d))) {
		char *end;
		long long start;
		if (strncmp(e->d_name, "records.", 8) != 0)
			continue;
		start = strtoll(e->d_name + 8, &end, 10);
		if (end == e->d_name + 8 || *end || start < 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (rpt_file(path, start, start + cf.tls_rpt_period) < 0)
			rc = -1;
	}
	if (d)
		closedir(d);
	return rc;
}

/* How long a report that could not be queued, or whose TLSRPT record
 * could not be looked up, waits to be tried again: RPT_RETRY, then
 * twice as long after each try that fails again, up to RPT_RETRY_MAX.
 * Each try looks the domains up again in the scheduler's loop (about
 * 6 s each when the resolver does not answer): a domain whose lookup
 * fails for a day must not hold the loop every RPT_RETRY seconds. */
#define RPT_RETRY 10
#define RPT_RETRY_MAX 3600

static long long next;      /* the end of the current period */
static long long leftovers; /* when to look for unreported periods; 0 */
static long long retry_wait = RPT_RETRY; /* after the next failed try */

/* When to try again after a try at now that left a period unreported. */
static long long rpt_retry_at(long long now)
{
	long long at = now + retry_wait;

	retry_wait = retry_wait * 2 < RPT_RETRY_MAX ? retry_wait * 2
						    : RPT_RETRY_MAX;
	return at;
}

long long send_tlsrpt_next(void)
{
	if (!cf.tls_rpt)
		return 0;
	if (!next)
		return 1; /* the first tick is due at once: leftovers at start */
	return leftovers && leftovers < next ? leftovers : next;
}

void send_tlsrpt_tick(long long now)
{
	char path[4200], done[4300];
	long long start;

	if (!cf.tls_rpt)
		return;
	snprintf(path, sizeof path, "%s/%s", cf.dir, TLSRPT_DIR);
	if (!next) {
		next = (now / cf.tls_rpt_period + 1) * cf.tls_rpt_period;
		leftovers = now;
	}
	if (leftovers && now >= leftovers) {
		if (rpt_leftovers(path) < 0) {
			leftovers = rpt_retry_at(now);
		} else {
			leftovers = 0; /* every period reported */
			retry_wait = RPT_RETRY;
		}
	}
	if (now < next)
		return;
	start = next - cf.tls_rpt_period;
	snprintf(path, sizeof path, "%s/%s/records", cf.dir, TLSRPT_DIR);
	snprintf(done, sizeof done, "%s.%lld", path, start);
	if (rename(path, done) == 0) {
		if (rpt_file(done, start, next) < 0 && !leftovers)
			leftovers = rpt_retry_at(now);
	} else if (errno != ENOENT)
		log_warn("tls-rpt: cannot rename %s: %s", path, strerror(errno));
	next = (now / cf.tls_rpt_period + 1) * cf.tls_rpt_period;
}
