/* policy_db.c: the lookup interface over the CDBs and DIR/suspended. */
#include "policy_db.h"

#include <string.h>

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
	return susp_has(&db->susp, kind, name);
}

int policy_db_open(struct policy_db *db, const char *rules_path,
		   const char *users_path, const char *susp_path)
{
	memset(db, 0, sizeof *db);
	db->lk.get = db_get;
	db->lk.suspended = db_suspended;
	db->lk.ctx = db;
	if (rcdb_init(&db->rules, rules_path) < 0 ||
	    rcdb_init(&db->users, users_path) < 0 ||
	    susp_init(&db->susp, susp_path) < 0)
		return -1;
	return 0;
}

void policy_db_batch_next(struct policy_db *db)
{
	db->looked = 0;
}

void policy_db_refresh(struct policy_db *db)
{
	if (db->batch && db->looked)
		return;
	db->looked = 1;
	rcdb_refresh(&db->rules);
	rcdb_refresh(&db->users);
	susp_refresh(&db->susp);
}

void policy_db_close(struct policy_db *db)
{
	rcdb_close(&db->rules);
	rcdb_close(&db->users);
	susp_free(&db->susp);
}
