/* send_loop.c: the scheduler's loop.  It sleeps in poll() on the trigger
 * FIFO, the relay-remote connections and the next timer; each wake-up
 * that may have changed something runs a pass over the messages that
 * are due (the ready heap, send_ready.c): expire, finish (bounce +
 * remove), warn, and dispatch due recipients grouped by destination.
 * A pass first serves the lines of destinations at their limit a job
 * of which ended (send_dest.c). */
#include "send.h"
#include "addr.h"
#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOOP_RESCAN 30          /* seconds between scans of new/ */
#define LOOP_DROPPED (-1)       /* loop_one: the message was freed */
#define LOOP_NOWORKER (-2)      /* no idle worker: stop the pass */
#define LOOP_CUSTFULL (-3)      /* its customer at its limit: back in line */

/* Pending recipients of an expired message become B, keeping what the
 * last attempt left (send_sched_expire_line). */
static void loop_expire(struct send_msg *m, long long now)
{
	char *lines, to[3 * ADDR_MAX + 1];
	size_t cap = m->q.nrcpt * (QSTATE_LINE_MAX + 2) + 1, len = 0;

	if (!send_sched_expired(m->q.arrival, now, cf.queue_lifetime))
		return;
	if (!(lines = malloc(cap)))
		return;
	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qstate_rcpt *r = &m->st.r[i];
		if (r->status == 'D' || r->status == 'B' || m->busy[i])
			continue;
		len += send_sched_expire_line(lines + len, cap - len, i, r,
					      now);
		log_info("%s: to=<%s> status=bounced (%s)", m->q.qid,
			 log_field(to, sizeof to, m->q.rcpt[i],
				   strlen(m->q.rcpt[i])), "expired");
		send_metrics_result(m, i, 'B', now);
	}
	if (len)
		send_msg_record(cf.queue_dir, m, lines, len);
	free(lines);
}

static uint64_t loop_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int loop_due(const struct send_msg *m, size_t i, long long now)
{
	const struct qstate_rcpt *r = &m->st.r[i];
	return !m->busy[i] && (r->status == 'P' ||
			       (r->status == 'T' && r->next <= now));
}

/* The time of the next retry of m's deferred recipients, and how many
 * are due now (no system calls: this runs for every message each pass). */
static long long loop_next(const struct send_msg *m, long long now,
			   size_t *ndue)
{
	long long next = now + 3600;

	*ndue = 0;
	for (size_t i = 0; i < m->q.nrcpt; i++) {
		if (loop_due(m, i, now))
			(*ndue)++;
		else if (m->st.r[i].status == 'T' && !m->busy[i] &&
			 m->st.r[i].next < next)
			next = m->st.r[i].next;
	}
	return next;
}

/* After m's jobs: the line it waits in, that of full (the first
 * destination it met at its limit, "" none), unless it waits in the
 * line of another it met at its limit (stays: it keeps its place).
 * Returns next, or now + 1 when no line could be had or m met more
 * than one destination at its limit (more): it waits in one line only,
 * and its recipients at the others must not wait for its turn there. */
static long long loop_line(struct send_msgs *ms, struct send_msg *m,
			   const char *full, int stays, int more,
			   long long now, long long next)
{
	if (!stays) {
		send_dest_leave(ms, m);
		if (full[0] && send_dest_wait(ms, m, full) < 0)
			return now + 1; /* as before lines: every second */
	}
	return more ? now + 1 : next;
}

/* One job per destination of due recipients (h: destination hashes).
 * A destination at its limit leaves its recipients for its line: the
 * message waits there (loop_line) and its other destinations go on. */
static long long loop_jobs(struct send_msgs *ms, struct send_msg *m,
			   struct rcdb *db, uint64_t *h, long long now,
			   long long next)
{
	size_t idx[SEND_JOB_RCPT_MAX];
	struct send_route r;
	char dest[SEND_DEST_MAX], full[SEND_DEST_MAX] = "";
	int stays = 0, more = 0;

	for (size_t i = 0; i < m->q.nrcpt; i++) {
		size_t n = 0;
		uint64_t hi = h[i];
		if (!hi)
			continue;
		/* a job before filled its customer's last slot */
		if (!send_cust_room(m->cust, db))
			return LOOP_CUSTFULL;
		for (size_t j = i; j < m->q.nrcpt && n < SEND_JOB_RCPT_MAX; j++)
			if (h[j] == h[i])
				idx[n++] = j;
		send_route_lookup(db, cf.relayhost, m->q.rcpt[i], m->q.from, &r);
		send_route_dest(&r, addr_domain(m->q.rcpt[i]), dest, sizeof dest);
		int rc = send_worker_dispatch(ms, m, &r, dest, idx, n);
		if (rc == -1)
			return LOOP_NOWORKER; /* the next free one takes it */
		if (rc == -2) {
			if (!full[0])
				snprintf(full, sizeof full, "%s", dest);
			else
				more |= strcmp(full, dest) != 0;
			stays |= send_dest_waits(m, dest);
			for (size_t j = i; j < m->q.nrcpt; j++)
				if (h[j] == hi)
					h[j] = 0;
			continue;
		}
		if (rc < 0)
			return now + 1; /* its file: the next scan drops it */
		for (size_t k = 0; k < n; k++)
			h[idx[k]] = 0;
	}
	return loop_line(ms, m, full, stays, more, now, next);
}

/* A recipient that is no mailbox as lib/addr.h defines it, from a file
 * queued before a check that now refuses it (8-bit bytes that are not
 * UTF-8): relay-remote would refuse the whole job at every retry until
 * the message expired, so it fails here at once.  1 when it did. */
static int loop_bad_rcpt(struct send_msg *m, size_t i, long long now)
{
	char line[QSTATE_LINE_MAX + 2], to[3 * ADDR_MAX + 1];
	size_t len;

	if (addr_mailbox_check(m->q.rcpt[i], 1) == ADDR_OK)
		return 0;
	len = qstate_format(line, sizeof line, i, 'B', now, 0, 553,
			    "5.1.3 invalid address in the queue file");
	log_info("%s: to=<%s> status=bounced (%s)", m->q.qid,
		 log_field(to, sizeof to, m->q.rcpt[i], strlen(m->q.rcpt[i])),
		 "5.1.3 invalid address");
	send_metrics_result(m, i, 'B', now);
	send_msg_record(cf.queue_dir, m, line, len);
	return 1;
}

/* Due recipients grouped by destination into jobs.  Returns the time
 * of the next retry of this message. */
static long long loop_dispatch(struct send_msgs *ms, struct send_msg *m,
			       struct rcdb *db, long long now)
{
	char dest[SEND_DEST_MAX], path[PATH_MAX];
	struct send_route r;
	size_t ndue;
	long long next = loop_next(m, now, &ndue);
	uint64_t *h;

	if (ndue == 0) {
		send_dest_leave(ms, m); /* nothing to wait for */
		return next;
	}
	if (!send_worker_room())
		return LOOP_NOWORKER;
	/* before any look at its file or routes: a customer at its limit
	 * is left out until a slot of it frees (send_ready.c) */
	if (!send_cust_room(m->cust, db))
		return LOOP_CUSTFULL;
	/* held or deleted meanwhile?  Not asked of a message the watch named
	 * this second: it was just read, and a hold after this check would
	 * be just as possible (relay-remote then cannot open it: deferred);
	 * nor of one the watch named whose file is still open from that
	 * load (its first job takes it): the watch tells of a hold or a
	 * delete since, and the message is gone before this pass */
	snprintf(path, sizeof path, "%s/new/%s", cf.queue_dir, m->q.qid);
	if (m->picked != now && !(m->picked && m->qfd_kept) &&
	    access(path, F_OK) < 0) {
		m->gone = 1;
		return now + 1;
	}
	if (!(h = calloc(m->q.nrcpt, sizeof *h)))
		return now + 1;
	for (size_t i = 0, last = SIZE_MAX; i < m->q.nrcpt; i++) {
		if (!loop_due(m, i, now) || loop_bad_rcpt(m, i, now))
			continue;
		/* route and destination depend on the recipient's domain
		 * only (the sender is the message's): one lookup per run of
		 * recipients in the same domain */
		if (last != SIZE_MAX &&
		    strcmp(addr_domain(m->q.rcpt[i]),
			   addr_domain(m->q.rcpt[last])) == 0) {
			h[i] = h[last];
			continue;
		}
		send_route_lookup(db, cf.relayhost, m->q.rcpt[i], m->q.from, &r);
		send_route_dest(&r, addr_domain(m->q.rcpt[i]), dest, sizeof dest);
		h[i] = loop_hash(dest) | 1;
		last = i;
	}
	next = loop_jobs(ms, m, db, h, now, next);
	free(h);
	return next;
}

/* The latest time m must be looked at again even without an event:
 * its expiry and its delay warning. */
static long long loop_deadline(const struct send_msg *m, long long now,
			       long long due)
{
	long long t = m->q.arrival + cf.queue_lifetime;

	if (t > now && t < due)
		due = t;
	t = m->q.arrival + cf.delay_warning;
	if (cf.delay_warning && !m->st.warned && !send_bounce_is_null(m) &&
	    t > now && t < due)
		due = t;
	return due;
}

/* One message's turn: returns when it is due next, LOOP_DROPPED,
 * LOOP_NOWORKER or LOOP_CUSTFULL. */
static long long loop_one(struct send_msgs *ms, struct send_msg *m,
			  struct rcdb *db, long long now)
{
	long long due;
	int owed;

	if (m->gone) {
		if (m->nbusy)
			return now + 3600; /* its last result wakes it */
		send_msg_left(cf.queue_dir, m);
		send_msg_drop(ms, m);
		return LOOP_DROPPED;
	}
	loop_expire(m, now);
	/* success notices that could not be queued at delivery */
	owed = send_bounce_owed(cf.queue_dir, m, now);
	if (!qstate_pending(&m->st)) {
		if (m->nbusy)
			return now + 3600;
		/* a file that cannot leave new/ stays in memory, where its
		 * results may be the only ones: tried again later */
		if (owed == 0 && send_bounce_final(cf.queue_dir, m) == 0 &&
		    send_msg_remove(cf.queue_dir, m) == 0) {
			send_msg_drop(ms, m);
			return LOOP_DROPPED;
		}
		return now + cf.retry_min;
	}
	send_bounce_warn(cf.queue_dir, m, now);
	due = loop_dispatch(ms, m, db, now);
	if (due == LOOP_NOWORKER || due == LOOP_CUSTFULL)
		return due;
	if (!qstate_pending(&m->st))
		due = now + 1; /* the last failed here (loop_bad_rcpt): its
				  bounce in the next second */
	if (owed < 0 && due > now + cf.retry_min)
		due = now + cf.retry_min; /* the owed notice, as a bounce */
	return loop_deadline(m, now, due);
}

/* The lines of destinations a job of which ended (send_dest.c): their
 * messages, in line, while the destination has room.  A message is
 * taken out of its heap for its turn and put back as a pass does; one
 * still in the line after it although the destination has room needed
 * none of it (nothing due there, or gone) and leaves.  0 when no worker
 * has room: the pass stops. */
static int loop_lines(struct send_msgs *ms, struct rcdb *db, long long now)
{
	size_t cursor = 0, left = ms->n + ms->maxlines + 1; /* bound */
	struct send_msg *m;

	while (left-- && (m = send_dest_next(ms, send_worker_dest_room,
					     &cursor))) {
		const struct send_dline *l = m->dwait->line;
		long long due;
		send_ready_remove(ms, m);
		due = loop_one(ms, m, db, now);
		if (due == LOOP_DROPPED)
			continue;
		if (due == LOOP_NOWORKER) {
			send_ready_putback(ms, m);
			return 0;
		}
		if (due == LOOP_CUSTFULL) {
			send_ready_putback(ms, m); /* passed over in its line */
			continue;
		}
		send_ready_later(ms, m, due > now ? due : now + 1);
		if (m->dwait && m->dwait->line == l &&
		    send_worker_dest_room(l->dest) > 0)
			send_dest_leave(ms, m);
	}
	return 1;
}

long long send_loop_pass(struct send_msgs *ms, struct rcdb *db,
			 long long now)
{
	struct send_msg *m;
	long long next;
	int owed, room = loop_lines(ms, db, now);

	while (room && (m = send_ready_pop(ms, now))) {
		long long due = loop_one(ms, m, db, now);
		if (due == LOOP_DROPPED)
			continue;
		if (due == LOOP_NOWORKER) {
			/* first in line when a worker comes back */
			send_ready_putback(ms, m);
			break;
		}
		if (due == LOOP_CUSTFULL) {
			/* due as it was; its customer is left out of the
			 * pops from now until one of its jobs is released */
			send_ready_putback(ms, m);
			continue;
		}
		send_ready_later(ms, m, due > now ? due : now + 1);
	}
	owed = !send_metrics_queue(ms, now);
	next = send_ready_next(ms);
	if (next <= now)
		return now + 1; /* waiting for a worker: its result wakes us */
	if (owed)
		return now + 1; /* the gauges' look skipped in this second */
	return next < now + 60 ? next : now + 60;
}

/* relayctl queue flush touches queue/flush and writes the trigger: when
 * its mtime moved, every deferred recipient is due now.  (A timestamp,
 * not a file to remove: relay-send may not write in queue/ itself.) */
static void loop_flush(struct send_msgs *ms, long long now)
{
	static struct timespec seen;
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof path, "%s/flush", cf.queue_dir);
	if (stat(path, &st) < 0 ||
	    (st.st_mtim.tv_sec == seen.tv_sec &&
	     st.st_mtim.tv_nsec == seen.tv_nsec))
		return;
	if (seen.tv_sec || seen.tv_nsec || now - st.st_mtim.tv_sec < 60) {
		log_info("flush: retrying every deferred recipient now");
		for (size_t i = 0; i < ms->n; i++) {
			for (size_t k = 0; k < ms->v[i]->q.nrcpt; k++)
				if (ms->v[i]->st.r[k].status == 'T')
					ms->v[i]->st.r[k].next = now;
			send_ready_set(ms, ms->v[i], now);
		}
	}
	seen = st.st_mtim;
}

static int loop_trigger_open(void)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/trigger", cf.queue_dir);
	/* O_RDWR: we are a writer too, so the FIFO never reports EOF */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		log_fatalx(111, "open %s", path);
	return fd;
}

static long loop_timeout(long long now, long long next_due, long long scan,
			 long wait_ms)
{
	long long t = next_due - now, rpt = send_tlsrpt_next();
	if (scan + LOOP_RESCAN - now < t)
		t = scan + LOOP_RESCAN - now;
	if (rpt && rpt - now < t)
		t = rpt - now; /* a period's report goes out when it ends */
	t *= 1000;
	if (wait_ms < t)
		t = wait_ms;
	return t < 0 ? 0 : t > NOTIFY_BEAT_MS ? NOTIFY_BEAT_MS : (long)t;
}

/* The trigger FIFO is read only when it is polled (or at each full
 * scan): while inotify names new/'s messages and queue/flush, relay-
 * queue's byte per commit says nothing new, and reading it cost a
 * wake-up of its own (it comes after the fsync, the event at the rename).
 * A full FIFO is harmless: its writers never wait (O_NONBLOCK). */
static int loop_trigger_polled(int watch)
{
	return watch < 0 || !(send_watch_watching() & SEND_WATCH_FLUSH);
}

static void loop_trigger_drain(int trig)
{
	char junk[4096];
	/* a full read may have left more; else the FIFO is empty */
	while (read(trig, junk, sizeof junk) == (ssize_t)sizeof junk)
		;
}

/* What woke us on the trigger FIFO and the watches: flush, new messages
 * (only those named by the watch), a full scan when the watch lost
 * events or is missing, and every 30 s anyway.  *rules is set when
 * rules.cdb must be looked at (it changed, or it is not watched).
 * 1 when the set of messages may have changed. */
static int loop_pickup(struct send_msgs *ms, int trig, int watch,
		       const struct pollfd *pfd, long long now,
		       long long *scan, int *rules)
{
	int full = now - *scan >= LOOP_RESCAN, got = 0;
	int watching = send_watch_watching();

	if (watch >= 0 && pfd[1].revents)
		got = send_watch_read(watch, ms, cf.queue_dir);
	full |= (got & SEND_WATCH_LOST) != 0;
	if (pfd[0].revents || full)
		loop_trigger_drain(trig);
	full |= pfd[0].revents && watch < 0;
	if (full || (got & SEND_WATCH_FLUSH) ||
	    (pfd[0].revents && !(watching & SEND_WATCH_FLUSH)))
		loop_flush(ms, now);
	if (full) {
		send_msg_scan(ms, cf.queue_dir);
		*scan = now;
	}
	*rules |= full || (got & SEND_WATCH_RULES) ||
		  !(watching & SEND_WATCH_RULES);
	return full || pfd[0].revents || got;
}

/* makecdb replaced rules.cdb: the new routes from now on; a new file
 * that cannot be read leaves the previous routes in force. */
static void loop_rules_refresh(struct send_msgs *ms, struct rcdb *db)
{
	int rc = rcdb_refresh(db);

	if (rc == 1) {
		send_cust_rules_changed();
		send_cust_limits(ms, db);
	} else if (rc < 0)
		log_warn("cannot load the new %s (%s); the previous one stays "
			 "in force", cf.rules_cdb, strerror(errno));
}

int send_loop_run(void)
{
	struct send_msgs ms = { 0 };
	struct rcdb db;
	struct pollfd *pfd = calloc((size_t)cf.remote_workers + 2, sizeof *pfd);
	long long now = send_now(), next_due = 0, scan = now;
	int trig = loop_trigger_open(), event = 1, rules = 0;
	int watch = send_watch_open(cf.queue_dir); /* before the first scan */

	if (!pfd)
		log_fatal(111, "out of memory");
	ms.fair = cf.fair_delivery; /* before the first message is loaded */
	/* a destination at its limit has a worker of its own at least */
	ms.maxlines = (size_t)cf.remote_workers;
	send_watch_files(watch, cf.rules_cdb, cf.queue_dir); /* before reads */
	/* without its routes a message would go to the MX in clear where a
	 * route asked for a smarthost or tls=verify: no delivery at all
	 * until the file can be read (a missing file is no routes) */
	if (rcdb_init(&db, cf.rules_cdb) < 0)
		log_fatal(EXIT_TEMP, "%s: %s (it must be readable by %s: "
			  "run makecdb again)", cf.rules_cdb, strerror(errno),
			  cf.user_send);
	send_bounce_check_postmaster(&db);
	/* its routes are read: what is left (a large queue's first scan)
	 * does not hold up the relay's readiness */
	notify_ready();
	send_msg_sweep(cf.queue_dir);
	log_info("started: %zu messages in the queue",
		 send_msg_scan(&ms, cf.queue_dir));
	send_worker_init();
	for (;;) {
		int idle = send_worker_idle();
		long wait = send_worker_connect(now);
		size_t n;
		notify_beat();
		event |= send_worker_idle() > idle;
		if (event || now >= next_due) {
			if (rules)
				loop_rules_refresh(&ms, &db);
			rules = 0;
			next_due = send_loop_pass(&ms, &db, now);
			event = 0;
		}
		pfd[0] = (struct pollfd){ .fd = loop_trigger_polled(watch)
						 ? trig : -1, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = watch, .events = POLLIN };
		n = 2 + send_worker_pollfds(pfd + 2, (size_t)cf.remote_workers);
		log_batch(0); /* a wake-up's log lines in one write */
		send_abuse_send(); /* and its abuse signals in another */
		if (poll(pfd, n, (int)loop_timeout(now, next_due, scan, wait)) < 0 &&
		    errno != EINTR)
			log_fatalx(111, "poll");
		log_batch(1);
		now = send_now();
		for (size_t i = 2; i < n; i++)
			event |= pfd[i].revents != 0;
		/* results first: the events of the messages they took out of
		 * new/ are in the watch already, read now rather than after
		 * one more poll that could only return at once */
		if (send_worker_events(&ms, pfd + 2, n - 2, now) > 0)
			pfd[1].revents |= POLLIN;
		event |= loop_pickup(&ms, trig, watch, pfd, now, &scan, &rules);
		send_tlsrpt_tick(now);
		send_worker_timeouts(&ms, now);
	}
}
