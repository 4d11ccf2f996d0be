/* mon_data.c: one snapshot of what the relay publishes, for /metrics and
 * the status page alike: every area in DIR/metrics/ (summed by series),
 * the daemons of run/status, the rate counters with their limits (the
 * fleet's, from Redis, when rate_store names it), and the suspended
 * accounts.  Everything read is another uid's: a bad line
 * or record is skipped, never shown as it came. */
#include "mon.h"
#include "log.h"
#include "rate_limits.h"
#include "rate_stats.h"
#include "rcdb.h"
#include "rstore_stats.h"
#include "rulekeys.h"
#include "settings.h"
#include "susp.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MON_SAMPLES_MAX (16 * METRICS_SLOTS)
#define MON_USAGE_MAX 4096

static int sample_cmp(const void *a, const void *b)
{
	const struct metrics_sample *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = strcmp(x->labels, y->labels)))
		return c;
	return x->part < y->part ? -1 : x->part > y->part;
}

/* An area that holds slots of families its publisher does not own was
 * written by a daemon taken over (or a mistake): said once per area for
 * the process' life, as every snapshot reads the areas again. */
static void foreign_note(const char *who, size_t n)
{
	static char said[16][256];    /* a d_name */
	static size_t nsaid;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nsaid && strcmp(said[i], who); i++)
		;
	if (i == nsaid && nsaid < 16) {
		snprintf(said[nsaid++], sizeof said[0], "%s", who);
		log_warn("%s/%s: %zu slots of families not its own ignored "
			 "(its writer set another daemon's series)",
			 METRICS_DIR, who, n);
	}
	pthread_mutex_unlock(&lock);
}

/* Every area of DIR/metrics/ (each file's name is its publisher), then
 * one sample per series (two slots of one series add up). */
static int snap_areas(struct mon_snap *sn)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	size_t w = 0, foreign;
	int got;

	sn->s = calloc(MON_SAMPLES_MAX, sizeof *sn->s);
	if (!sn->s)
		return -1;
	snprintf(path, sizeof path, "%s/%s", cf.dir, METRICS_DIR);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)) && sn->n + METRICS_SLOTS <= MON_SAMPLES_MAX) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/%s", cf.dir, METRICS_DIR,
			 de->d_name);
		got = metrics_read(path, de->d_name, sn->s + sn->n,
				   METRICS_SLOTS, &foreign);
		if (got > 0)
			sn->n += (size_t)got;
		if (got >= 0 && foreign)
			foreign_note(de->d_name, foreign);
	}
	closedir(d);
	qsort(sn->s, sn->n, sizeof *sn->s, sample_cmp);
	for (size_t r = 0; r < sn->n; r++) {
		if (w && !sample_cmp(&sn->s[w - 1], &sn->s[r]))
			sn->s[w - 1].value += sn->s[r].value;
		else
			sn->s[w++] = sn->s[r];
	}
	sn->n = w;
	return 0;
}

/* Restarts counted in the last 10 minutes, from the counts seen at
 * earlier snapshots (one kept per daemon per 30 s, 20 kept).  Every
 * thread that takes snapshots (the sampler, the HTTP server's, one per
 * connection) updates it: hist_lock keeps one entry from being reset or
 * appended to while another reads it. */
#define HIST 20
static struct {
	char name[32];
	long t[HIST], restarts[HIST];
	size_t next;
} hist[16];
static pthread_mutex_t hist_lock = PTHREAD_MUTEX_INITIALIZER;

static int restart_loop_locked(const struct mon_daemon *d, long now,
			       size_t i)
{
	size_t last = (hist[i].next + HIST - 1) % HIST;
	long oldest = d->restarts;

	if (strcmp(hist[i].name, d->name)) {
		memset(&hist[i], 0, sizeof hist[i]);
		snprintf(hist[i].name, sizeof hist[i].name, "%s", d->name);
	}
	if (!hist[i].t[last] || now - hist[i].t[last] >= 30) {
		hist[i].t[hist[i].next] = now;
		hist[i].restarts[hist[i].next] = d->restarts;
		hist[i].next = (hist[i].next + 1) % HIST;
	}
	for (size_t k = 0; k < HIST; k++)
		if (hist[i].t[k] && now - hist[i].t[k] <= 600 &&
		    hist[i].restarts[k] < oldest)
			oldest = hist[i].restarts[k];
	/* the master slows a daemon down after 10 quick deaths: 3 in 10
	 * minutes is already a loop worth a look */
	return d->restarts - oldest >= 3;
}

static int restart_loop(const struct mon_daemon *d, long now, size_t i)
{
	int loop;

	pthread_mutex_lock(&hist_lock);
	loop = restart_loop_locked(d, now, i);
	pthread_mutex_unlock(&hist_lock);
	return loop;
}

static void snap_daemons(struct mon_snap *sn)
{
	char path[4096], line[256];
	struct mon_daemon *d;
	long uid;
	FILE *f;

	snprintf(path, sizeof path, "%s/status", cf.run_dir);
	if (!(f = fopen(path, "re")))
		return;
	while (sn->nd < sizeof sn->d / sizeof sn->d[0] &&
	       fgets(line, sizeof line, f)) {
		d = &sn->d[sn->nd];
		if (sscanf(line, "%31[a-z-] %ld %ld %ld %ld", d->name, &d->pid,
			   &uid, &d->started, &d->restarts) != 5)
			continue;
		d->loop = restart_loop(d, sn->now, sn->nd);
		sn->nd++;
	}
	fclose(f);
}

struct usage_ctx {
	struct mon_snap *sn;
	struct rcdb rules;
};

/* A customer's limits from rules.cdb (users.cdb is not ours to read:
 * a user's own limits show as unknown). */
static int usage_add(const struct rate_stats *st, void *arg)
{
	struct usage_ctx *c = arg;
	struct mon_usage *u;
	struct rate_limits l;
	char key[RK_KEYMAX], val[RK_VALMAX];

	if (c->sn->nu >= MON_USAGE_MAX)
		return 1;
	u = &c->sn->u[c->sn->nu++];
	memset(u, 0, sizeof *u);
	snprintf(u->name, sizeof u->name, "%s", st->name);
	u->user = st->kind == RATE_USER;
	u->n1 = u->user ? st->msgs : st->rcpts;
	u->n2 = u->user ? st->rcpts : st->peak;
	u->lim1 = u->lim2 = -1;
	snprintf(key, sizeof key, "customer:%s", st->name);
	if (!u->user && c->rules.fd >= 0 &&
	    rcdb_gets(&c->rules, key, val, sizeof val) >= 0) {
		rate_limits_rules(&l, val, NULL);
		u->lim1 = l.cust_daily;
		u->lim2 = l.cust_peak;
	}
	return 0;
}

/* The shared rate store (rate_store = redis...): one client for all the
 * threads that take snapshots, made before privileges drop (it reads
 * the AUTH file); NULL: the counters file. */
static struct rstore *fleet;
static pthread_mutex_t fleet_lock = PTHREAD_MUTEX_INITIALIZER;

void mon_data_init(void)
{
	char err[512];

	if (!strcmp(cf.rate_store, "local"))
		return;
	if (!(fleet = rstore_from_settings(err, sizeof err)))
		log_warn("rate_store: %s: usage not shown", err);
}

static void usage_fleet(struct usage_ctx *c)
{
	pthread_mutex_lock(&fleet_lock);
	if (rstore_stats_each(fleet, cf.rate_store_prefix, RATE_CUSTOMER, 0,
			      usage_add, c) >= 0)
		rstore_stats_each(fleet, cf.rate_store_prefix, RATE_USER, 0,
				  usage_add, c);
	pthread_mutex_unlock(&fleet_lock);
}

/* The counters file: rate_stats keeps one map (rate_map) and one SIGBUS
 * jump buffer for the whole process, so the threads that take
 * snapshots (the HTTP server's, the sampler) read it in turn, from
 * open to close. */
static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;

static void usage_local(struct usage_ctx *c)
{
	pthread_mutex_lock(&local_lock);
	if (rate_stats_open(cf.counters_file) == 0) {
		if (rate_stats_each(RATE_CUSTOMER, c->sn->now, usage_add, c) >= 0)
			rate_stats_each(RATE_USER, c->sn->now, usage_add, c);
		rate_stats_close();
	}
	pthread_mutex_unlock(&local_lock);
}

static void snap_usage(struct mon_snap *sn)
{
	struct usage_ctx c = { sn, { 0 } };

	sn->u = calloc(MON_USAGE_MAX, sizeof *sn->u);
	if (!sn->u)
		return;
	rcdb_init(&c.rules, cf.rules_cdb);
	if (fleet)
		usage_fleet(&c);
	else
		usage_local(&c);
	rcdb_close(&c.rules);
}

static void snap_suspended(struct mon_snap *sn)
{
	char path[4096];
	struct susp s;

	snprintf(path, sizeof path, "%s/suspended", cf.dir);
	if (susp_init(&s, path) < 0)
		return;
	susp_refresh(&s);
	for (const char *p = s.data; p && *p; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, "user ", 5) || !strncmp(p, "customer ", 9))
			sn->suspended++;
		if (!strchr(p, '\n'))
			break;
	}
	susp_free(&s);
}

int mon_snap_take(struct mon_snap *sn)
{
	memset(sn, 0, sizeof *sn);
	sn->now = (long)time(NULL);
	if (snap_areas(sn) < 0)
		return -1;
	snap_daemons(sn);
	snap_usage(sn);
	snap_suspended(sn);
	return sn->u ? 0 : -1;
}

void mon_snap_free(struct mon_snap *sn)
{
	free(sn->s);
	free(sn->u);
	memset(sn, 0, sizeof *sn);
}

void mon_snap_drop_users(struct mon_snap *sn)
{
	size_t n = 0;

	for (size_t i = 0; i < sn->nu; i++)
		if (!sn->u[i].user)
			sn->u[n++] = sn->u[i];
	sn->nu = n;
}

uint64_t mon_snap_sum(const struct mon_snap *sn, enum metrics_family f,
		      const char *match)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < sn->n; i++)
		if (sn->s[i].family == (unsigned)f && sn->s[i].part == 0 &&
		    strstr(sn->s[i].labels, match))
			sum += sn->s[i].value;
	return sum;
}

int mon_usage_pct(long n, long lim)
{
	if (lim <= 0)
		return -1;
	return (int)(n * 100 / lim);
}
