/* rstore_reply.c: hiredis's reply objects, made by us so that a reply's
 * announced size is checked before anything is allocated for it: an
 * array header of "*2000000000" would otherwise cost 16 GB of pointers
 * at once (hiredis 0.14 allows up to 2^32 - 1 elements).  Bulk strings
 * are bounded by REPLY_MAX already: hiredis hands one over only once it
 * is all read.  What one reply's objects allocate is counted as they are
 * made, against REPLY_COST_MAX: a reply of small nested arrays (8 bytes
 * of RESP for two objects of ~60 bytes) would otherwise cost ~20 times
 * its size, every element array under ARRAY_MAX.  The objects are
 * hiredis's own struct, freed by its freeReplyObject. */
#include "rstore_int.h"

#include <stdlib.h>
#include <string.h>

#define ARRAY_MAX (1 << 20) /* elements of one array reply */
/* bytes one reply's objects may allocate (objects, element arrays,
 * strings): four times what REPLY_MAX lets an exchange bring, room for
 * any reply of ours (a list of names costs about 3 times its size) */
#define REPLY_COST_MAX ((size_t)4 * REPLY_MAX)

/* Count bytes against the reply's budget (the reader's privdata; the
 * first object of a reply, which has no parent, starts it anew): 0, or
 * -1 when it would go over. */
static int charge(const redisReadTask *task, size_t bytes)
{
	size_t *cost = task->privdata;

	if (!task->parent)
		*cost = 0;
	if (bytes > REPLY_COST_MAX - *cost)
		return -1;
	*cost += bytes;
	return 0;
}

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
	redisReply *r;

	if (charge(task, sizeof *r + len + 1) < 0 ||
	    !(r = object(task->type)))
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

	if (elements > ARRAY_MAX ||
	    charge(task, sizeof *r + (elements > 0 ? (size_t)elements : 0) *
				     sizeof *r->element) < 0 ||
	    !(r = object(REDIS_REPLY_ARRAY)))
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
	redisReply *r;

	if (charge(task, sizeof *r) < 0 || !(r = object(REDIS_REPLY_INTEGER)))
		return NULL;
	r->integer = value;
	return linked(task, r);
}

static void *create_nil(const redisReadTask *task)
{
	redisReply *r;

	if (charge(task, sizeof *r) < 0 || !(r = object(REDIS_REPLY_NIL)))
		return NULL;
	return linked(task, r);
}

static void free_object(void *r)
{
	freeReplyObject(r);
}

redisReader *rsi_reader_new(size_t *cost)
{
	static redisReplyObjectFunctions fns = {
		create_string, create_array, create_integer, create_nil,
		free_object,
	};
	redisReader *rd = redisReaderCreateWithFunctions(&fns);

	if (rd)
		rd->privdata = cost;
	return rd;
}
