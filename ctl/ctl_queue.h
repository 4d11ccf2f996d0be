/* ctl_queue.h: what relayctl's queue commands share between
 * ctl_queue.c (list, customers, show, flush; the selection and the walk
 * over a queue directory) and ctl_queue_act.c (hold, release, delete). */
#ifndef CTL_QUEUE_H
#define CTL_QUEUE_H

#include "qfile.h"
#include "qstate.h"

struct ctlq_msg {
	const char *sub;        /* "new" or "hold" */
	const char *name;       /* the file's name: its id, what is acted on */
	const char *bad;        /* NULL, or why it cannot be read: then only
				 * q.size and q.arrival (its mtime) are set */
	char why[300];          /* bad's text */
	struct qfile q;
	struct qstate st;
};

/* Selection: IDs, or --from PAT / --to PAT / --all. */
struct ctlq_sel {
	const char *from, *to;
	int all;
	char **ids;
	int nids;
};

/* Write the trigger so relay-send notices at once. */
void ctlq_trigger(void);
/* argv: IDs, --from PAT, --to PAT, --all (the ids compacted in place);
 * -1 when it selects nothing or has an unknown option. */
int ctlq_parse_sel(int argc, char **argv, struct ctlq_sel *s);
int ctlq_selected(const struct ctlq_sel *s, const struct ctlq_msg *m);
/* fn for every message of queue/sub in arrival order, unreadable ones
 * too (m->bad); the results or'ed, -1 when sub cannot be read. */
int ctlq_each(const char *sub, int (*fn)(struct ctlq_msg *, void *),
	      void *arg);

int ctlq_hold(int argc, char **argv);     /* ctl_queue_act.c */
int ctlq_release(int argc, char **argv);
int ctlq_delete(int argc, char **argv);

#endif
