/* send_stfile.c: which messages may have a state file.  Only relay-send
 * creates state/<id> (relayctl only removes them, queue/QUEUE.md): the
 * ones there at start (send_msg_sweep) and the ones it appended to since
 * are all there can be.  A message outside this set has none for sure,
 * so loading it costs no open() that can only say ENOENT (one per
 * message, since most are delivered at the first try).  The set is a
 * superset: a state file removed by relayctl stays in it (a useless
 * open, never a missed state); before state/ was listed, or when memory
 * runs out, every message is taken to have one. */
#include "send.h"

#include <stdlib.h>
#include <string.h>

#define STFILE_BUCKETS 4096

struct stfile {
	struct stfile *next;
	char qid[QFILE_ID_MAX];
};

static struct stfile *stfile_hash[STFILE_BUCKETS];
/* Until the listing of state/ is complete, or after an add failed:
 * assume every message has one. */
static int stfile_unsure = 1;

static unsigned stfile_bucket(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % STFILE_BUCKETS;
}

static struct stfile **stfile_find(const char *qid)
{
	struct stfile **pp = &stfile_hash[stfile_bucket(qid)];

	while (*pp && strcmp((*pp)->qid, qid) != 0)
		pp = &(*pp)->next;
	return pp;
}

void send_stfile_add(const char *qid)
{
	struct stfile **pp = stfile_find(qid), *f;

	if (*pp)
		return;
	if (strlen(qid) >= sizeof f->qid || !(f = malloc(sizeof *f))) {
		stfile_unsure = 1;
		return;
	}
	memcpy(f->qid, qid, strlen(qid) + 1);
	f->next = NULL;
	*pp = f;
}

void send_stfile_del(const char *qid)
{
	struct stfile **pp = stfile_find(qid), *f = *pp;

	if (f) {
		*pp = f->next;
		free(f);
	}
}

void send_stfile_listed(void)
{
	stfile_unsure = 0;
}

int send_stfile_may(const char *qid)
{
	return stfile_unsure || *stfile_find(qid) != NULL;
}
