/* makecdb_write.c: writing rules.cdb and users.cdb, each replaced
 * atomically (mkfile.h).  The same rules give the same bytes: the order
 * of every key is the order of relay.rules or a total sort, never a
 * hash table's or an unstable sort's. */
#include "makecdb.h"

#include <cdb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "mkfile.h"
#include "rulekeys.h"

struct out {
	struct mkfile f;
	struct cdb_make cm;
};

static void put(struct out *o, const char *key, const char *val)
{
	if (!o->f.failed && cdb_make_add(&o->cm, key, (unsigned)strlen(key),
					 val, (unsigned)strlen(val)) < 0)
		o->f.failed = errno ? errno : EIO;
}

static void put_any(void *o, const char *key, const char *val)
{
	put(o, key, val);
}

static int out_open(struct out *o, const char *path, int secret)
{
	if (mkfile_open(&o->f, path, secret) < 0)
		return -1;
	if (cdb_make_start(&o->cm, o->f.fd) < 0) {
		fprintf(stderr, "makecdb: %s: %s\n", o->f.tmp, strerror(errno));
		mkfile_abort(&o->f);
		return -1;
	}
	return 0;
}

/* Finish and fsync the temp file; the rename comes later. */
static int out_finish(struct out *o)
{
	if (!o->f.failed && cdb_make_finish(&o->cm) < 0)
		o->f.failed = errno ? errno : EIO;
	return mkfile_finish(&o->f);
}

/* The first domain, the content scan and the abuse contact
 * (lib/rulekeys.h RK_CUST_*); nothing for what relay.conf decides.  The
 * bytes written. */
static int put_cust_more(const struct mk *m, const struct mk_cust *c,
			 char *val, size_t n)
{
	int w = 0;

	if (c->ndomains)
		w += snprintf(val, n, RK_CUST_DOMAIN "=%s\n",
			      m->dom[c->first_dom].name);

	if (c->scan != MK_SCAN_CONF)
		w += snprintf(val + w, n - (size_t)w, RK_CUST_SCAN "=%s\n",
			      mk_scan_enum[c->scan]);
	if (c->scan_score >= 0)
		w += snprintf(val + w, n - (size_t)w,
			      RK_CUST_SCAN_SCORE "=%ld\n", c->scan_score);
	if (c->admin)
		w += snprintf(val + w, n - (size_t)w, RK_CUST_ADMIN "=%s\n",
			      c->admin);
	return w;
}

static void put_customers(struct mk *m, struct out *o)
{
	/* every line at its longest (two mailboxes, a domain) is ~1.1 KiB */
	char key[RK_KEYMAX], val[RK_VALMAX];

	for (size_t i = 0; i < m->n_cust; i++) {
		struct mk_cust *c = &m->cust[i];
		int n = snprintf(val, sizeof val,
				 "licenses=%ld\npaid=%s\nsuspended=%s\nnrules=%d\n",
				 c->licenses, c->paid ? "yes" : "no",
				 c->suspended ? "yes" : "no", c->nrules);
		const char *names[] = { "daily", "peak", "user_messages",
					"user_rcpts" };
		long vals[] = { c->daily, c->peak, c->umsgs, c->urcpts };
		for (int k = 0; k < 4; k++)
			if (vals[k] >= 0)
				n += snprintf(val + n, sizeof val - (size_t)n,
					      "%s=%ld\n", names[k], vals[k]);
		if (c->archive)
			n += snprintf(val + n, sizeof val - (size_t)n,
				      "%s=%s\n", ARCHIVE_RK_TARGET, c->archive);
		if (c->archive_keep >= 0)
			n += snprintf(val + n, sizeof val - (size_t)n,
				      "%s=%ld\n", ARCHIVE_RK_KEEP,
				      c->archive_keep);
		if (c->concurrency > 0)
			n += snprintf(val + n, sizeof val - (size_t)n, "%s=%ld\n",
				      RK_CUST_CONCURRENCY, c->concurrency);
		n += put_cust_more(m, c, val + n, sizeof val - (size_t)n);
		snprintf(key, sizeof key, "customer:%s", c->name);
		put(o, key, val);
	}
	for (size_t i = 0; i < m->n_dom; i++) {
		snprintf(key, sizeof key, "domain:%s", m->dom[i].name);
		snprintf(val, sizeof val, "customer=%s\n",
			 m->cust[m->dom[i].cust].name);
		put(o, key, val);
	}
}

/* rule:<customer>:<index> in declaration order; returns the index of
 * each rule within its customer in idx[]. */
static void put_rules(struct mk *m, struct out *o, int *idx)
{
	static const char *const senders[] = { "registered", "domain", "any" };
	static const char *const auth[] = { "", "ip", "smtp", "both" };
	char key[RK_KEYMAX], val[1024];
	int *next = calloc(m->n_cust + 1, sizeof *next);

	if (!next) {
		o->f.failed = ENOMEM;
		return;
	}
	for (size_t i = 0; i < m->n_rule; i++) {
		struct mk_rule *r = &m->rule[i];
		idx[i] = next[r->cust]++;
		snprintf(key, sizeof key, "rule:%s:%d", m->cust[r->cust].name,
			 idx[i]);
		snprintf(val, sizeof val,
			 "name=%s\nsenders=%s\nauth=%s\ntls=%s\nenabled=%s\n"
			 "ips=%d\nline=%d\n", r->name, senders[r->senders],
			 auth[r->auth], r->tls ? "yes" : "no",
			 r->enabled ? "yes" : "no", r->nips, r->line);
		put(o, key, val);
	}
	free(next);
}

static int ip_cmp(const void *a, const void *b)
{
	const struct mk_ip *x = a, *y = b;
	int d;

	if (x->c.bits != y->c.bits)
		return y->c.bits - x->c.bits;
	d = memcmp(x->c.net.a, y->c.net.a, 16);
	/* ties in declaration order: qsort is not stable, and the same
	 * rules must give the same bytes on every box */
	return d ? d : x->rule - y->rule;
}

static int same_range(const struct mk_ip *x, const struct mk_ip *y)
{
	return x->c.bits == y->c.bits && !memcmp(x->c.net.a, y->c.net.a, 16);
}

/* Whether an enabled rule's entry for ip's range follows entry i: a
 * disabled rule's entry in between (or last) must not hide the range's
 * end, or its rule= lines would move onto the next range's key. */
static int enabled_same_follows(const struct mk *m, size_t i)
{
	for (size_t j = i + 1; j < m->n_ip && same_range(&m->ip[i], &m->ip[j]); j++)
		if (m->rule[m->ip[j].rule].enabled)
			return 1;
	return 0;
}

/* The most RK_IP_RULES_MAX "rule=<customer>:<index>\n" lines take. */
_Static_assert(RK_IP_RULES_MAX * (sizeof "rule=:\n" + MK_NAMEMAX + 10) <
	       RK_VALMAX, "an ip: value of RK_IP_RULES_MAX rules fits");

/* One key per distinct range listing every enabled rule that has it,
 * and "ipbits" with the prefix lengths in use, longest first. */
static void put_ips(struct mk *m, struct out *o, const int *idx)
{
	char key[RK_KEYMAX], val[RK_VALMAX], bits[129 * 4 + 8] = "bits=";
	size_t vl = 0;
	int lastbits = -1;

	if (m->n_ip) /* no ip lines: m->ip is NULL, which qsort may not get */
		qsort(m->ip, m->n_ip, sizeof *m->ip, ip_cmp);
	for (size_t i = 0; i < m->n_ip; i++) {
		struct mk_ip *ip = &m->ip[i];
		struct mk_rule *r = &m->rule[ip->rule];
		if (!r->enabled)
			continue;
		int len = snprintf(val + vl, sizeof val - vl, "rule=%s:%d\n",
				   m->cust[r->cust].name, idx[ip->rule]);
		if (len < 0 || (size_t)len >= sizeof val - vl) {
			/* mk_check's RK_IP_RULES_MAX keeps it in: a cut-off
			 * value would hide the rules past the cut */
			mk_error(m, ip->line, ip->col, "too many rules list "
				 "this range for one rules.cdb value");
			o->f.failed = EOVERFLOW;
			return;
		}
		vl += (size_t)len;
		if (enabled_same_follows(m, i))
			continue; /* the same range follows */
		rk_ip(&ip->c, key, sizeof key);
		put(o, key, val);
		vl = 0;
		if (ip->c.bits != lastbits)
			snprintf(bits + strlen(bits), sizeof bits - strlen(bits),
				 "%s%d", lastbits < 0 ? "" : " ", ip->c.bits);
		lastbits = ip->c.bits;
	}
	strcat(bits, "\n");
	put(o, "ipbits", bits);
}

static void put_users(struct mk *m, struct out *o)
{
	char key[RK_KEYMAX], val[1024];

	for (size_t i = 0; i < m->n_user; i++) {
		struct mk_user *u = &m->user[i];
		int n = snprintf(val, sizeof val,
				 "hash=%s\ncustomer=%s\nsuspended=%s\n", u->hash,
				 u->cust >= 0 ? m->cust[u->cust].name : "",
				 u->suspended ? "yes" : "no");
		if (u->messages >= 0)
			n += snprintf(val + n, sizeof val - (size_t)n,
				      "user_messages=%ld\n", u->messages);
		if (u->rcpts >= 0)
			snprintf(val + n, sizeof val - (size_t)n,
				 "user_rcpts=%ld\n", u->rcpts);
		snprintf(key, sizeof key, "user:%s", u->addr);
		put(o, key, val);
	}
}

int mk_write(struct mk *m, const char *rules_path, const char *users_path)
{
	struct out r, u;
	int *idx = calloc(m->n_rule + 1, sizeof *idx);

	if (!idx || out_open(&r, rules_path, 0) < 0) {
		free(idx);
		return -1;
	}
	if (out_open(&u, users_path, 1) < 0) {
		mkfile_abort(&r.f);
		free(idx);
		return -1;
	}
	put(&r, "meta:version", "version=1\n");
	put_customers(m, &r);
	put_rules(m, &r, idx);
	put_ips(m, &r, idx);
	for (size_t i = 0; i < m->n_route; i++)
		put(&r, m->route[i].key, m->route[i].val);
	mk_write_dkim(m, put_any, &r);
	put_users(m, &u);
	free(idx);
	if (out_finish(&r) < 0) {
		mkfile_abort(&u.f);
		return -1;
	}
	if (out_finish(&u) < 0) {
		mkfile_abort(&r.f);
		return -1;
	}
	/* users first: a new rules file may name users the old users file
	 * lacks, the reverse only loses a user that was just removed */
	if (mkfile_commit(&u.f) < 0) {
		mkfile_abort(&r.f);
		return -1;
	}
	return mkfile_commit(&r.f) < 0 ? MK_WRITE_HALF : 0;
}
