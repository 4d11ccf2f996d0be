/* queue.h: relay-queue, durable injection into the queue (the qmail-queue
 * contract: message on fd 0, envelope on fd 1, the verdict in the exit
 * status).  The modules:
 *   queue_env      envelope reading and parsing (hostile input)
 *   queue_spool    holding the message until the envelope has arrived
 *   queue_received the Received header and the RFC 5322 date
 *   queue_dkim     DKIM signing as the message streams in (libopendkim);
 *                  queue_dkim_hdr its header scanning, queue_dkim_keys
 *                  the rules.cdb lookup and the key files
 *   queue_dirs     queue directories, ids, the trigger FIFO
 *   queue_inject   one injection: envelope checks, tmp/<id> written
 *   queue_commit   group commit: fsync a batch of tmp/ files, rename them
 *                  all into new/, one fsync of new/ (a thread in the daemon;
 *                  queue_commit_sync its fsyncs, queue_name the answers
 *                  before the names and the naming thread)
 *   queue_seal     the seal of a file answered from pool/, recovery
 *   queue_pool     reused queue files
 *   queue_job      the daemon's injections, read without blocking
 *   queue_listen   the daemon: run/queue.sock, op=inject with two fds */
#ifndef QUEUE_H
#define QUEUE_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "abuse.h"
#include "admit.h"
#include "dkimkey.h"
#include "qfile.h"
#include "qreason.h"

#define QUEUE_ENV_MAX (32L * 1024 * 1024)  /* envelope bytes */
#define QUEUE_RCPT_MAX 100000
/* Bytes read from one descriptor before the daemon's loop looks at the
 * others: a pipe that never runs dry holds up no one. */
#define QUEUE_READ_STEP (1024 * 1024)

/* ---- envelope (queue_env.c) ---- */
/* Read fd until EOF into a malloc'd buffer; 0, or -1 (errno) on error
 * or when longer than QUEUE_ENV_MAX (errno EFBIG). */
int queue_env_read(int fd, char **buf, size_t *len);
/* Read what fd has now (non-blocking) onto *buf (len used, cap size);
 * 1 at EOF, 0 when it would block or after QUEUE_READ_STEP bytes, -1
 * (errno; EFBIG past QUEUE_ENV_MAX). */
int queue_env_feed(int fd, char **buf, size_t *len, size_t *cap);
/* The same for n bytes that came in a frame: 0, or -1 (EFBIG past
 * QUEUE_ENV_MAX, ENOMEM). */
int queue_env_append(char **buf, size_t *len, size_t *cap, const char *p,
		     size_t n);
/* Parse "I<k>=<v>\0"... "F<sender>\0" "T<rcpt>\0"... "\0" into q's info,
 * from and rcpt (pointers into buf, which must outlive q; q->hdr stays
 * NULL).  0, or -1 with a reason in err (a permanent failure). */
int queue_env_parse(char *buf, size_t len, struct qfile *q, char *err,
		    size_t errsz);

/* ---- spool (queue_spool.c) ---- */
struct queue_spool {
	char *mem;
	size_t len, cap;
	int fd;          /* overflow file (unlinked), -1 until needed */
	const char *dir; /* where the overflow file goes */
	off_t total;
	off_t max;       /* more is refused (EFBIG); 0: no limit */
	/* sees every byte as it is added (the DKIM signer), or NULL */
	void (*tap)(void *arg, const char *p, size_t n);
	void *tap_arg;
};
void queue_spool_init(struct queue_spool *s, const char *dir);
/* Read fd to EOF into the spool; 0, or -1 with errno. */
int queue_spool_fill(struct queue_spool *s, int fd);
/* Read what fd has now (non-blocking): 1 at EOF, 0 when it would block
 * or after QUEUE_READ_STEP bytes (poll, then call again), -1 with errno
 * (EFBIG past s->max). */
int queue_spool_feed(struct queue_spool *s, int fd);
/* n bytes of the message that came in a frame; 0 or -1 (EFBIG past
 * s->max). */
int queue_spool_add(struct queue_spool *s, const char *p, size_t n);
/* Write the spooled message to fd (at its current position), fed to
 * seal as well. */
struct queue_seal;
int queue_spool_copy(struct queue_spool *s, int fd, struct queue_seal *seal);
void queue_spool_free(struct queue_spool *s);
/* The same, keeping total (the size logged): once the queue file is
 * written the bytes are not needed, while the job may live on (in the
 * daemon until the client's next request, or a second). */
void queue_spool_drop(struct queue_spool *s);

/* ---- Received header (queue_received.c) ---- */
/* The Received header for q (info, rcpt) with id qid, CRLF-terminated
 * and folded; returns a malloc'd string or NULL. */
char *queue_received(const struct qfile *q, const char *hostname,
		     long long now);

/* ---- DKIM signing (queue_dkim.c, queue_dkim_hdr.c, queue_dkim_keys.c) ---- */
#define QUEUE_DKIM_HDR_MAX (256 * 1024) /* header section held to sign */
/* a failure's text: it names the key file, d= and the selector */
#define QUEUE_DKIM_ERR_MAX (DKIMKEY_PATH_MAX + 512)
struct dkim;                            /* libopendkim's handle */
struct queue_dkim {
	int state;                      /* DK_* in queue_dkim.c */
	char *hdr;                      /* the header section, until complete */
	size_t len, cap;
	char why[QUEUE_DKIM_ERR_MAX];   /* why unsigned, or the failure */
	int log_why;                    /* the reason is worth a log line */
	int cr, bol;                    /* line ends made CRLF, as sent */
	char domain[256], customer[64]; /* d=, and the domain's customer */
	int n;
	size_t hlen;                    /* header section kept for Ed25519 */
	struct dkim *h[DKIMKEY_SIGS_MAX];          /* RSA: libopendkim */
	struct queue_dkim_ed *ed[DKIMKEY_SIGS_MAX]; /* Ed25519: OpenSSL */
	char *key[DKIMKEY_SIGS_MAX];               /* Ed25519's PEM (a copy) */
	char *path[DKIMKEY_SIGS_MAX];              /* the key file, for errors */
	int alg[DKIMKEY_SIGS_MAX];
	long expire[DKIMKEY_SIGS_MAX];
	char selector[DKIMKEY_SIGS_MAX][DKIMKEY_SELECTOR_MAX + 1];
};
void queue_dkim_init(struct queue_dkim *d);
/* The next bytes of the message (a spool tap: arg is the queue_dkim). */
void queue_dkim_feed(void *arg, const char *p, size_t n);
/* The message is complete and q holds the envelope and the qid: the
 * DKIM-Signature header lines, CRLF-terminated, RSA first, into *sig
 * (malloc'd; NULL when the message is not to be signed, and why is
 * logged when it deserves it).  0, or -1 when signing failed (err). */
int queue_dkim_finish(struct queue_dkim *d, const struct qfile *q,
		      char **sig, char *err, size_t errsz);
void queue_dkim_free(struct queue_dkim *d);
/* Ed25519 signatures through OpenSSL (queue_dkim_ed.c says why). */
struct queue_dkim_ed;
struct queue_dkim_edsig {
	const char *domain, *selector;
	long expire;
	const char *const *sign, *const *over;  /* header names, NULL-ended */
};
struct queue_dkim_ed *queue_dkim_ed_new(void);
void queue_dkim_ed_body(struct queue_dkim_ed *e, const char *p, size_t n);
/* Sign: the header section hdr[0..hlen), the key in PEM; the
 * "DKIM-Signature: ...\r\n" lines (malloc'd), or NULL with err. */
char *queue_dkim_ed_sign(struct queue_dkim_ed *e, const char *hdr,
			 size_t hlen, const char *pem,
			 const struct queue_dkim_edsig *s, char *err,
			 size_t errsz);
void queue_dkim_ed_free(struct queue_dkim_ed *e);
/* Header scanning (pure): where the header section ends (the offset
 * past its empty line; from: bytes before it were searched already), or
 * -1 when not yet in buf; a message starting with an empty line has none. */
long queue_dkim_eoh(const char *buf, size_t len, size_t from);
/* The number of From: fields in the header section, the first one's
 * value unfolded into val (-1 when it does not fit). */
int queue_dkim_from(const char *hdr, size_t len, char *val, size_t valsz);
/* The signatures for the From: domain fromdom (lowercase) from
 * rules.cdb (dkim:<domain>, then dkim:.<parent>...): the d= domain, its
 * customer, up to DKIMKEY_SIGS_MAX sigs.  The number, 0 for none. */
int queue_dkim_lookup(const char *fromdom, char *domain, size_t dn,
		      char *customer, size_t cn, struct dkimkey_sig *sigs);
/* A key file's text (kept, read again when the file changed), or NULL
 * with why in err (the caller names the file). */
const char *queue_dkim_key(const char *path, char *err, size_t errsz);
/* The key in pem parsed: kept with the key file's text when pem is that
 * text (valid until the file is read again), else a new one with *owned
 * set (the caller frees it).  NULL when pem is no key. */
struct evp_pkey_st *queue_dkim_pkey(const char *pem, int *owned);

/* ---- directories, ids, trigger (queue_dirs.c) ---- */
/* Create queue/{tmp,new,state,hold} and the trigger FIFO when missing
 * (a non-root developer's run; relay-master creates them as root). */
int queue_dirs_ensure(const char *qdir);
/* A new id: seconds, microseconds, pid and a counter in uppercase hex. */
void queue_dirs_newid(char *id, size_t n);
/* Write one byte to qdir/trigger without blocking (no reader is fine). */
void queue_dirs_trigger(const char *qdir);
/* Remove tmp/ files older than age seconds: left by a crash (stage 2
 * of queue/QUEUE.md).  The daemon does it at start. */
void queue_dirs_sweep(const char *qdir, long long now, long age);
/* fsync a directory; 0 or -1. */
int queue_dirs_sync(const char *dir);
/* qdir/sub opened as a directory (O_CLOEXEC), or -1 with errno. */
int queue_dirs_open(const char *qdir, const char *sub);
/* 1 when dirfd/name (not followed) is the file st describes. */
struct stat;
int queue_dirs_same(int dirfd, const char *name, const struct stat *st);
/* The current time; one place so tests can use faketime. */
long long queue_now(void);

/* ---- injection (queue_inject.c) ---- */
struct queue_result {
	int status;         /* EXIT_DONE, EXIT_PERM, EXIT_TEMP */
	enum qreason reason; /* why not queued (qreason.h), on the wire */
	char qid[QFILE_ID_MAX];
	char text[256];
	char receipt[ADMIT_MAC_HEX + 1]; /* "" unless admitted by a proof */
};

/* One injection from its pipes to new/ (the daemon keeps many). */
struct queue_job {
	int msgfd, envfd;         /* the client's pipes, -1 once read */
	struct queue_spool sp;    /* the message */
	struct queue_dkim dk;     /* its signer, fed by the spool */
	char *env;                /* the envelope, parsed into q */
	size_t envlen, envcap;
	struct qfile q;
	int fd;                   /* tmp/<id>, written, not yet synced */
	char tmp[PATH_MAX];       /* its name: tmp/<id> or pool/<name> */
	int reused;               /* POOL_REUSED or POOL_DURABLE: a pool file,
				     cut to length when written */
	char seal[QFILE_SEAL_HEX + 1]; /* its seal, written at the commit */
	int sealed;               /* it was (queue_commit_sealed, decided once
				     at the commit: the flag it reads may
				     change meanwhile) */
	off_t oldsize;            /* its length before: no cut when shorter */
	int inl;                  /* frames on the connection instead of pipes:
				     JOB_MSG, JOB_ENV, JOB_DONE; 0 pipes */
	int dead;                 /* inline, failed: frames ignored to the end */
	struct queue_result r;
	long long deadline;       /* a stuck client is cut off (daemon) */
	void *owner;              /* the daemon's connection */
	int replyfd;              /* the commit thread answers here (daemon),
				     -1: the caller reads j->r (standalone) */
	int incommit;             /* handed to the commit (main thread's) */
	int wake;                 /* the main thread asked to be woken */
	atomic_int cstate;        /* COMMIT_DONE (answered: the main thread
				     may free it), COMMIT_WAKE (wake it then) */
	struct queue_job *next;   /* the commit lists */
	/* the archive copy (queue_archive.c): written with the message,
	   committed in its round; akind ARCHIVE_NONE (0) when none */
	int akind;
	int afd;                  /* written, not yet synced, or -1 */
	char atmp[PATH_MAX];      /* where it is written */
	char anew[PATH_MAX];      /* its name once committed */
	char aqid[QFILE_ID_MAX];  /* to an address: the copy's queue id */
	int aerr;                 /* its fsync's errno (the commit) */
	off_t msgoff, msgend;     /* the message in the written file */
	int scan_mode;            /* SCAN_* (queue_scan.c), the customer's */
	long scan_score;          /* scan=reject refuses at or above it */
	unsigned long long scan_since; /* handed to the scan (admit_now_ms):
				     about when relay-smtpd began to wait */
	int need_admit;           /* the peer must show relay-policy's proof */
	int admitted;             /* it did: admit_epoch, admit_seq */
	int checked;              /* envelope and proof checked */
	unsigned long long admit_epoch, admit_seq;
};
void queue_job_init(struct queue_job *j, int msgfd, int envfd);
/* Closes the pipes too; a written, uncommitted tmp/ file is removed. */
void queue_job_free(struct queue_job *j);
/* Write the answer "status= reason= id= text=" (reason only when there
 * is one, id only with a qid, receipt only when not NULL or "") to fd. */
void queue_job_reply(int fd, const struct queue_result *r,
		     const char *receipt);
/* The pipe the job waits on now, or -1 (in the commit). */
int queue_job_poll_fd(const struct queue_job *j);
/* Read what has arrived, the envelope first (checked, with the proof,
 * before a byte of the message is read): 0 wants more, 1 written (j->fd,
 * for the commit), -1 failed (j->r has the verdict). */
int queue_job_step(struct queue_job *j);
/* An inline injection ("op=inline"): message frames, an empty frame,
 * envelope frames, an empty frame.  One frame: as queue_job_step.  A
 * failure while frames still come is kept (j->dead) and returned at the
 * last frame, so that the connection stays in step. */
enum { JOB_MSG = 1, JOB_ENV, JOB_DONE };
int queue_job_frame(struct queue_job *j, const char *p, size_t n);
/* Envelope in (j->env): parse it and check the admission proof; 0 (then
 * j->checked), or -1 with the verdict in j->r. */
int queue_inject_check(struct queue_job *j);
/* Envelope in (j->env): checked (queue_inject_check, unless done), then
 * tmp/<id> created with the header, the Received header and the message
 * written (not synced).  0 with j->fd open, or -1 with the verdict in
 * j->r and nothing left behind. */
int queue_inject_write(struct queue_job *j);
/* A new queue file: a pool file when one is safe to use (*reused set,
 * its length in *oldsize), else tmp/<qid> (*reused POOL_NEW); a new id in
 * qid, the path in path.  The fd, or -1 with errno. */
enum { POOL_NEW, POOL_REUSED, POOL_DURABLE /* its name is on disk */ };
int queue_inject_open(char *qid, size_t qn, char *path, size_t pn,
		      off_t *oldsize, int *reused);
/* The queue's group (relay-send reads its files), or -1 when none is
 * set; and give a file that group: 0, or -1 with errno when it could not
 * (not being a member, a developer's run, counts as done). */
gid_t queue_inject_gid(void);
int queue_inject_group(int fd);
/* After the commit: log and wake relay-send (status 0), or log why not. */
void queue_inject_report(struct queue_job *j);
/* Read the message from msgfd and the envelope from envfd, queue it.
 * The exit status and reason are in r. */
void queue_inject(int msgfd, int envfd, struct queue_result *r);

/* ---- the archive copy (queue_archive.c, lib/archive.h) ---- */
/* When the message's customer has archive=: write its copy (j->afd,
 * j->atmp, j->anew) from pre (the signatures and Received header) and
 * the spooled message.  0 (also when there is none), or -1 (logged):
 * the injection then fails, so a 250 always means both exist. */
int queue_archive_write(struct queue_job *j, const char *pre);
/* Remove a written, uncommitted copy. */
void queue_archive_drop(struct queue_job *j);
/* The log line(s) of a committed copy. */
void queue_archive_report(const struct queue_job *j);

/* ---- admission (queue_admit.c, lib/admit.h) ---- */
/* Take the key relay-master handed over (admit_key_load's result). */
int queue_admit_init(void);
/* Tests: use this key. */
void queue_admit_set_key(const struct admit_key *k);
/* After the envelope is parsed: 0 when the injection may go on (its
 * provenance info now the proof's), or -1 with the verdict in j->r. */
int queue_admit_check(struct queue_job *j);
/* Once the queue id is known: the receipt for an admitted job. */
void queue_admit_receipt(struct queue_job *j);
/* Record proof (epoch, seq, made at ms) as used; -1 when it was, or is
 * too old to tell. */
int queue_admit_mark(unsigned long long epoch, unsigned long long seq,
		     unsigned long long ms);

/* ---- group commit (queue_commit.c) ---- */
/* Make a list of written jobs (j->fd, j->tmp) durable in new/: fsync every
 * file, rename them, one fsync of new/; each j->r says how it went and
 * j->fd is closed.  Blocking; the standalone program calls it with one. */
void queue_commit_batch(struct queue_job *list);
/* The parts of queue_commit_batch the daemon's naming (queue_name.c)
 * runs: new/, opened once; steps 3-4 for the jobs of list still under
 * way, with named files named in new/ by the caller (the fsync's errno,
 * or 0); a job's status 0 (its file closed: it is durable); log and
 * answer each job and mark it done (the main thread may then free it);
 * a job failed (111). */
int queue_commit_newdir(void);
/* 1 when a job is answered from its pool file (queue_name.c), so sealed:
 * its pool name is durable and it has no archive copy to name first. */
int queue_commit_sealed(const struct queue_job *j);
int queue_commit_name_rest(struct queue_job *list, int named);
void queue_commit_done_ok(struct queue_job *j);
void queue_commit_finish(struct queue_job *list);
void queue_commit_fail(struct queue_job *j, const char *what, int e);
/* Step 2 (queue_commit_sync.c): every file of list fsync'd side by
 * side; one whose fsync fails is failed, its file removed. */
void queue_commit_fsync(struct queue_job *list);
/* After a round's fsyncs (queue_name.c): a job sealed in a durable pool
 * file is answered at once and named in new/ by the naming thread, the
 * others named there and answered after the fsync of new/; the thread
 * is started by queue_commit_start, and retries a failed link when the
 * main loop's tick asks (once a second). */
void queue_name_round(struct queue_job *list);
int queue_name_start(void);
void queue_name_tick(void);
/* The daemon's commit threads: each finished job is logged and answered
 * on its replyfd by the thread that committed it (the main thread does not
 * wake per message), then marked done.  Returns the read end of a wake-up
 * pipe, readable when a job the main thread asked about is done, or -1. */
int queue_commit_start(void);
/* Hand a written job to the commit thread (from the main thread); with
 * wake, the wake-up pipe is written when it is done. */
void queue_commit_add(struct queue_job *j, int wake);
/* 1 when a job handed to the commit is done (answered: the main thread
 * may free it); else 0, and with wake set the wake-up pipe is written
 * when it is. */
enum { COMMIT_DONE = 1, COMMIT_WAKE = 2 };
int queue_commit_done(struct queue_job *j, int wake);

/* The same for a job that is already set up (queue_commit_add's
 * cstate): the scan threads hand on what they let through. */
void queue_commit_push(struct queue_job *j);
/* Log, answer and mark done a job that goes no further (refused after
 * it was written: its file is removed when the main thread frees it). */
void queue_commit_answer(struct queue_job *j);

/* ---- content scan (queue_scan.c, queue_rspamd.c) ---- */
enum { SCAN_OFF, SCAN_SCORE, SCAN_REJECT };
struct queue_rspamd_verdict {
	double score, required;
	char action[32];
	char symbols[512];  /* names that fired, comma-separated */
};
/* rspamd's JSON answer (pure; tests): 0, or -1 when it does not parse
 * or has no score. */
int queue_rspamd_parse(const char *json, size_t n,
		       struct queue_rspamd_verdict *v);
/* Ask rspamd at addr about bytes [off, end) of file, with q's envelope,
 * within timeout_ms: 0 with the verdict, -1 with err. */
int queue_rspamd_check(const char *addr, long timeout_ms, int file,
		       off_t off, off_t end, const struct qfile *q,
		       struct queue_rspamd_verdict *v, char *err, size_t es);
/* Start the scan threads when scan_rspamd is set; 0, or -1. */
int queue_scan_start(void);
/* ---- rules.cdb (queue_rules.c) ---- */
struct rcdb;
/* Open rules.cdb after the drop to user_queue; exits when it exists and
 * cannot be read. */
void queue_rules_open(void);
/* The rules, reloaded when makecdb replaced the file (main thread only). */
struct rcdb *queue_rules(void);

/* From the main thread, for a written job: 1 when it is to be scanned
 * (its customer's scan= or scan_default, and rspamd is configured):
 * then queue_scan_add instead of queue_commit_add. */
int queue_scan_wanted(struct queue_job *j);
void queue_scan_add(struct queue_job *j, int wake);

/* ---- abuse monitoring (queue_abuse*.c, lib/abuse.h) ---- */
#define AB_SAMPLES 5
enum { AB_OK, AB_ALERTED, AB_SUSPENDED };
enum { AB_MAIL_ALERT = 1, AB_MAIL_SUSPEND = 2 };
struct abuse_domain {               /* a receiving domain that refused */
	char name[ABUSE_DOMAIN_MAX];
	long long hour;             /* the hour of its last refusal */
};
struct abuse_acct {                 /* about 3.4 KiB */
	char key[ABUSE_KEY_MAX];    /* lib/abuse.h's account */
	char customer[64];
	int state, mail_due;
	long long alerted, suspended, last_mail, last_seen;
	long long hour;             /* the hour (Unix time / 3600) of the
				       newest bucket, index hour % 24 */
	unsigned spam[24], scanned[24];
	unsigned delivered[24], bounced[24], rejected[24]; /* relay-send's */
	unsigned bounced_msgs[24];  /* bounces once per message and domain */
	char reason[16];            /* what crossed the line: spam, ... */
	double baseline;            /* recipients tried per hour, a moving
				       average over about a day */
	long long since;            /* followed since: the baseline counts
				       after a whole day */
	char acked_by[128];         /* who acknowledged or released it */
	char samples[AB_SAMPLES][QFILE_ID_MAX]; /* the last spam's qids */
	unsigned nsample;
	char symbols[256];          /* the last spam verdict's symbols */
	/* the domains that refused for spam or policy, that bounced */
	struct abuse_domain rej_by[ABUSE_REJECT_DOMAINS];
	struct abuse_domain bnc_by[ABUSE_REJECT_DOMAINS];
	/* a sender: account's: the device of its evidence (a hash, 0 when
	 * none), the hour evidence last came from another (0: never) */
	unsigned long long from_dev;
	long long from_others;
};
/* Read abuse/accounts back (at start); make the state. */
int queue_abuse_start(void);
/* A scan thread's verdict for j: spam (at or over the customer's score)
 * or not, with rspamd's symbols. */
void queue_abuse_scanned(const struct queue_job *j, int spam,
			 const char *symbols);
/* relay-send's signal (lib/abuse.h ABUSE_WIRE_SIGNAL): a delivery job's
 * results for account (main thread). */
struct abuse_signal {
	const char *account, *customer, *qid;
	unsigned delivered, bounced, rejected;
	long bounced_msgs;          /* -1: not sent (an older relay-send) */
	const char *rejected_domains, *bounced_domains; /* "d,d", or NULL */
	const char *device;         /* a sender: account's device, or NULL */
};
void queue_abuse_delivery(const struct abuse_signal *s);
/* Once a second from the main thread: windows, decisions, files, mails. */
void queue_abuse_tick(void);
/* At the daemon's stop (main thread): the files written if they changed. */
void queue_abuse_stop(void);
/* relayctl abuse ack|release ACCOUNT (root on queue.sock). */
void queue_abuse_ctl(const char *action, const char *account,
		     const char *by, unsigned long uid, struct queue_result *r);
const char *queue_abuse_state_name(int st);
/* queue_abuse_over.c: the sum of 24 hourly buckets; the recipients
 * tried in hour; a's buckets and baseline moved up to now's hour; what
 * makes a over a threshold now ("spam", ..., "" when nothing). */
unsigned queue_abuse_sum(const unsigned *b);
unsigned queue_abuse_volume(const struct abuse_acct *a, long long hour);
void queue_abuse_advance(struct abuse_acct *a, long long now);
const char *queue_abuse_over(const struct abuse_acct *a, long long now);
/* queue_abuse_domains.c: an account's list of the receiving domains
 * that refused (ABUSE_REJECT_DOMAINS entries, the oldest replaced).
 * The names of csv ("d,d,...", relay-send's) refused in hour: the
 * number of names taken. */
unsigned queue_abuse_domains_add(struct abuse_domain *l, const char *csv,
				 long long hour);
/* How many of l refused in the 24 hours up to hour. */
unsigned queue_abuse_domains_count(const struct abuse_domain *l,
				   long long hour);
/* l as abuse/accounts keeps it ("DOMAIN:AGE,...", "-" when none) into
 * out (n bytes, cut to fit), and back from v (hour: the line's). */
void queue_abuse_domains_text(const struct abuse_domain *l, long long hour,
			      char *out, size_t n);
void queue_abuse_domains_load(struct abuse_domain *l, const char *v,
			      long long hour);
/* queue_abuse_sender.c: a sender: account's evidence came (also) from
 * device in hour. */
void queue_abuse_from_device(struct abuse_acct *a, const char *device,
			     long long hour);
/* 1 when a is a sender: account whose evidence of the 24 hours all came
 * from one device among ab[0..n), followed in a slot of its own, that
 * is over a threshold or suspended: its alert carries a's evidence, a
 * does not alert too. */
int queue_abuse_carried(const struct abuse_acct *a, struct abuse_acct *ab,
			size_t n, long long now);
/* 1 when sender: account a's evidence of its 24 hours all came from
 * device (an account). */
int queue_abuse_sent_by(const struct abuse_acct *a,
			const struct abuse_acct *device);
/* a's from_device and from_others words (" k=v k=v") into out, and
 * back from their values. */
void queue_abuse_from_text(const struct abuse_acct *a, char *out, size_t n);
void queue_abuse_from_load(struct abuse_acct *a, const char *dev,
			   const char *others, long long hour);
/* queue_abuse_file.c: the text of abuse/accounts and abuse/suspended
 * for a[] (made under the lock, written after it). */
struct abuse_buf { char *text; size_t len, cap; int failed; };
struct abuse_text { struct abuse_buf accounts, suspended; };
void queue_abuse_text(const struct abuse_acct *a, size_t n,
		      struct abuse_text *t);
/* Write (and free) t: abuse/suspended when susp, then abuse/accounts,
 * each for good; 0, or -1 when one was not written (logged). */
int queue_abuse_write(struct abuse_text *t, int susp);
/* Read abuse/accounts into *a (*cap slots, grown as needed): at most
 * max accounts, but every suspended one; then every line of
 * abuse/suspended makes its account suspended.  The number of accounts
 * abuse/suspended changed, or -1 when out of memory. */
int queue_abuse_load(struct abuse_acct **a, size_t *n, size_t *cap,
		     size_t max, long long now);
/* 1 when abuse/suspended names account now (as relay-policy reads it:
 * a file it cannot read names nothing), 0 when not, -1 out of memory. */
int queue_abuse_listed(const char *account);
/* queue_abuse_mail.c: pick (under the state's lock) the due accounts of
 * one admin address that was not mailed a moment ago, copies into out
 * (at most max; taken off due), that address into admin; how many.
 * mail queues the one mail naming them to admin, relay-queue writing it
 * itself (main thread); reap frees the ones the commit finished. */
size_t queue_abuse_mail_pick(struct abuse_acct *a, size_t n, long long now,
			     struct abuse_acct *out, size_t max,
			     char *admin, size_t an);
void queue_abuse_mail(const struct abuse_acct *a, size_t n,
		      const char *admin, long long now);
void queue_abuse_mail_reap(void);

/* ---- reused queue files (queue_pool.c) ---- */
/* Open pool/, watch it, keep what is there (and make some files when
 * there are few); 0, or -1 (no pool/: files are then made in tmp/ as
 * before).  New names are read when taking and by the tick, so nothing
 * is to be polled. */
int queue_pool_start(const char *qdir);
/* A pool file safe to overwrite, opened for writing, its path in path
 * and its present length in *size; -1 when there is none (then make a
 * new file). */
int queue_pool_take(const char *qdir, char *path, size_t n, off_t *size,
		    int *durable);
/* Once a second: read the new names, and an fsync of new/ when a waiting
 * name needs one. */
void queue_pool_tick(const char *qdir);
/* Every fsync of new/ is bracketed so that the pool knows which names
 * it made safe: begin returns the ticket that end is given on success. */
unsigned long queue_pool_dirsync_begin(void);
void queue_pool_dirsync_end(unsigned long ticket);
/* fsync pool/ itself when a name arrived since the last one (any
 * thread): only then is a name durable (POOL_DURABLE), so that a message
 * written into its file may be answered before it is named in new/.
 * 0, or -1 with errno. */
int queue_pool_sync(void);
/* 1 after an fsync of pool/ failed: nothing is answered from pool/
 * before its name in new/ until relay-queue restarts. */
int queue_pool_broken(void);
/* pool/, open once the pool has started, else -1. */
int queue_pool_dirfd(void);

/* ---- the seal (queue_seal.c; lib/qfile.h, QFILE_SEAL_*) ---- */
struct evp_md_ctx_st;
struct queue_seal {
	struct evp_md_ctx_st *md;
};
/* SHA-256 of a file as written (the seal's digits as zeros, as
 * qfile_format writes them); 0 or -1 (out of memory). */
int queue_seal_begin(struct queue_seal *s);
void queue_seal_add(struct queue_seal *s, const void *p, size_t n);
/* The digest as QFILE_SEAL_HEX hex digits and a NUL in hex; frees s. */
int queue_seal_end(struct queue_seal *s, char *hex);
/* A sealed file that will not be answered after all (its fsync failed):
 * the seal back to zeros before its name goes, so that a power cut that
 * brings the name back does not bring a message nobody was told about.
 * Best effort. */
void queue_seal_undo(int fd);
void queue_seal_free(struct queue_seal *s);
/* At start, for pool/<name>: a sealed message not yet named is linked
 * into new/<qid> (logged).  SEAL_POOL: a pool file; SEAL_NAMED: a second
 * name of a queued message (named now or before): unlink it once new/,
 * hold/ and pool/ are fsync'd; SEAL_UNNAMED: a sealed message whose link
 * failed (its qid in qid): the naming thread tries again; SEAL_LEAVE:
 * could not tell, or unsafe to touch: leave the file alone. */
enum { SEAL_LEAVE = -1, SEAL_POOL, SEAL_NAMED, SEAL_UNNAMED };
/* The prefix of a file set aside in pool/ (two names, one link counted):
 * a dot name, never taken for a pool file. */
#define SEAL_ASIDE ".left."
struct queue_seal_dirs {
	int pool, new, hold;
	ino_t *ino;   /* the inodes named in new/ and hold/, sorted */
	size_t nino;
};
/* Fill d->ino from new/ and hold/ (before the scan); 0, or -1: nothing
 * in pool/ may be touched then. */
int queue_seal_inodes(struct queue_seal_dirs *d);
void queue_seal_inodes_free(struct queue_seal_dirs *d);
int queue_seal_recover(const struct queue_seal_dirs *d, const char *name,
		       char *qid, size_t qn);
/* A message sealed in pool/<pool> whose link into new/<qid> failed at
 * start: the naming thread tries it again (queue_name.c). */
void queue_name_later(const char *pool, const char *qid);

/* ---- daemon (queue_listen.c) ---- */
/* Serve run/queue.sock until killed; privileges are dropped inside
 * after binding. */
int queue_listen_run(void);
/* queue_stop.c: SIGTERM ends the daemon from its main loop, once the
 * abuse files are written.  block: before any thread starts (they
 * inherit it); arm: in the main thread, the threads started; asked: 1
 * once SIGTERM came (looked at the top of every main loop pass); now:
 * the files written, dies of SIGTERM. */
void queue_stop_block(void);
void queue_stop_arm(void);
int queue_stop_asked(void);
void queue_stop_now(void);

#endif
