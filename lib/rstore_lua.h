/* rstore_lua.h: the shared rate store's server-side scripts (keys and
 * arguments: lib/rstore_lua.c) and how to call one. */
#ifndef RSTORE_LUA_H
#define RSTORE_LUA_H

#include <stddef.h>

#include "rstore.h"

enum rstore_script_id {
	RSTORE_RCPT,    /* may a recipient join a transaction? reserve it */
	RSTORE_COMMIT,  /* a message was queued: count it */
	RSTORE_RELEASE, /* a transaction ended without a message */
	RSTORE_STATS,   /* one user's and one customer's live counts */
	RSTORE_SCRIPTS
};

struct rstore_script {
	const char *body;
	char sha[41];   /* hex SHA-1 of body, for EVALSHA */
};

const struct rstore_script *rstore_script(enum rstore_script_id id);

/* The keys of a user and a customer, in the scripts' order: um ur upm
 * upr (user's), cd ck cp (customer's), names (lib/rstore_lua.c). */
enum { RK_UM, RK_UR, RK_UPM, RK_UPR, RK_CD, RK_CK, RK_CP, RK_NAMES, RK_N };
#define RSTORE_KEY_MAX (256 + 128)
void rstore_keys(char k[RK_N][RSTORE_KEY_MAX], const char *prefix,
		 const char *user, const char *cust);
/* The commit script's once-per-transaction key for id (a day). */
void rstore_done_key(char k[RSTORE_KEY_MAX], const char *prefix,
		     const char *id);

/* Append EVALSHA (eval = 0) or EVAL (eval = 1) of script id with
 * nkeys keys and nargs arguments (NUL-terminated strings). */
int rstore_script_append(struct rstore *r, enum rstore_script_id id,
			 int eval, int nkeys, const char *const *keys,
			 int nargs, const char *const *args);
/* Append the script for rstore_send, whose reply nobody waits for:
 * EVALSHA once this connection ran it, else EVAL (so that no NOSCRIPT
 * can come back to nobody). */
int rstore_script_append_nowait(struct rstore *r, enum rstore_script_id id,
				int nkeys, const char *const *keys, int nargs,
				const char *const *args);
/* Run one script and get its reply: EVALSHA, and when Redis does not
 * know it (restarted, flushed) EVAL once.  0 (reply in *out, which may
 * be a Redis error reply), -1 when Redis did not answer. */
int rstore_script_run(struct rstore *r, enum rstore_script_id id,
		      int nkeys, const char *const *keys, int nargs,
		      const char *const *args, struct redisReply **out);

#endif
