/* ctl_stats.c: relayctl stats [--user U | --customer C] [--now T] — the
 * live rate counters, read straight from the counters file that
 * relay-policy writes (mapped read-only, never through the daemon), with
 * the limits from rules.cdb/users.cdb when they can be read, and when each
 * window frees room (the time its oldest counted bucket leaves).
 * One line per user or customer, key=value, times in UTC.
 * With rate_store = redis://... the counts are the fleet's, read from
 * the shared store (lib/rstore_stats.h) instead of this box's file. */
#include "ctl.h"
#include "exitcodes.h"
#include "rate_limits.h"
#include "rate_stats.h"
#include "rcdb.h"
#include "rstore_stats.h"
#include "rulekeys.h"
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stats_opts {
	const char *user, *customer;
	long now, now_given;
	struct rcdb rules, users;
	struct rstore *rs;        /* the shared store, or NULL: the file */
};

static int stats_get(struct stats_opts *o, enum rate_kind k,
		     const char *name, struct rate_stats *st)
{
	char lname[256];
	size_t i;

	if (o->rs) { /* the shared store keeps names lowercased */
		for (i = 0; name[i] && i < sizeof lname - 1; i++)
			lname[i] = (char)tolower((unsigned char)name[i]);
		lname[i] = '\0';
		return rstore_stats_get(o->rs, cf.rate_store_prefix, k, lname,
					o->now_given, st);
	}
	return rate_stats_get(k, name, o->now, st);
}

static int stats_each(struct stats_opts *o, enum rate_kind k,
		      int (*fn)(const struct rate_stats *, void *))
{
	if (o->rs)
		return rstore_stats_each(o->rs, cf.rate_store_prefix, k,
					 o->now_given, fn, o);
	return rate_stats_each(k, o->now, fn, o);
}

static void stats_time(char *buf, size_t n, long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "-");
}

/* "count/limit": limit "-" when unlimited, "?" when unknown. */
static void stats_pair(char *buf, size_t n, long count, long limit, int known)
{
	if (!known)
		snprintf(buf, n, "%ld/?", count);
	else if (limit <= 0)
		snprintf(buf, n, "%ld/-", count);
	else
		snprintf(buf, n, "%ld/%ld", count, limit);
}

/* Limits of a customer or a user from the CDBs; 0 when unknown. */
static int stats_limits(struct stats_opts *o, enum rate_kind k,
			const char *name, struct rate_limits *l)
{
	char key[RK_KEYMAX], uval[RK_VALMAX], cval[RK_VALMAX], cust[256];
	const char *cname = name;

	if (k == RATE_USER) {
		snprintf(key, sizeof key, "user:%s", name);
		if (o->users.fd < 0 || rcdb_gets(&o->users, key, uval, sizeof uval) < 0 ||
		    rk_get(uval, "customer", cust, sizeof cust) != 1)
			return 0;
		cname = cust;
	}
	snprintf(key, sizeof key, "customer:%s", cname);
	if (o->rules.fd < 0 || rcdb_gets(&o->rules, key, cval, sizeof cval) < 0)
		return 0;
	rate_limits_rules(l, cval, k == RATE_USER ? uval : NULL);
	return 1;
}

/* The two counters of each kind: label, count, limit, free time. */
struct stats_line {
	const char *kind, *c1, *c2, *f1, *f2;
	long n1, n2, lim1, lim2, free1, free2;
};

static void stats_line_of(const struct rate_stats *st,
			  const struct rate_limits *l, struct stats_line *o)
{
	if (st->kind == RATE_USER)
		*o = (struct stats_line){ "user", "msgs_24h", "rcpts_24h",
			"msgs_free_at", "rcpts_free_at", st->msgs, st->rcpts,
			l->user_msgs, l->user_rcpts, st->msgs_free_at,
			st->rcpts_free_at };
	else
		*o = (struct stats_line){ "customer", "rcpts_24h", "rcpts_10m",
			"rcpts_free_at", "peak_free_at", st->rcpts, st->peak,
			l->cust_daily, l->cust_peak, st->rcpts_free_at,
			st->peak_free_at };
}

static int stats_print(const struct rate_stats *st, void *arg)
{
	struct rate_limits l = { 0, 0, 0, 0 };
	struct stats_line o;
	char a[64], b[64], fa[32], fb[32], last[32];
	int known = stats_limits(arg, st->kind, st->name, &l);

	stats_line_of(st, &l, &o);
	stats_pair(a, sizeof a, o.n1, o.lim1, known);
	stats_pair(b, sizeof b, o.n2, o.lim2, known);
	stats_time(fa, sizeof fa, o.free1);
	stats_time(fb, sizeof fb, o.free2);
	stats_time(last, sizeof last, st->last);
	printf("%s=%s %s=%s %s=%s %s=%s %s=%s last=%s\n", o.kind, st->name,
	       o.c1, a, o.c2, b, o.f1, fa, o.f2, fb, last);
	return 0;
}

/* One user or customer: a name with nothing counted prints zeros. */
static int stats_one(struct stats_opts *o, enum rate_kind k, const char *name)
{
	struct rate_stats st;
	int rc = stats_get(o, k, name, &st);

	if (rc == -2 || rc == -3)
		return rc;
	if (rc < 0) {
		memset(&st, 0, sizeof st);
		st.kind = k;
		for (size_t i = 0; name[i] && i < sizeof st.name - 1; i++)
			st.name[i] = (char)tolower((unsigned char)name[i]);
	}
	return stats_print(&st, o);
}

/* One or every record; limits are extra: without readable CDBs they
 * print as "?". */
static int stats_run(struct stats_opts *o)
{
	int rc, e;

	rcdb_init(&o->rules, cf.rules_cdb);
	rcdb_init(&o->users, cf.users_cdb);
	if (o->user)
		rc = stats_one(o, RATE_USER, o->user);
	else if (o->customer)
		rc = stats_one(o, RATE_CUSTOMER, o->customer);
	else if ((rc = stats_each(o, RATE_CUSTOMER, stats_print)) == 0)
		rc = stats_each(o, RATE_USER, stats_print);
	e = errno; /* why a read failed (EIO, EAGAIN) */
	rcdb_close(&o->rules);
	rcdb_close(&o->users);
	errno = e;
	return rc;
}

/* The fleet's counts from Redis (rate_store). */
static int stats_shared(struct stats_opts *o)
{
	char err[512];
	int rc;

	if (!(o->rs = rstore_from_settings(err, sizeof err))) {
		fprintf(stderr, "relayctl: stats: %s\n", err);
		return EXIT_TEMP;
	}
	rc = stats_run(o);
	if (rc == -3)
		fprintf(stderr, "relayctl: stats: %s: %s\n", cf.rate_store,
			rstore_error(o->rs));
	rstore_free(o->rs);
	return rc ? EXIT_TEMP : EXIT_DONE;
}

static int stats_usage(FILE *f)
{
	fprintf(f, "usage: relayctl stats [--user ADDR | --customer NAME] "
		   "[--now UNIXTIME]\n"
		   "  live rate counters read from the counters file: per user\n"
		   "  messages and unique recipients in 24 h, per customer\n"
		   "  recipients in 24 h and in 10 minutes, as count/limit\n"
		   "  (- unlimited, ? unknown), and when each window frees room\n");
	return f == stdout ? EXIT_DONE : EXIT_PERM;
}

static int stats_args(struct stats_opts *o, int argc, char **argv)
{
	char *end;

	for (int i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		if (!strcmp(argv[i], "--user"))
			o->user = argv[++i];
		else if (!strcmp(argv[i], "--customer"))
			o->customer = argv[++i];
		else if (!strcmp(argv[i], "--now")) {
			o->now = strtol(argv[++i], &end, 10);
			if (*end || o->now <= 0)
				return -1;
			o->now_given = o->now;
		} else
			return -1;
	}
	return o->user && o->customer ? -1 : 0;
}

int ctl_stats(int argc, char **argv)
{
	struct stats_opts o;
	int rc, e;

	memset(&o, 0, sizeof o);
	o.now = (long)time(NULL);
	if (argc == 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")))
		return stats_usage(stdout);
	if (stats_args(&o, argc, argv) < 0)
		return stats_usage(stderr);
	if (strcmp(cf.rate_store, "local"))
		return stats_shared(&o);
	if (rate_stats_open(cf.counters_file) < 0) {
		if (errno == ENOENT) {
			printf("no counters yet (%s)\n", cf.counters_file);
			return EXIT_DONE;
		}
		fprintf(stderr, "relayctl: stats: %s: %s\n", cf.counters_file,
			errno == EINVAL ? "not a counters file of this version"
					: strerror(errno));
		return EXIT_TEMP;
	}
	rc = stats_run(&o);
	e = errno;
	rate_stats_close();
	if (rc == -2 && e == EAGAIN)
		fprintf(stderr, "relayctl: stats: %s: relay-policy did not "
			"finish an update within a second: try again\n",
			cf.counters_file);
	else if (rc == -2)
		fprintf(stderr, "relayctl: stats: %s changed size while being "
			"read (damaged, or replaced): try again\n",
			cf.counters_file);
	return rc ? EXIT_TEMP : EXIT_DONE;
}
