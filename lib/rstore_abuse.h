/* rstore_abuse.h: abuse monitoring's suspensions in the shared rate
 * store, so that an account relay-queue suspended on one box is refused
 * on every box.  The hash P abuse (P = rate_store_prefix) holds, per
 * box, field = the box's hostname, value = that box's DIR/abuse/suspended
 * text (lib/abuse.h: "user <name>" / "device <ip>/<helo>" lines); the
 * counter P abuse:v is bumped at each change.  Each box's relay-policy
 * is the one writer of its own field (it mirrors the local file, which
 * relay-queue owns); `relayctl abuse release` on the box that suspended
 * empties the line there, and the field follows within a second or two. */
#ifndef RSTORE_ABUSE_H
#define RSTORE_ABUSE_H

#include "rstore.h"
#include "susp.h"

/* Publish this box's list (text; NULL or "" removes the field): 0, or
 * -1 when Redis failed. */
int rstore_abuse_publish(struct rstore *r, const char *prefix,
			 const char *host, const char *text);
/* The fleet's lists, concatenated, into s->data (for susp_has) when
 * P abuse:v is not *ver; 0, or -1 when Redis failed (s is kept). */
int rstore_abuse_refresh(struct rstore *r, const char *prefix,
			 struct susp *s, long long *ver);
/* Each box's entries as "HOST kind name" lines (for relayctl abuse
 * list), malloc'd; NULL when Redis failed. */
char *rstore_abuse_fleet(struct rstore *r, const char *prefix);

#endif
