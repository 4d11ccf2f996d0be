/* rstore_susp.c: shared suspensions (lib/rstore_susp.h). */
#include "rstore_susp.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_lua.h"

static void susp_keys(char *set, char *ver, const char *prefix)
{
	snprintf(set, RSTORE_KEY_MAX, "%.120ssusp", prefix);
	snprintf(ver, RSTORE_KEY_MAX, "%.120ssusp:v", prefix);
}

int rstore_susp_edit(struct rstore *r, const char *prefix, const char *kind,
		     const char *name, int add)
{
	char set[RSTORE_KEY_MAX], ver[RSTORE_KEY_MAX], entry[600];
	redisReply *rep[2] = { 0 };
	int rc;

	susp_keys(set, ver, prefix);
	snprintf(entry, sizeof entry, "%s %s", kind, name);
	if (rstore_append(r, 3, (const char *[]){ add ? "SADD" : "SREM", set,
						  entry }, NULL) < 0 ||
	    rstore_append(r, 2, (const char *[]){ "INCR", ver }, NULL) < 0 ||
	    rstore_exec(r, rep, 2) < 0)
		return -1;
	rc = rep[0]->type != REDIS_REPLY_INTEGER ? -1 : rep[0]->integer ? 0 : 1;
	rstore_replies_free(rep, 2);
	return rc;
}

/* The set's members as lines. */
static char *join(const redisReply *rep)
{
	size_t len = 1, off = 0;
	char *text;

	if (rep->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i < rep->elements; i++)
		len += rep->element[i]->len + 1;
	if (len > SUSP_MAX || !(text = malloc(len)))
		return NULL;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		if (e->type != REDIS_REPLY_STRING || memchr(e->str, '\n', e->len))
			continue;
		memcpy(text + off, e->str, e->len);
		off += e->len;
		text[off++] = '\n';
	}
	text[off] = '\0';
	return text;
}

int rstore_version(struct rstore *r, const char *key, long long *v)
{
	redisReply *rep = NULL;

	if (rstore_append(r, 2, (const char *[]){ "GET", key }, NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -1;
	*v = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;
	freeReplyObject(rep);
	return 0;
}

int rstore_susp_refresh(struct rstore *r, const char *prefix, struct susp *s,
			long long *ver)
{
	char set[RSTORE_KEY_MAX], vkey[RSTORE_KEY_MAX];
	redisReply *rep = NULL;
	long long v;
	char *text;

	susp_keys(set, vkey, prefix);
	if (rstore_version(r, vkey, &v) < 0)
		return -1;
	if (v == *ver)
		return 0;
	if (rstore_append(r, 2, (const char *[]){ "SMEMBERS", set }, NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return -1;
	text = join(rep);
	freeReplyObject(rep);
	if (!text)
		return -1;
	free(s->data);
	s->data = text;
	*ver = v;
	return 0;
}
