/* rstore_susp.h: the operator's suspensions in the shared rate store, so
 * that `relayctl suspend` on one box takes effect on every box: the set
 * P susp ("user ADDRESS", "customer NAME", lowercased) and the counter
 * P susp:v, bumped at each change (P = rate_store_prefix). */
#ifndef RSTORE_SUSP_H
#define RSTORE_SUSP_H

#include "rstore.h"
#include "susp.h"

/* Add or remove an entry: 0 changed, 1 already so, -1 Redis failed. */
int rstore_susp_edit(struct rstore *r, const char *prefix, const char *kind,
		     const char *name, int add);
/* The counter at key (0 when absent) into *v: 0, or -1 (Redis failed);
 * the shared lists' versions (here and lib/rstore_abuse.h). */
int rstore_version(struct rstore *r, const char *key, long long *v);
/* Read the set into s->data (as DIR/suspended's text, for susp_has) when
 * P susp:v is not *ver; 0, or -1 when Redis failed (s is kept). */
int rstore_susp_refresh(struct rstore *r, const char *prefix, struct susp *s,
			long long *ver);

#endif
