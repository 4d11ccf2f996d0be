/* policy_db.c: the lookup interface over the CDBs and DIR/suspended. */
#include "policy_db.h"
#include "abuse.h"
#include "log.h"
#include "notify.h"
#include "rstore_abuse.h"
#include "rstore_epoch.h"
#include "rstore_susp.h"
#include "settings.h"

#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* What replaces, writes, removes or makes a file in a folder, and the
 * folder itself going away (the watch then ends: a look per wake-up). */
#define DB_EVENTS (IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
		   IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

static long db_get(void *ctx, enum policy_table t, const char *key,
		   char *val, size_t n)
{
	struct policy_db *db = ctx;
	return rcdb_gets(t == POLICY_RULES ? &db->rules : &db->users, key, val,
			 n);
}

static int db_suspended(void *ctx, const char *kind, const char *name)
{
	struct policy_db *db = ctx;
	/* the operator's lists hold names as typed, abuse monitoring's
	 * hold them as account names (lib/abuse.h) */
	return susp_has(&db->susp, kind, name) ||
	       susp_has(&db->shared, kind, name) ||
	       abuse_susp_has(&db->abuse, kind, name) ||
	       abuse_susp_has(&db->fleet_abuse, kind, name);
}

static long db_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void db_unwatch(struct policy_db *db)
{
	if (db->ifd >= 0)
		close(db->ifd);
	db->ifd = -1;
}

/* Watch the folder of path (file i); -1 when it cannot be watched. */
static int db_watch(struct policy_db *db, int i, const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= sizeof dir || strlen(slash ? slash + 1 : path) >= sizeof db->name[i])
		return -1;
	memcpy(dir, path, n);
	strcpy(dir + n, slash ? (n ? "" : "/") : ".");
	strcpy(db->name[i], slash ? slash + 1 : path);
	db->wd[i] = inotify_add_watch(db->ifd, dir, DB_EVENTS);
	return db->wd[i] < 0 ? -1 : 0;
}

int policy_db_open(struct policy_db *db, const char *rules_path,
		   const char *users_path, const char *susp_path)
{
	const char *paths[3] = { rules_path, users_path, susp_path };
	char abuse[PATH_MAX];

	memset(db, 0, sizeof *db);
	db->lk.get = db_get;
	db->lk.suspended = db_suspended;
	db->lk.ctx = db;
	if (rcdb_init(&db->rules, rules_path) < 0 ||
	    rcdb_init(&db->users, users_path) < 0 ||
	    susp_init(&db->susp, susp_path) < 0 ||
	    susp_init(&db->abuse, settings_path(abuse, sizeof abuse,
						ABUSE_SUSPENDED)) < 0)
		return -1;
	db->looked_ms = db_now_ms();
	db->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	for (int i = 0; i < 3 && db->ifd >= 0; i++)
		if (db_watch(db, i, paths[i]) < 0)
			db_unwatch(db);
	return 0;
}

int policy_db_fd(const struct policy_db *db)
{
	return db->ifd;
}

/* Whether event e is about one of the files (or ends the watch). */
static int db_event_ours(struct policy_db *db, const struct inotify_event *e)
{
	if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF |
		       IN_MOVE_SELF)) {
		db_unwatch(db); /* events may be lost from now on */
		return 1;
	}
	for (int i = 0; i < 3; i++)
		if (e->wd == db->wd[i] && e->len && !strcmp(e->name, db->name[i]))
			return 1;
	return 0;
}

void policy_db_events(struct policy_db *db)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (int round = 0; round < 64 && db->ifd >= 0; round++) {
		ssize_t n = read(db->ifd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t off = 0; off < n && db->ifd >= 0;) {
			const struct inotify_event *e =
			    (const struct inotify_event *)(buf + off);
			if (db_event_ours(db, e))
				db->dirty = 1;
			off += (ssize_t)(sizeof *e + e->len);
		}
		if ((size_t)n < sizeof buf / 2)
			return; /* drained: no read that can only say EAGAIN */
	}
}

void policy_db_batch_next(struct policy_db *db)
{
	db->looked = 0;
}

/* This box's abuse suspensions into the shared store when they changed
 * since the last publication (or none was made yet); a failed one is
 * tried again at the next look. */
static void db_abuse_publish(struct policy_db *db)
{
	const char *now = db->abuse.data ? db->abuse.data : "";
	char *copy;

	if (db->abuse_synced && !strcmp(now, db->abuse_pub))
		return;
	if (!(copy = strdup(now)) ||
	    rstore_abuse_publish(db->rs, cf.rate_store_prefix, cf.hostname,
				 now) < 0) {
		free(copy);
		return;
	}
	free(db->abuse_pub);
	db->abuse_pub = copy;
	db->abuse_synced = 1;
}

/* Redis lost the fleet's counts (its epoch changed): said once a loss.
 * Nothing is re-seeded: the counts of the day are gone for every box. */
static void db_epoch_check(struct policy_db *db)
{
	_Static_assert(sizeof db->epoch == RSTORE_EPOCH_LEN, "epoch");
	if (rstore_epoch_check(db->rs, cf.rate_store_prefix, db->epoch) == 1)
		log_warn("rate_store: Redis lost its data (%sepoch changed: "
			 "restarted without persistence, flushed, or a "
			 "failover to a replica that did not have it): the "
			 "fleet's counts start again from zero, so for up to a "
			 "day every limit may be exceeded by what was counted "
			 "before", cf.rate_store_prefix);
}

/* The shared suspensions, at most once a second (a GET of their
 * version; the set itself only when it changed).  Redis gone: the last
 * list read stays in force, and the local file still counts. */
static void db_shared_refresh(struct policy_db *db)
{
	struct rstore *rs = db->rs;
	long now = db_now_ms();

	if (!rs || (now - db->shared_ms < 1000 && now >= db->shared_ms))
		return;
	db->shared_ms = now;
	/* each exchange may wait rate_store_timeout: a beat between them
	 * (lib/notify.h), so that relay-master sees at most one such wait */
	rstore_susp_refresh(rs, cf.rate_store_prefix, &db->shared,
			    &db->shared_ver);
	notify_beat();
	db_abuse_publish(db);
	notify_beat();
	rstore_abuse_refresh(rs, cf.rate_store_prefix, &db->fleet_abuse,
			     &db->fleet_abuse_ver);
	notify_beat();
	db_epoch_check(db);
}

/* A replaced file that does not load (cut short, not a CDB) leaves the
 * rules in force as they were; the operator hears of it once. */
static void db_cdb_refresh(struct rcdb *r)
{
	if (rcdb_refresh(r) < 0)
		log_warn("cannot load the new %s (%s); the previous one stays "
			 "in force", r->path,
			 errno == EPROTO ? "not a CDB, or cut short"
					 : strerror(errno));
}

static void db_files_refresh(struct policy_db *db)
{
	long now = db_now_ms();

	if (db->batch && db->ifd >= 0 && !db->dirty &&
	    now - db->looked_ms < POLICY_DB_NET_MS && now >= db->looked_ms)
		return;
	db->dirty = 0;
	db->looked_ms = now;
	db_cdb_refresh(&db->rules);
	db_cdb_refresh(&db->users);
	susp_refresh(&db->susp);
	susp_refresh(&db->abuse); /* not watched: seen within a second */
}

void policy_db_refresh(struct policy_db *db)
{
	if (db->batch && db->looked)
		return;
	db->looked = 1;
	db_files_refresh(db);
	db_shared_refresh(db);
}

void policy_db_idle(struct policy_db *db)
{
	if (!db->rs)
		return;
	policy_db_batch_next(db);
	policy_db_refresh(db);
}


void policy_db_close(struct policy_db *db)
{
	db_unwatch(db);
	rcdb_close(&db->rules);
	rcdb_close(&db->users);
	susp_free(&db->susp);
	susp_free(&db->abuse);
	free(db->shared.data);
	db->shared.data = NULL;
	free(db->fleet_abuse.data);
	db->fleet_abuse.data = NULL;
	free(db->abuse_pub);
	db->abuse_pub = NULL;
}
