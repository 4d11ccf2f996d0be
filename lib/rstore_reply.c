/* rstore_reply.c: hiredis's reply objects, made by us so that a reply's
 * announced size is checked before anything is allocated for it: an
 * array header of "*2000000000" would otherwise cost 16 GB of pointers
 * at once (hiredis 0.14 allows up to 2^32 - 1 elements).  Bulk strings
 * are bounded by REPLY_MAX already: hiredis hands one over only once it
 * is all read.  The objects are hiredis's own struct, freed by its
 * freeReplyObject. */
#include "rstore_int.h"

#include <stdlib.h>
#include <string.h>

#define ARRAY_MAX (1 << 20) /* elements of one array reply */

static void *linked(const redisReadTask *task, redisReply *r)
{
	if (task->parent) {
		redisReply *parent = task->parent->obj;
		parent->element[task->idx] = r;
	}
	return r;
}

static redisReply *object(int type)
{
	redisReply *r = calloc(1, sizeof *r);
	if (r)
		r->type = type;
	return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r = object(task->type);

	if (!r)
		return NULL;
	if (!(r->str = malloc(len + 1))) {
		free(r);
		return NULL;
	}
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return linked(task, r);
}

static void *create_array(const redisReadTask *task, int elements)
{
	redisReply *r;

	if (elements > ARRAY_MAX || !(r = object(REDIS_REPLY_ARRAY)))
		return NULL; /* the reader then fails: "Out of memory" */
	if (elements > 0 &&
	    !(r->element = calloc((size_t)elements, sizeof *r->element))) {
		free(r);
		return NULL;
	}
	r->elements = elements > 0 ? (size_t)elements : 0;
	return linked(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
	redisReply *r = object(REDIS_REPLY_INTEGER);

	if (!r)
		return NULL;
	r->integer = value;
	return linked(task, r);
}

static void *create_nil(const redisReadTask *task)
{
	redisReply *r = object(REDIS_REPLY_NIL);
	return r ? linked(task, r) : NULL;
}

static void free_object(void *r)
{
	freeReplyObject(r);
}

redisReader *rsi_reader_new(void)
{
	static redisReplyObjectFunctions fns = {
		create_string, create_array, create_integer, create_nil,
		free_object,
	};
	return redisReaderCreateWithFunctions(&fns);
}
