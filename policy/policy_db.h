/* policy_db.h: the lookups relay-policy makes, behind a small interface
 * so that the decision logic (policy_decide.c) is pure and can be driven
 * by tests; policy_db_* is the real one over rules.cdb, users.cdb and the
 * suspension overrides, each reopened when replaced. */
#ifndef POLICY_DB_H
#define POLICY_DB_H

#include <stddef.h>

#include "rcdb.h"
#include "susp.h"

enum policy_table { POLICY_RULES, POLICY_USERS };

struct policy_lookup {
	/* value of key in table into val (NUL-terminated): length, -1 not
	 * found, -2 error or too long (rcdb_get's contract) */
	long (*get)(void *ctx, enum policy_table t, const char *key, char *val,
		    size_t n);
	/* 1 when the operator suspended "user <addr>" / "customer <name>",
	 * or abuse monitoring "user <addr>" / "device <ip>/<helo>" */
	int (*suspended)(void *ctx, const char *kind, const char *name);
	void *ctx;
};

struct rstore;

struct policy_db {
	struct rcdb rules, users;
	struct susp susp;
	/* the fleet's suspensions in the shared rate store (rate_store =
	 * redis...), read again at most once a second when changed */
	struct rstore *rs;          /* set by relay-policy; NULL: none */
	struct susp shared;
	/* abuse monitoring's suspensions, written by relay-queue
	 * (lib/abuse.h: DIR/abuse/suspended, "user ..." / "device ...") */
	struct susp abuse;
	/* with rs: the fleet's abuse suspensions (lib/rstore_abuse.h), and
	 * the text of db->abuse this box last published (abuse_pub valid
	 * once abuse_synced: a box publishes at its first look) */
	struct susp fleet_abuse;
	long long fleet_abuse_ver;
	char *abuse_pub;
	int abuse_synced;
	long long shared_ver;
	long shared_ms;
	/* with rs: the shared store's epoch as last seen (lib/rstore_epoch.h;
	 * "" before the first look) */
	char epoch[33];
	struct policy_lookup lk;
	/* relay-policy's loop: at most one look at the files per wake-up
	 * (the requests of one wake-up came together); 0 = every call */
	int batch, looked;
	/* with batch: an inotify watch on the files' folders (-1 when it
	 * could not be made: a look per wake-up then); the files are looked
	 * at only after an event about one of them (dirty), or when the
	 * last look is POLICY_DB_NET_MS old (a file behind a symbolic link
	 * can change without an event here) */
	int ifd, wd[3], dirty;
	char name[3][256];
	long looked_ms;
};

#define POLICY_DB_NET_MS 1000

int policy_db_open(struct policy_db *db, const char *rules_path,
		   const char *users_path, const char *susp_path);
/* Follow replaced files; call before each decision.  With db->batch,
 * only the first call after policy_db_batch_next looks. */
void policy_db_refresh(struct policy_db *db);
/* A new wake-up of the server loop: the next refresh looks again (with
 * the watch: when an event came or the last look is old). */
void policy_db_batch_next(struct policy_db *db);
/* The server loop found nothing to do for a second: with a shared
 * store, publish this box's abuse suspensions and read the fleet's (so
 * that an idle box still tells and learns). */
void policy_db_idle(struct policy_db *db);
/* The watch's fd, for the server's poll (put it last in the poll set:
 * then a file replaced before a request came is seen in the same poll),
 * or -1; policy_db_events reads what it says (call when readable). */
int policy_db_fd(const struct policy_db *db);
void policy_db_events(struct policy_db *db);
void policy_db_close(struct policy_db *db);

#endif
