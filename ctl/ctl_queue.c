/* ctl_queue.c: relayctl queue list|customers|show|hold|release|delete|
 * flush (hold, release and delete in ctl_queue_act.c).
 * Works on the files directly (queue/QUEUE.md): hold and release are
 * renames between new/ and hold/, delete unlinks, flush touches
 * queue/flush; each then writes the trigger so relay-send notices at
 * once (it rescans new/ and drops what left it, loads what came back).
 *
 * The queue's folders belong to relayqueue and relaysend, so root does
 * none of this itself: a taken-over relay-queue could put a symbolic
 * link where hold/ or queue/flush should be and have root rename or
 * create a file wherever it points.  Each command first becomes the uid
 * that does the same work in the daemons (privs_drop, group_queue
 * too): relaysend for everything but flush, as it reads, renames and
 * removes messages in new/, hold/ and state/ itself (its state files
 * are its own, 0640), and relayqueue to touch queue/flush (queue/ is
 * its own).  A link then leads nowhere that uid could not already
 * write. */
#include "ctl.h"
#include "ctl_queue.h"
#include "date822.h"
#include "privs.h"
#include "qfile.h"
#include "qstate.h"
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ctlq_trigger(void)
{
	char path[PATH_MAX];
	int fd;
	snprintf(path, sizeof path, "%s/trigger", cf.queue_dir);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "", 1) < 0) {
			/* full or no reader: relay-send rescans on its timer */
		}
		close(fd);
	}
}

static void ctlq_free(struct ctlq_msg *m)
{
	qfile_free(&m->q);
	qstate_free(&m->st);
}

/* A file that is there but cannot be read (queue/QUEUE.md, "Unreadable
 * files"): listed with why, shown, deleted by its name. */
static int ctlq_bad(const char *path, struct ctlq_msg *m, const char *why)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1; /* gone meanwhile */
	snprintf(m->why, sizeof m->why, "%s", why);
	m->bad = m->why;
	m->q.size = st.st_size;
	m->q.arrival = (long long)st.st_mtime;
	return 0;
}

/* 0 with m loaded (or m->bad set), -1 when there is no such file. */
static int ctlq_load(const char *sub, const char *id, struct ctlq_msg *m)
{
	char path[PATH_MAX], spath[PATH_MAX], err[256];

	memset(m, 0, sizeof *m);
	m->sub = sub;
	m->name = id;
	snprintf(path, sizeof path, "%s/%s/%s", cf.queue_dir, sub, id);
	snprintf(spath, sizeof spath, "%s/state/%s", cf.queue_dir, id);
	if (strlen(id) >= sizeof m->q.qid)
		return -1; /* not a name relay-queue gives */
	if (qfile_load(path, &m->q, err, sizeof err) < 0)
		return errno == ENOENT ? -1 : ctlq_bad(path, m, err);
	if (strcmp(m->q.qid, id) != 0) {
		ctlq_free(m);
		return ctlq_bad(path, m, "its header names another queue id");
	}
	if (qstate_init(&m->st, m->q.nrcpt) < 0) {
		qfile_free(&m->q);
		return ctlq_bad(path, m, "out of memory");
	}
	if (qstate_load(spath, &m->st) < 0) {
		snprintf(err, sizeof err, "state/%s: %s", id, strerror(errno));
		ctlq_free(m);
		return ctlq_bad(path, m, err);
	}
	return 0;
}

/* Pattern match: shell wildcards when there are any, else a substring;
 * both ignore case. */
static int ctlq_match(const char *pat, const char *s)
{
	if (strpbrk(pat, "*?["))
		return fnmatch(pat, s, FNM_CASEFOLD) == 0;
	return strcasestr(s, pat) != NULL;
}

int ctlq_parse_sel(int argc, char **argv, struct ctlq_sel *s)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			s->from = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			s->to = argv[++i];
		else if (strcmp(argv[i], "--all") == 0)
			s->all = 1;
		else if (argv[i][0] == '-')
			return -1;
		else
			argv[s->nids++] = argv[i]; /* compact the ids in place */
	}
	s->ids = argv;
	return s->nids || s->from || s->to || s->all ? 0 : -1;
}

int ctlq_selected(const struct ctlq_sel *s, const struct ctlq_msg *m)
{
	int any = 0;
	for (int i = 0; i < s->nids; i++)
		if (strcmp(s->ids[i], m->name) == 0)
			return 1;
	if (s->all)
		return 1;
	if (m->bad)
		return 0; /* no envelope to match */
	if (s->from && !ctlq_match(s->from, m->q.from[0] ? m->q.from : "<>"))
		return 0;
	for (size_t i = 0; s->to && i < m->q.nrcpt; i++)
		any |= ctlq_match(s->to, m->q.rcpt[i]);
	return (s->from || s->to) && (!s->to || any);
}

/* Call fn for every message in sub/ (sorted by arrival: ids start with
 * the time in hex, so the names sort). */
int ctlq_each(const char *sub, int (*fn)(struct ctlq_msg *, void *),
	      void *arg)
{
	char path[PATH_MAX];
	struct dirent **names;
	int n, rc = 0;

	snprintf(path, sizeof path, "%s/%s", cf.queue_dir, sub);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "relayctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct ctlq_msg m;
		if (names[i]->d_name[0] != '.' &&
		    ctlq_load(sub, names[i]->d_name, &m) == 0) {
			rc |= fn(&m, arg);
			ctlq_free(&m);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static void ctlq_dur(long long s, char *buf, size_t n)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, n, "%llds", s);
	else if (s < 7200)
		snprintf(buf, n, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%lldh", s / 3600);
	else
		snprintf(buf, n, "%lldd", s / 86400);
}

static int ctlq_list_one(struct ctlq_msg *m, void *arg)
{
	long long now = *(long long *)arg, next = 0;
	char age[16], nx[24];
	const char *last = "";

	if (m->bad) {
		ctlq_dur(now - m->q.arrival, age, sizeof age);
		printf("%-22s %5s %9lld unreadable: ", m->name, age,
		       (long long)m->q.size);
		ctl_term_puts(stdout, m->bad);
		printf(" (in %s/)\n", m->sub);
		return 0;
	}

	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qstate_rcpt *r = &m->st.r[i];
		if (r->status == 'T' && (!next || r->next < next))
			next = r->next, last = r->text;
		if (r->status == 'P' && (!next || now < next))
			next = now;
	}
	ctlq_dur(now - m->q.arrival, age, sizeof age);
	if (strcmp(m->sub, "hold") == 0)
		snprintf(nx, sizeof nx, "held");
	else if (!next || next <= now)
		snprintf(nx, sizeof nx, "now");
	else
		ctlq_dur(next - now, nx + 3, sizeof nx - 3), memcpy(nx, "in ", 3);
	printf("%-22s %5s %9lld <", m->name, age,
	       (long long)(m->q.size - m->q.body));
	ctl_term_puts(stdout, m->q.from);
	printf("> %zu/%zu %s%s", qstate_pending(&m->st), m->q.nrcpt, nx,
	       *last ? " " : "");
	ctl_term_puts(stdout, last);
	printf("\n");
	for (size_t i = 0; i < m->q.nrcpt; i++)
		if (m->st.r[i].status == 'P' || m->st.r[i].status == 'T') {
			printf("    <");
			ctl_term_puts(stdout, m->q.rcpt[i]);
			printf(">\n");
		}
	return 0;
}

static int ctlq_list(int argc, char **argv)
{
	long long now = (long long)time(NULL);
	(void)argc;
	(void)argv;
	printf("%-22s %5s %9s %s %s %s %s\n", "ID", "AGE", "SIZE", "SENDER",
	       "PENDING/ALL", "NEXT", "LAST-ERROR");
	/* a folder it cannot read: said on stderr, exit 111 (not -1) */
	return (ctlq_each("new", ctlq_list_one, &now) |
		ctlq_each("hold", ctlq_list_one, &now)) ? 111 : 0;
}

/* relayctl queue customers: the backlog per customer (the queue file's
 * customer=, "-" for mail of none: bounces), as relay-send's fair
 * delivery sees it: messages, recipients still to deliver, held
 * messages, the age of the oldest. */
struct ctlq_cust {
	char name[64];
	size_t msgs, rcpts, held;
	long long oldest;
};
struct ctlq_custs {
	struct ctlq_cust *v;
	size_t n;
};

static int ctlq_cust_one(struct ctlq_msg *m, void *arg)
{
	struct ctlq_custs *cs = arg;
	const char *name = qfile_get_info(&m->q, QFILE_INFO_CUSTOMER);
	struct ctlq_cust *c = NULL;

	if (m->bad)
		return 0; /* no customer to count it for; list shows it */
	if (!name || !*name)
		name = "-";
	for (size_t i = 0; i < cs->n && !c; i++)
		if (strcmp(cs->v[i].name, name) == 0)
			c = &cs->v[i];
	if (!c) {
		struct ctlq_cust *nv = realloc(cs->v, (cs->n + 1) * sizeof *nv);
		if (!nv)
			return -1;
		cs->v = nv;
		c = &cs->v[cs->n++];
		memset(c, 0, sizeof *c);
		snprintf(c->name, sizeof c->name, "%s", name);
		c->oldest = m->q.arrival;
	}
	c->msgs++;
	c->rcpts += qstate_pending(&m->st);
	c->held += strcmp(m->sub, "hold") == 0;
	if (m->q.arrival < c->oldest)
		c->oldest = m->q.arrival;
	return 0;
}

static int ctlq_cust_cmp(const void *a, const void *b)
{
	const struct ctlq_cust *x = a, *y = b;
	return x->msgs != y->msgs ? (x->msgs < y->msgs ? 1 : -1)
				  : strcmp(x->name, y->name);
}

static int ctlq_customers(int argc, char **argv)
{
	struct ctlq_custs cs = { NULL, 0 };
	long long now = (long long)time(NULL);
	char age[16];
	int rc;

	(void)argv;
	if (argc != 0)
		return fprintf(stderr, "usage: relayctl queue customers\n"), 100;
	rc = ctlq_each("new", ctlq_cust_one, &cs) |
	     ctlq_each("hold", ctlq_cust_one, &cs);
	if (cs.n)
		qsort(cs.v, cs.n, sizeof *cs.v, ctlq_cust_cmp);
	printf("%-24s %9s %10s %6s %s\n", "CUSTOMER", "MESSAGES",
	       "RECIPIENTS", "HELD", "OLDEST");
	for (size_t i = 0; i < cs.n; i++) {
		ctlq_dur(now - cs.v[i].oldest, age, sizeof age);
		printf("%-24s %9zu %10zu %6zu %s\n", cs.v[i].name, cs.v[i].msgs,
		       cs.v[i].rcpts, cs.v[i].held, age);
	}
	free(cs.v);
	return rc ? 111 : 0;
}

static void ctlq_show_headers(const struct ctlq_msg *m)
{
	char path[PATH_MAX], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s/%s", cf.queue_dir, m->sub, m->q.qid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof buf - 1, m->q.body);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end)
		end[2] = '\0';
	printf("\nheaders:\n");
	ctl_term_puts(stdout, buf);
}

static int ctlq_show(int argc, char **argv)
{
	static const char *const subs[] = { "new", "hold" };
	char date[64];
	struct ctlq_msg m;

	if (argc != 1)
		return fprintf(stderr, "usage: relayctl queue show ID\n"), 100;
	/* An id is a queue name, never a path: "../x", "" and "." are
	 * no message, and nothing is opened for them. */
	for (size_t s = 0; s < 2 && qfile_id_ok(argv[0]); s++) {
		if (ctlq_load(subs[s], argv[0], &m) < 0)
			continue;
		if (m.bad) {
			printf("id: %s (%s)\nunreadable: ", argv[0], subs[s]);
			ctl_term_puts(stdout, m.bad);
			printf("\nsize: %lld\n", (long long)m.q.size);
			ctlq_free(&m);
			return 0;
		}
		date822_format(m.q.arrival, date, sizeof date);
		printf("id: %s (%s)\narrival: %s\nsize: %lld\nfrom: <",
		       m.q.qid, subs[s], date, (long long)(m.q.size - m.q.body));
		ctl_term_puts(stdout, m.q.from);
		printf(">\n");
		for (size_t i = 0; i < m.q.ninfo; i++) {
			ctl_term_puts(stdout, m.q.info[i].key);
			printf(": ");
			ctl_term_puts(stdout, m.q.info[i].value);
			printf("\n");
		}
		for (size_t i = 0; i < m.q.nrcpt; i++) {
			struct qstate_rcpt *r = &m.st.r[i];
			printf("rcpt %zu: <", i);
			ctl_term_puts(stdout, m.q.rcpt[i]);
			printf("> %c attempts=%d%s", r->status, r->attempts,
			       r->expired ? " expired" : "");
			if (r->code || r->text[0]) {
				printf(" last=%d ", r->code);
				ctl_term_puts(stdout, r->text);
			}
			printf("\n");
		}
		ctlq_show_headers(&m);
		ctlq_free(&m);
		return 0;
	}
	fprintf(stderr, "relayctl: queue: no message %s\n", argv[0]);
	return 100;
}

/* relay-send retries every deferred recipient when queue/flush's mtime
 * moves (send/send_loop.c). */
static int ctlq_flush(int argc, char **argv)
{
	char path[PATH_MAX];
	int fd;

	(void)argv;
	if (argc != 0)
		return fprintf(stderr, "usage: relayctl queue flush\n"), 100;
	snprintf(path, sizeof path, "%s/flush", cf.queue_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || futimens(fd, NULL) < 0) {
		fprintf(stderr, "relayctl: %s: %s\n", path, strerror(errno));
		return 111;
	}
	close(fd);
	ctlq_trigger();
	printf("flush requested\n");
	return 0;
}

/* user: the uid the command runs as when relayctl is root (see above) */
static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	char **user;
} ctlq_cmds[] = {
	{ "list", ctlq_list, &cf.user_send },
	{ "customers", ctlq_customers, &cf.user_send },
	{ "show", ctlq_show, &cf.user_send },
	{ "hold", ctlq_hold, &cf.user_send },
	{ "release", ctlq_release, &cf.user_send },
	{ "delete", ctlq_delete, &cf.user_send },
	{ "flush", ctlq_flush, &cf.user_queue },
};

int ctl_queue(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";

	for (size_t i = 0; i < sizeof ctlq_cmds / sizeof *ctlq_cmds; i++)
		if (strcmp(sub, ctlq_cmds[i].name) == 0) {
			privs_drop(*ctlq_cmds[i].user, cf.group_queue);
			return ctlq_cmds[i].fn(argc > 0 ? argc - 1 : 0,
					       argv + (argc > 0));
		}
	fprintf(stderr, "usage: relayctl queue list|customers|show ID|hold|"
			"release|delete (ID...|--from PAT|--to PAT|--all)|"
			"flush\n");
	return 100;
}
