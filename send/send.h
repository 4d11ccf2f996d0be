/* send.h: relay-send, the scheduler.  It keeps every message of new/ in
 * memory with its recipients' state (state/<id>), groups due recipients
 * by route into jobs for relay-remote workers, records each result
 * (appended and fsync'd before acting on it), retries with back-off,
 * expires, and injects bounces through relay-queue.  The modules:
 *   send_route   route lookup in rules.cdb (relayhost, rcpt, sender, default)
 *   send_sched   the retry schedule and expiry
 *   send_msg     messages in memory: load, scan new/, find, free
 *   send_ready   the ready heaps: messages by the time they are due, one
 *                heap per customer taken in turn (fair delivery)
 *   send_cust    customers: their messages in flight, concurrency limit
 *   send_dest    the lines of destinations at their dest_concurrency limit
 *   send_stfile  which messages may have a state file (else no open)
 *   send_qfd     the queue file kept open from the load to the first job
 *   send_watch   incremental pickup of new/ (inotify)
 *   send_dsn     RFC 3464 delivery status notifications (text only),
 *                RFC 6533's internationalised ones
 *   send_inject  injecting a message through run/queue.sock
 *   send_bounce  when and to whom bounces and delay warnings go
 *   send_tlsrpt  TLS-RPT: records from relay-remote, daily reports
 *   send_worker  the connections to relay-remote, handing out jobs
 *   send_worker_result  a job's result frame: logged, recorded
 *   send_loop    the main loop: trigger FIFO, timers, dispatch */
#ifndef SEND_H
#define SEND_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#include "qfile.h"
#include "qstate.h"
#include "rcdb.h"

#define SEND_JOB_RCPT_MAX 200   /* recipients per job (KV_MAXPAIRS, NS_MAX) */

/* ---- time (send_sched.c): one place, so tests can use faketime ---- */
long long send_now(void);

/* ---- routes (send_route.c) ---- */
struct send_route {
	char host[256];   /* "" = MX of the recipient domain */
	long port;
	char tls[16];     /* may | encrypt | verify */
	char auth[64];    /* credential name under secrets/, "" none */
	char auth_tls[16]; /* "unverified": AUTH over any TLS; else verified */
	int tls_wrap;     /* implicit TLS: the handshake before the greeting */
	char via[320];    /* which key matched (route_domain's key), for logs */
};
/* Where mail for rcpt from sender goes: relayhost setting, then
 * route:rcpt:<domain> and .<parent>, then route:sender:<domain> and
 * .<parent>, then route:default, else MX.  db may be NULL. */
void send_route_lookup(struct rcdb *db, const char *relayhost,
		       const char *rcpt, const char *sender,
		       struct send_route *r);
/* A key naming the destination: jobs of one destination share it. */
void send_route_dest(const struct send_route *r, const char *domain,
		     char *buf, size_t n);

/* ---- schedule (send_sched.c) ---- */
/* Delay before attempt number attempts+1 after attempts failures:
 * retry_min doubling up to retry_max, plus up to 1/8 of jitter taken
 * from rnd. */
long long send_sched_delay(int attempts, long retry_min, long retry_max,
			   unsigned rnd);
/* 1 when a message that arrived at arrival has outlived lifetime. */
int send_sched_expired(long long arrival, long long now, long lifetime);
/* The state line (qstate_format) that fails recipient idx, in state r,
 * at expiry time now: B with what its last attempt left (time, code and
 * reply; time 0 when none was made) and now as the time it expired
 * (lib/qstate.h).  Its length. */
size_t send_sched_expire_line(char *buf, size_t n, size_t idx,
			      const struct qstate_rcpt *r, long long now);

/* ---- customers (send_cust.c) ---- */
/* A min-heap of messages by (wake, seq): send_ready.c. */
struct send_heap {
	struct send_msg **v;
	size_t n, cap;
};
#define SEND_CUST_NAME_MAX 64   /* rules names: [a-z0-9._-], at most 63 */
struct send_cust {
	char name[SEND_CUST_NAME_MAX]; /* "" for mail of no customer */
	size_t idx;             /* index in send_msgs.cust */
	struct send_heap ready; /* its messages (fair delivery) */
	long inflight;          /* jobs of its messages in flight */
	long deficit;           /* fair turns: jobs it may still start in
				 * its turn (deficit round robin, at most 1) */
	long limit;             /* concurrency= of its rules, 0: none */
	unsigned long gen;      /* rules generation limit was read in */
};
struct send_msgs;
/* The customer named by the queue file's customer= ("" when none);
 * made on first use, kept while relay-send runs.  NULL: out of memory. */
struct send_cust *send_cust_get(struct send_msgs *ms, const char *name);
/* rules.cdb was (re)opened: every limit is read again when next used. */
void send_cust_rules_changed(void);
/* 1 when c may start one more job: under its concurrency= (rules.cdb
 * customer:<name>, read again after send_cust_rules_changed). */
int send_cust_room(struct send_cust *c, struct rcdb *db);
/* 1 when c is at its limit as last read (no rules.cdb look): the ready
 * heaps leave it out until a job of it is released. */
int send_cust_full(const struct send_cust *c);
/* After send_cust_rules_changed: every customer's limit read again now,
 * so that one left out at its old limit is taken at a raised one. */
void send_cust_limits(struct send_msgs *ms, struct rcdb *db);

/* ---- messages (send_msg.c) ---- */
struct send_msg {
	struct qfile q;         /* header of new/<id> */
	struct qstate st;       /* recipients' state */
	unsigned char *busy;    /* per recipient: in a job now */
	size_t nbusy;
	int gone;               /* left new/ (held, deleted) */
	int seen;               /* mark of the last scan */
	struct send_msg *hnext;
	size_t vidx;            /* index in send_msgs.v */
	size_t hidx;            /* index in the ready heap, SIZE_MAX: out */
	long long wake;         /* when it next needs a pass */
	long long picked;       /* when the watch of new/ named it, or 0 */
	unsigned long long seq; /* order among equal wake times */
	struct send_cust *cust; /* its customer, NULL when unknown */
	int qfd;                /* new/<id> as loaded, when qfd_kept */
	int qfd_kept;           /* for its first job (send_qfd.c) */
	struct send_dwait *dwait; /* the line it waits in (send_dest.c) */
	struct send_msg *dprev, *dnext; /* its neighbours there */
	unsigned long long dseq; /* when it joined that line */
};
struct send_msgs {
	struct send_msg **v;
	size_t n, cap;
	struct send_msg *hash[4096];
	struct send_heap ready; /* the ready heap: every message, or (fair)
				 * those without a customer (send_ready.c) */
	unsigned long long seq;
	int fair;               /* one heap per customer, taken in turn */
	struct send_cust **cust; /* every customer seen, in order of arrival */
	size_t ncust, ccap;
	size_t rr;              /* the heap whose turn is now */
	int rr_open;            /* rr's turn began (its credit was given) */
	struct send_dline *lines; /* destinations at their limit (send_dest.c) */
	size_t maxlines;        /* slots in lines: remote_workers */
	size_t nlines;          /* slots in use */
	unsigned long long dseq;
};
/* Scan new/: load unknown messages, mark vanished ones gone.  Returns
 * how many were loaded. */
size_t send_msg_scan(struct send_msgs *ms, const char *qdir);
struct send_msg *send_msg_find(struct send_msgs *ms, const char *qid);
/* Before the privilege drop: the uids whose files in new/ are mail
 * (relay-queue's, relay-send's and root's; an unprivileged instance:
 * the invoking uid). */
void send_msg_owners_init(void);
/* Open new/<qid> for reading: a regular file made by one of those uids,
 * never through a link.  Anything else is logged and moved to hold/;
 * -1 (errno EPERM, or open's). */
int send_msg_open(const char *qdir, const char *qid);
/* Load one message (header + state); NULL when it cannot be read.
 * keep: the watch named it, its file may be kept open (send_qfd.c). */
struct send_msg *send_msg_load(const char *qdir, const char *qid, int keep);
void send_msg_add(struct send_msgs *ms, struct send_msg *m);
/* Remove m from the set (and the ready heap) and free it. */
void send_msg_drop(struct send_msgs *ms, struct send_msg *m);
/* Record results: lines already formatted by qstate_format, applied to
 * m->st after the append + fsync of state/<id> succeeded.  0 or -1. */
int send_msg_record(const char *qdir, struct send_msg *m, const char *lines,
		    size_t len);
/* The last results of a message whose every recipient is delivered:
 * unlink new/<id> (and state/<id>), no state line and no fsync; when
 * new/<id> cannot be unlinked (held meanwhile) the lines are recorded
 * as send_msg_record does.  0 or -1. */
int send_msg_done(const char *qdir, struct send_msg *m, const char *lines,
		  size_t len);
/* Every recipient final and none in flight: unlink new/<id>, state/<id>.
 * 0, or -1 when new/<id> is still there (kept while relay-queue names
 * it, or an error): the message then stays in memory, where its results
 * may be the only ones, and is tried again later. */
int send_msg_remove(const char *qdir, struct send_msg *m);
/* m, out of new/ by relayctl's hand (held or deleted), leaves memory: a
 * held message keeps state/<id>, its results go with it (a release must
 * send nothing again); a deleted one's goes, which results recorded
 * after relayctl removed it made again.  Marks m gone. */
void send_msg_left(const char *qdir, struct send_msg *m);
/* Remove orphan state/ files (no message in new/ or hold/); at start. */
void send_msg_sweep(const char *qdir);

/* ---- which messages may have a state file (send_stfile.c) ---- */
/* state/<id> exists (listed at start, or appended to) / was removed. */
void send_stfile_add(const char *qid);
void send_stfile_del(const char *qid);
/* Every state file there was at start has been added: from now on a
 * message outside the set has none. */
void send_stfile_listed(void);
/* 0 when qid has no state file for sure. */
int send_stfile_may(const char *qid);

/* ---- the queue file kept from the load (send_qfd.c) ---- */
/* Keep fd (new/<id>, opened and checked by send_msg_open) in m for its
 * first job, or close it when too many are kept. */
void send_qfd_keep(struct send_msg *m, int fd);
/* The kept descriptor, now the caller's; -1 when none. */
int send_qfd_take(struct send_msg *m);
/* Close the kept descriptor, if any (m leaves new/ or memory). */
void send_qfd_close(struct send_msg *m);

/* ---- the ready heaps (send_ready.c) ---- */
/* With ms->fair, each customer's messages are a heap of their own and
 * send_ready_pop takes the heaps in turn, by deficit round robin over
 * the jobs started (send_ready_charge): each turn gives a customer one
 * job's credit, a message that started k jobs costs k, and a customer
 * in debt sits its turns out until it is paid; so a customer's backlog
 * gets about one job in N while N customers have mail due.  Without
 * ms->fair, the heaps as one in (wake, seq) order.  Either way the heap
 * of a customer at its limit (send_cust_full) is left out: not popped,
 * not counted by send_ready_next. */
/* Due at t at the latest (an earlier wake time stands). */
void send_ready_set(struct send_msgs *ms, struct send_msg *m, long long t);
/* Due at t, after a pass over m (m was popped). */
void send_ready_later(struct send_msgs *ms, struct send_msg *m, long long t);
/* Back in with its old wake time and place in line (and its heap's
 * turn: it comes first again). */
void send_ready_putback(struct send_msgs *ms, struct send_msg *m);
/* A job of m's was started: its customer pays for it (fair turns). */
void send_ready_charge(struct send_msgs *ms, struct send_msg *m);
/* The first message due at now, taken out of the heap; NULL when none. */
struct send_msg *send_ready_pop(struct send_msgs *ms, long long now);
void send_ready_remove(struct send_msgs *ms, struct send_msg *m);
/* The earliest wake time, INT64_MAX when empty. */
long long send_ready_next(const struct send_msgs *ms);

/* ---- destinations at their limit (send_dest.c) ---- */
/* A message whose recipients met a destination at its dest_concurrency
 * limit waits in the destination's line until a job for it ends; it
 * stays in its ready heap too, for its own next event (a retry of its
 * other recipients, its expiry, its delay warning).  At most
 * ms->maxlines lines, one per destination at its limit. */
#define SEND_DEST_MAX 400       /* a destination's key (send_route_dest) */
struct send_dline;
struct send_dwait {             /* one customer's messages in a line */
	struct send_dline *line;
	struct send_cust *cust;
	struct send_msg *head, *tail; /* in the order they met the limit */
	struct send_dwait *next;  /* the line's customers, a ring */
};
struct send_dline {
	char dest[SEND_DEST_MAX];
	struct send_dwait *turn;  /* the customer whose turn is next; NULL:
				   * the slot is free */
	int released;             /* a job for dest ended: serve the line */
};
/* m waits in dest's line (keeping its place when it is there already;
 * leaving any other).  -1 when no line can be had (every slot taken, no
 * memory): the caller tries it again a second later. */
int send_dest_wait(struct send_msgs *ms, struct send_msg *m,
		   const char *dest);
/* 1 when m waits in dest's line. */
int send_dest_waits(const struct send_msg *m, const char *dest);
/* m leaves its line, if any (it got its job, needs none, or is freed). */
void send_dest_leave(struct send_msgs *ms, struct send_msg *m);
/* A job for dest ended: the next pass serves its line. */
void send_dest_released(struct send_msgs *ms, const char *dest);
/* The message to serve next, from the lines released since they were
 * last served (from *cursor on), while room(dest) says the destination
 * has room (1; 0: full, the line waits for the next release; -1: no
 * worker for dest now, the line stays due).  It stays in its line until
 * it leaves. */
struct send_msg *send_dest_next(struct send_msgs *ms,
				int (*room)(const char *dest), size_t *cursor);

/* ---- pickup of new/ (send_watch.c) ---- */
#define SEND_WATCH_NEW 1    /* a message came, left or came back */
#define SEND_WATCH_LOST 2   /* events were lost: scan new/ */
#define SEND_WATCH_RULES 4  /* the rules file may have been replaced */
#define SEND_WATCH_FLUSH 8  /* queue/flush was touched */
/* An inotify fd watching new/, or -1 (then scan). */
int send_watch_open(const char *qdir);
/* Also watch the rules file and qdir/flush (by their directories) on
 * fd; returns send_watch_watching(). */
int send_watch_files(int fd, const char *rules, const char *qdir);
/* SEND_WATCH_RULES, SEND_WATCH_FLUSH: which of the two are watched now
 * (the others must be looked at on every wake-up). */
int send_watch_watching(void);
/* Load what arrived, mark what left; a mask of SEND_WATCH_* saying
 * what happened. */
int send_watch_read(int fd, struct send_msgs *ms, const char *qdir);

/* ---- DSN (send_dsn.c) ---- */
struct send_dsn_rcpt {
	const char *addr;
	int code;             /* SMTP code, 0 when none */
	const char *text;     /* the reply text (or reason) */
	const char *relay;    /* "host[ip]:port" or "" */
	long long last;       /* time of the last attempt, 0 when none yet */
	const char *orcpt;    /* ORCPT as sent ("rfc822;a+2Bb@c"), or NULL */
	long long expired;    /* failed by queue_lifetime at that time (code,
				 text and last: the last attempt's), or 0 */
};
struct send_dsn {
	int delayed;          /* 1: Action delayed (warning), 0: failed */
	int relayed;          /* 1: Action relayed (success), not delayed */
	const char *reporting_mta, *qid, *to;
	const char *envid;    /* ENVID as sent (xtext), or NULL */
	long long arrival, now, retry_until;
	const struct send_dsn_rcpt *rcpt;
	size_t nrcpt;
	const char *headers;  /* the original header block (CRLF lines) */
	size_t headers_len;
	int full;             /* headers is the whole message (RET=FULL):
				 message/rfc822, else text/rfc822-headers */
	int utf8;             /* the message came under SMTPUTF8 (RFC 6531):
				 its header block may be UTF-8 (RFC 6532) */
};
/* The reason given for a recipient no attempt has reached yet (a delay
 * warning can go before the first attempt: a held message, a busy
 * destination): the relay's own queue is the congestion (RFC 3463
 * 4.4.5). */
#define SEND_DSN_NOT_TRIED "4.4.5 not attempted yet: waiting in the " \
			   "relay's queue for a delivery slot"
/* The RFC 3464 status "x.y.z" for a result: the enhanced code at the
 * start of text, else derived from the SMTP code. */
void send_dsn_status(int code, const char *text, int delayed, char *buf,
		     size_t n);
/* 1 when d's notice is internationalised (RFC 6533): an address it
 * names is not ASCII, or the message came under SMTPUTF8 and what the
 * notice copies of it has 8-bit bytes.  Its parts are then
 * message/global-delivery-status and message/global (or
 * message/global-headers), and it must go under SMTPUTF8 itself. */
int send_dsn_global(const struct send_dsn *d);
/* Compose the whole DSN message (CRLF lines); malloc'd, NULL on ENOMEM. */
char *send_dsn_compose(const struct send_dsn *d, size_t *len);
/* Read the header block of the message in a queue file (at most max
 * bytes); malloc'd, "" when unreadable.  whole: the whole message
 * instead (max must be at least its size). */
char *send_dsn_headers(const char *path, off_t body, size_t max,
		       size_t *len, int whole);

/* ---- injection (send_inject.c) ---- */
/* Inject msg with envelope (from, one rcpt, info "dsn=<kind>", and
 * "smtputf8=yes" when smtputf8: msg is internationalised, RFC 6531/6532)
 * through run/queue.sock within cf.inject_timeout; 0 with the new qid,
 * or -1 with a reason (nothing queued unless relay-queue was committing
 * it as the time ran out: then the caller's next try sends it again). */
int send_inject(const char *msg, size_t len, const char *from,
		const char *rcpt, const char *kind, int smtputf8, char *qid,
		size_t qidsz, char *err, size_t errsz);

/* ---- TLS-RPT (send_tlsrpt.c), with cf.tls_rpt ---- */
/* Keep one record of a result frame (lib/tlsrpt.h line form). */
void send_tlsrpt_note(const char *line);
/* At the end of a tls_rpt_period: report its records. */
void send_tlsrpt_tick(long long now);
/* When the next tick is due (the loop wakes for it); 0: none. */
long long send_tlsrpt_next(void);
/* Have relay-remote POST a report to an https: rua (not waited for). */
void send_tlsrpt_post(const char *url, const char *json, size_t len);

/* ---- bounces (send_bounce.c) ---- */
/* 1 when m is a bounce: its sender is <>, or was <> at the client and
 * policy rewrote it (null_sender=yes, admit.h).  Nobody is told about
 * it but postmaster: no delay warning, no success notice. */
int send_bounce_is_null(const struct send_msg *m);
/* All recipients final: send the bounce for the B recipients that asked
 * for one (NOTIFY: FAILURE, or none given) if one is due.
 * 0 when nothing more is needed (the message may be removed), -1 to try
 * again later. */
int send_bounce_final(const char *qdir, struct send_msg *m);
/* At start: warn when relay.conf's postmaster is postmaster@hostname and
 * no relayhost or route covers it (under MX it comes back to us). */
void send_bounce_check_postmaster(struct rcdb *db);
/* Send the delay warning once when it is due, to the recipients that
 * asked for one (NOTIFY: DELAY, or none given). */
void send_bounce_warn(const char *qdir, struct send_msg *m, long long now);
/* The success notice (Action: relayed, RFC 3461 5.2.2) for n recipients
 * just delivered to a server without DSN that asked NOTIFY=SUCCESS; 0,
 * or -1 when it could not be queued (the caller records it owed). */
int send_bounce_relayed(const char *qdir, struct send_msg *m,
			const struct send_dsn_rcpt *r, size_t n);
/* The success notices owed (R lines: send_bounce_relayed failed), as one
 * notice, then an S line; 0 when none is owed (any more), -1 when it
 * could not be queued: try again later, the message kept. */
int send_bounce_owed(const char *qdir, struct send_msg *m, long long now);

/* ---- workers (send_worker.c, send_worker_result.c) ---- */
struct send_worker;
void send_worker_init(void);
/* Reconnect workers that are due; returns the ms until the next try. */
long send_worker_connect(long long now);
/* Add the fds to watch to pfd (returns how many), and handle readiness. */
size_t send_worker_pollfds(struct pollfd *pfd, size_t max);
/* Results wake their message (send_ready_set); returns how many jobs
 * ended (each may have renamed or unlinked its message). */
int send_worker_events(struct send_msgs *ms, const struct pollfd *pfd,
		       size_t n, long long now);
/* Send a job (recipients idx[0..n) of m to route r); 0 sent, -1 when no
 * worker is idle and none busy with dest has room, -2 when dest is at
 * its concurrency limit, -3 when m's file cannot be opened (gone). */
int send_worker_dispatch(struct send_msgs *ms, struct send_msg *m,
			 const struct send_route *r, const char *dest,
			 const size_t *idx, size_t n);
/* What send_worker_dispatch would find for a job for dest: 1 a worker,
 * 0 dest at its limit, -1 no worker. */
int send_worker_dest_room(const char *dest);
/* Kill jobs past their deadline (their recipients become T). */
void send_worker_timeouts(struct send_msgs *ms, long long now);
/* Workers without a job; workers that can take one more. */
int send_worker_idle(void);
int send_worker_room(void);

/* ---- metrics (send_metrics.c, lib/metrics.h) ---- */
/* send_abuse.c: one recipient's result of the job under way, then the
 * job's signal to relay-queue (lib/abuse.h) for its message. */
void send_abuse_result(char st, int code, const char *text, const char *rcpt);
void send_abuse_flush(const struct send_msg *m);
/* Write the signals held since the last call (before the loop waits). */
void send_abuse_send(void);
/* Claim the "other" destination series before any destination can fill
 * the family's bound (a later claim would be refused: lost counts). */
void send_metrics_start(void);
/* recipient i of m got result st ('D', 'T', 'B') at now */
void send_metrics_result(const struct send_msg *m, size_t i, char st,
			 long long now);
/* the queue's gauges, at most once a second: 0 when skipped (owed) */
int send_metrics_queue(const struct send_msgs *ms, long long now);

/* ---- loop (send_loop.c) ---- */
int send_loop_run(void);
/* One scheduling pass over the messages due (the ready heap); returns
 * the time of the next due event (at most now + 60). */
long long send_loop_pass(struct send_msgs *ms, struct rcdb *db,
			 long long now);

#endif
