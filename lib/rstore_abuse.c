/* rstore_abuse.c: abuse suspensions shared by the fleet
 * (lib/rstore_abuse.h). */
#include "rstore_abuse.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_lua.h"
#include "rstore_susp.h"

static void abuse_keys(char *hash, char *ver, const char *prefix)
{
	snprintf(hash, RSTORE_KEY_MAX, "%.120sabuse", prefix);
	snprintf(ver, RSTORE_KEY_MAX, "%.120sabuse:v", prefix);
}

int rstore_abuse_publish(struct rstore *r, const char *prefix,
			 const char *host, const char *text)
{
	char hash[RSTORE_KEY_MAX], ver[RSTORE_KEY_MAX];
	redisReply *rep[2] = { 0 };
	int rc;

	abuse_keys(hash, ver, prefix);
	rc = text && *text
		 ? rstore_append(r, 4, (const char *[]){ "HSET", hash, host,
							 text }, NULL)
		 : rstore_append(r, 3, (const char *[]){ "HDEL", hash, host },
				 NULL);
	if (rc < 0 ||
	    rstore_append(r, 2, (const char *[]){ "INCR", ver }, NULL) < 0 ||
	    rstore_exec(r, rep, 2) < 0)
		return -1;
	rc = rep[0]->type == REDIS_REPLY_INTEGER ? 0 : -1;
	rstore_replies_free(rep, 2);
	return rc;
}

/* HGETALL's reply (field, value, ...) as text: each value's lines, with
 * "field " before each when tag; lines with a newline inside a field or
 * beyond SUSP_MAX in all are left out. */
static char *fleet_text(const redisReply *rep, int tag)
{
	size_t len = 1, off = 0;
	char *text;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2)
		return NULL;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *v = rep->element[i + 1];
		size_t lines = 1;
		for (size_t k = 0; k < v->len; k++)
			lines += v->str[k] == '\n';
		len += v->len + lines * (1 + (tag ? rep->element[i]->len + 1 : 0));
	}
	len = len < SUSP_MAX ? len : SUSP_MAX;
	if (!(text = malloc(len)))
		return NULL;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *f = rep->element[i], *v = rep->element[i + 1];
		const char *p = v->str, *end = v->str + v->len;
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    memchr(f->str, '\n', f->len) || memchr(f->str, ' ', f->len))
			continue;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t l = (size_t)((nl ? nl : end) - p);
			size_t need = l + 1 + (tag ? f->len + 1 : 0);
			if (l && off + need < len) {
				if (tag) {
					memcpy(text + off, f->str, f->len);
					off += f->len;
					text[off++] = ' ';
				}
				memcpy(text + off, p, l);
				off += l;
				text[off++] = '\n';
			}
			p += l + 1;
		}
	}
	text[off] = '\0';
	return text;
}

static char *fleet_get(struct rstore *r, const char *prefix, int tag)
{
	char hash[RSTORE_KEY_MAX], ver[RSTORE_KEY_MAX];
	redisReply *rep = NULL;
	char *text;

	abuse_keys(hash, ver, prefix);
	if (rstore_append(r, 2, (const char *[]){ "HGETALL", hash }, NULL) < 0 ||
	    rstore_exec(r, &rep, 1) < 0)
		return NULL;
	text = fleet_text(rep, tag);
	freeReplyObject(rep);
	return text;
}

int rstore_abuse_refresh(struct rstore *r, const char *prefix,
			 struct susp *s, long long *ver)
{
	char hash[RSTORE_KEY_MAX], vkey[RSTORE_KEY_MAX];
	long long v;
	char *text;

	abuse_keys(hash, vkey, prefix);
	if (rstore_version(r, vkey, &v) < 0)
		return -1;
	if (v == *ver)
		return 0;
	if (!(text = fleet_get(r, prefix, 0)))
		return -1;
	free(s->data);
	s->data = text;
	*ver = v;
	return 0;
}

char *rstore_abuse_fleet(struct rstore *r, const char *prefix)
{
	return fleet_get(r, prefix, 1);
}
