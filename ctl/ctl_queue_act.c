/* ctl_queue_act.c: relayctl queue hold|release|delete: renames between
 * new/ and hold/, or unlinks (with state/<id>) (queue/QUEUE.md). */
#include "ctl_queue.h"
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* hold/release/delete: what to do with a selected message. */
struct ctlq_act {
	const char *verb;
	const char *from_sub, *to_sub;  /* rename from → to; to NULL: delete */
	struct ctlq_sel sel;
	int done;
};

static int ctlq_act_one(struct ctlq_msg *m, void *arg)
{
	struct ctlq_act *a = arg;
	char src[PATH_MAX], dst[PATH_MAX];

	if (!ctlq_selected(&a->sel, m))
		return 0;
	snprintf(src, sizeof src, "%s/%s/%s", cf.queue_dir, m->sub, m->q.qid);
	if (a->to_sub) {
		snprintf(dst, sizeof dst, "%s/%s/%s", cf.queue_dir, a->to_sub,
			 m->q.qid);
		if (rename(src, dst) < 0) {
			fprintf(stderr, "relayctl: %s: %s\n", m->q.qid,
				strerror(errno));
			return 1;
		}
	} else {
		if (unlink(src) < 0 && errno != ENOENT)
			return fprintf(stderr, "relayctl: %s: %s\n", m->q.qid,
				       strerror(errno)), 1;
		snprintf(dst, sizeof dst, "%s/state/%s", cf.queue_dir, m->q.qid);
		unlink(dst);
	}
	printf("%s: %s\n", m->q.qid, a->verb);
	a->done++;
	return 0;
}

static int ctlq_act(struct ctlq_act *a, int argc, char **argv)
{
	int rc = 0;

	if (ctlq_parse_sel(argc, argv, &a->sel) < 0) {
		fprintf(stderr, "usage: relayctl queue %s ID...|--from PAT|--to "
				"PAT|--all\n", a->verb);
		return 100;
	}
	rc |= ctlq_each(a->from_sub, ctlq_act_one, a);
	if (!a->to_sub) /* delete: held messages too */
		rc |= ctlq_each("hold", ctlq_act_one, a);
	ctlq_trigger();
	if (!a->done) {
		fprintf(stderr, "relayctl: queue %s: no message matched\n",
			a->verb);
		return 100;
	}
	return rc ? 111 : 0;
}

int ctlq_hold(int argc, char **argv)
{
	struct ctlq_act a = { .verb = "held", .from_sub = "new",
			      .to_sub = "hold" };
	return ctlq_act(&a, argc, argv);
}

int ctlq_release(int argc, char **argv)
{
	struct ctlq_act a = { .verb = "released", .from_sub = "hold",
			      .to_sub = "new" };
	return ctlq_act(&a, argc, argv);
}

int ctlq_delete(int argc, char **argv)
{
	struct ctlq_act a = { .verb = "deleted", .from_sub = "new" };
	return ctlq_act(&a, argc, argv);
}
