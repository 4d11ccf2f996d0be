/* remote_sts.c: the MTA-STS policy of a domain (RFC 8461 3, 5).  The
 * _mta-sts TXT record names the policy's id; a policy cached under that
 * id and younger than its max_age is used as it is, else it is fetched
 * (remote_sts_fetch.c) and cached.  Without a record (or when the lookup
 * or the fetch fails) a cached policy still in its max_age is used: an
 * attacker who strips the record or blocks the fetch does not turn an
 * enforced policy off.
 *
 * Who fetches: the relay-remote worker that has the job, within
 * cf.mta_sts_timeout seconds.  It is the part that talks to the Internet
 * already (no new uid gets network access, no queue access is near it),
 * it holds the TLS trust store that checks the policy server, and a
 * fetch stalls only the jobs of that one worker (relay-send's other
 * workers go on); the cache makes a fetch rare (once per max_age or new
 * id per domain), and a failed fetch is not tried again by this worker
 * for STS_RETRY seconds.
 *
 * A worker keeps what it found for a domain STS_MEMO seconds (a record
 * and a cache file read per job would cost every MX delivery a query).
 * The memo, the failures and the cache all go by the domain in
 * addr_domain_key's form, as relay-send's destinations do: one domain
 * in any case is one entry in each.
 *
 * The cache: one file per domain in DIR/mta-sts/ (owned by user_remote,
 * 0700, made by relay-master), written to a temporary name and renamed;
 * the workers share it.  No directory: policies are fetched every time. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "settings.h"

#define STS_RETRY 300       /* seconds before a failed fetch is retried */
#define STS_FAILED_MAX 8
#define STS_MEMO 60         /* seconds a worker reuses a domain's answer */
#define STS_MEMO_MAX 16

static struct {
	char domain[REMOTE_NAME_MAX];
	time_t until;
	int on;
	struct sts_policy p;
} sts_memo[STS_MEMO_MAX];

static struct {
	char domain[REMOTE_NAME_MAX];
	time_t at;
} sts_failed[STS_FAILED_MAX];

/* The cache file's name (domain in addr_domain_key's form); -1 for a
 * domain that is no plain host name. */
static int sts_path(const char *domain, char *path, size_t n)
{
	if (!domain[0] || domain[0] == '.' || strstr(domain, ".."))
		return -1;
	for (const char *c = domain; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') &&
		    *c != '.' && *c != '-' && *c != '_')
			return -1;
	if ((size_t)snprintf(path, n, "%s/%s/%s", cf.dir, STS_CACHE_DIR,
			     domain) >= n)
		return -1;
	return 0;
}

/* The cached policy, if any: 0 with id, fetched and p. */
static int sts_cache_read(const char *path, char *id, time_t *fetched,
			  struct sts_policy *p)
{
	static char buf[STS_POLICY_MAX + 256];
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)sizeof buf) {
		close(fd);
		return -1;
	}
	r = read(fd, buf, sizeof buf);
	close(fd);
	if (r <= 0)
		return -1;
	return sts_cache_parse(buf, (size_t)r, id, fetched, p);
}

static void sts_cache_write(const char *path, const char *id,
			    const char *body, size_t len)
{
	static char buf[STS_POLICY_MAX + 256];
	char tmp[4200];
	size_t n = 0;
	int fd, ok;

	if (sts_cache_format(buf, sizeof buf, id, time(NULL), body, len, &n) < 0)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		if (errno != ENOENT) /* no cache folder: none is kept */
			log_warn("mta-sts: cannot write %s: %s", tmp,
				 strerror(errno));
		return;
	}
	ok = write(fd, buf, n) == (ssize_t)n;
	if (close(fd) < 0 || !ok || rename(tmp, path) < 0) {
		log_warn("mta-sts: cannot write %s", path);
		unlink(tmp);
	}
}

/* The id of the domain's one STSv1 TXT record: 1, 0 when there is none
 * (or more than one: RFC 8461 3.1 says no policy), -1 on a DNS failure. */
static int sts_txt_id(const char *domain, char *id)
{
	static char txt[8][DNS_TXT_MAX];
	char name[REMOTE_NAME_MAX + 16], one[STS_ID_MAX + 1];
	size_t n = 0;
	int found = 0;
	enum dns_status s;

	snprintf(name, sizeof name, "_mta-sts.%s", domain);
	s = dns_txt(name, txt, 8, &n);
	if (s == DNS_TEMP)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strncmp(txt[i], "v=STSv1", 7) == 0 && found++ == 0 &&
		    sts_txt_parse(txt[i], one) == 0)
			strcpy(id, one);
	return found == 1 && id[0] ? 1 : 0;
}

static int sts_failed_recently(const char *domain, int mark)
{
	time_t now = time(NULL);
	size_t slot = 0;

	for (size_t i = 0; i < STS_FAILED_MAX; i++) {
		if (strcmp(sts_failed[i].domain, domain) == 0) {
			if (!mark)
				return now - sts_failed[i].at < STS_RETRY;
			slot = i;
			break;
		}
		if (sts_failed[i].at < sts_failed[slot].at)
			slot = i;
	}
	if (mark) {
		snprintf(sts_failed[slot].domain, sizeof sts_failed[slot].domain,
			 "%s", domain);
		sts_failed[slot].at = now;
	}
	return 0;
}

/* Fetch, check and cache the policy named id; 0 with p. */
static int sts_refresh(const char *domain, int refuse_private,
		       const char *path, const char *id, struct sts_policy *p)
{
	static char body[STS_POLICY_MAX];
	char why[256], dom[3 * REMOTE_NAME_MAX];
	size_t len = 0;

	log_field(dom, sizeof dom, domain, strlen(domain));
	if (sts_failed_recently(domain, 0))
		return -1;
	if (remote_sts_fetch(domain, refuse_private, body, sizeof body, &len,
			     why, sizeof why) == 0 &&
	    sts_policy_parse(body, len, p, why, sizeof why) == 0) {
		sts_cache_write(path, id, body, len);
		log_info("mta-sts: domain=%s id=%s mode=%s max_age=%ld fetched",
			 dom, id, sts_mode_name(p->mode), p->max_age);
		return 0;
	}
	char w[3 * sizeof why];
	log_warn("mta-sts: domain=%s policy fetch failed: %s", dom,
		 log_field(w, sizeof w, why, strlen(why)));
	sts_failed_recently(domain, 1);
	return -1;
}

/* The memo's entry for domain, or the slot to fill (the oldest). */
static size_t sts_memo_slot(const char *domain, int *hit)
{
	time_t now = time(NULL);
	size_t slot = 0;

	*hit = 0;
	for (size_t i = 0; i < STS_MEMO_MAX; i++) {
		if (strcmp(sts_memo[i].domain, domain) == 0) {
			*hit = sts_memo[i].until > now;
			return i;
		}
		if (sts_memo[i].until < sts_memo[slot].until)
			slot = i;
	}
	return slot;
}

static int sts_lookup(const char *domain, int refuse_private,
		      struct sts_policy *p);

int remote_sts_get(const char *name, int refuse_private,
		   struct sts_policy *p)
{
	char domain[REMOTE_NAME_MAX];
	int hit;
	size_t i;

	/* longer than a host name: no policy (nor a cut name's) */
	if (addr_domain_key(name, domain, sizeof domain) < 0) {
		memset(p, 0, sizeof *p);
		return 0;
	}
	i = sts_memo_slot(domain, &hit);

	if (hit) {
		*p = sts_memo[i].p;
		return sts_memo[i].on;
	}
	snprintf(sts_memo[i].domain, sizeof sts_memo[i].domain, "%s", domain);
	sts_memo[i].on = sts_lookup(domain, refuse_private, &sts_memo[i].p);
	sts_memo[i].until = time(NULL) + STS_MEMO;
	if (sts_memo[i].on && sts_memo[i].until > time(NULL) + sts_memo[i].p.max_age)
		sts_memo[i].until = time(NULL) + sts_memo[i].p.max_age;
	*p = sts_memo[i].p;
	return sts_memo[i].on;
}

static int sts_lookup(const char *domain, int refuse_private,
		      struct sts_policy *p)
{
	char path[4096], id[STS_ID_MAX + 1] = "", cid[STS_ID_MAX + 1] = "";
	time_t fetched = 0;
	int cached, rec;

	if (sts_path(domain, path, sizeof path) < 0)
		return 0;
	cached = sts_cache_read(path, cid, &fetched, p) == 0 &&
		 fetched + p->max_age > time(NULL);
	rec = sts_txt_id(domain, id);
	if (rec == 1 && (!cached || strcmp(id, cid) != 0)) {
		struct sts_policy fresh;
		if (sts_refresh(domain, refuse_private, path, id,
				&fresh) == 0) {
			*p = fresh;
			return 1;
		}
	}
	return cached;
}
