/* rstore_epoch.c: has the shared rate store lost its data?
 * (lib/rstore_epoch.h) */
#include "rstore_epoch.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rstore_lua.h"

static void epoch_new(char out[RSTORE_EPOCH_LEN])
{
	unsigned char b[16];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		unsigned long long t = (unsigned long long)time(NULL);
		unsigned long long p = (unsigned long long)getpid();
		memcpy(b, &t, 8);
		memcpy(b + 8, &p, 8);
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* GET key: 1 with the value in v, 0 absent, -1 no answer or not ours. */
static int epoch_get(struct rstore *r, const char *key,
		     char v[RSTORE_EPOCH_LEN])
{
	redisReply *rep = NULL;
	int rc = -1;

	if (rstore_append(r, 2, (const char *[]){ "GET", key }, NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -1;
	if (rep->type == REDIS_REPLY_NIL)
		rc = 0;
	else if (rep->type == REDIS_REPLY_STRING &&
		 rep->len == RSTORE_EPOCH_LEN - 1) {
		memcpy(v, rep->str, RSTORE_EPOCH_LEN);
		rc = 1;
	}
	freeReplyObject(rep);
	return rc;
}

/* Absent: this box's candidate, unless another box's came first. */
static int epoch_set(struct rstore *r, const char *key)
{
	char cand[RSTORE_EPOCH_LEN];
	redisReply *rep = NULL;

	epoch_new(cand);
	if (rstore_append(r, 4, (const char *[]){ "SET", key, cand, "NX" },
			  NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -1;
	freeReplyObject(rep);
	return 0;
}

int rstore_epoch_check(struct rstore *r, const char *prefix,
		       char seen[RSTORE_EPOCH_LEN])
{
	char key[RSTORE_KEY_MAX], v[RSTORE_EPOCH_LEN];
	int got;

	snprintf(key, sizeof key, "%.120sepoch", prefix);
	got = epoch_get(r, key, v);
	if (got == 0 && (epoch_set(r, key) < 0 ||
			 (got = epoch_get(r, key, v)) == 0))
		got = -1;
	if (got < 0)
		return -1;
	got = *seen && strcmp(seen, v) != 0;
	memcpy(seen, v, RSTORE_EPOCH_LEN);
	return got;
}
