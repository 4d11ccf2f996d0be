/* remote.h: relay-remote, outbound SMTP delivery.  One worker per
 * relay-send connection takes job frames (ARCHITECTURE.md, send ↔ remote),
 * resolves the destination, speaks SMTP (STARTTLS, AUTH, PIPELINING) over
 * cached connections, and answers one result frame per job.  The modules:
 *   remote_job     job frame in, result frame out
 *   remote_reply   SMTP reply parsing (multiline, hostile input)
 *   remote_dot     dot-stuffing of the message body
 *   remote_qfile   the queue file: envelope header, then the message
 *   remote_dns     MX/A/AAAA lookups with libresolv (cf.resolver)
 *   remote_mx      MX ordering and the list of hosts to try
 *   remote_conn    TCP connect with a timeout, the connection cache
 *   remote_session greeting, EHLO/HELO, STARTTLS (or implicit TLS), AUTH
 *   remote_auth    upstream credentials (secrets/) and AUTH PLAIN/LOGIN
 *   remote_txn     MAIL/RCPT/DATA (or BDAT) with PIPELINING, reply mapping
 *   remote_deliver one job: hosts in order, cache, results, log lines
 *   remote_worker  the frame loop of one worker process */
#ifndef REMOTE_H
#define REMOTE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "addr.h"
#include "dns.h"
#include "io.h"
#include "kv.h"
#include "qfile.h"
#include "sts.h"
#include "tlsrpt.h"
#include "tls.h"

#define REMOTE_RCPT_MAX 1000    /* recipients in one job frame */
#define REMOTE_TEXT_MAX 512     /* reply text kept per recipient */
#define REMOTE_NAME_MAX 256     /* host names */
#define REMOTE_MX_MAX 32        /* MX records used: the most preferred */
#define REMOTE_ADDR_MAX 16      /* addresses per host */
#define REMOTE_TRIES_MAX 10     /* connection attempts per job */

/* ---- queue file (remote_qfile.c) ---- */
#define REMOTE_QFILE_READ 65536  /* the first read of a queue file */

struct remote_qfile {
	int fd;
	char sender[ADDR_MAX + 1];  /* "" for the null sender */
	off_t body_off;             /* first byte of the message */
	off_t body_size;
	char *buf;                  /* the first read: bytes [0, len) */
	size_t len;
	struct qfile hdr;           /* the header: DSN parameters (lib/dsn.h) */
	int bit8;                   /* 0 not looked, 1 7-bit, 2 8-bit data */
};

/* Open and read the envelope header (lib/qfile.h); -1 with err. */
int remote_qfile_open_fd(struct remote_qfile *q, int fd, char *err,
			 size_t errsz); /* fd is q's from now on */
int remote_qfile_open(struct remote_qfile *q, const char *path, char *err,
		      size_t errsz);
/* 1 when the whole message came with the first read (q->buf): it may
 * go as one BDAT chunk (remote_txn.c says when it does). */
int remote_qfile_small(const struct remote_qfile *q);
/* 1 when the message has a byte over 127 (read once, then kept); -1
 * when the file cannot be read. */
int remote_qfile_8bit(struct remote_qfile *q);
/* 1 when the client asked for SMTPUTF8 (lib/qfile.h's info field). */
int remote_qfile_smtputf8(const struct remote_qfile *q);
/* Put "BDAT <n> LAST" and the message into io (not flushed): CRLF lines
 * only, as on DATA, but not dot-stuffed.  Only for a small message. */
int remote_qfile_put_bdat(struct remote_qfile *q, struct io *io);
/* Stream the message with dot-stuffing and the final "." into io. */
int remote_qfile_send(struct remote_qfile *q, struct io *io);
/* The same without the final flush: more may follow in the same write. */
int remote_qfile_put(struct remote_qfile *q, struct io *io);
void remote_qfile_close(struct remote_qfile *q);

/* ---- job (remote_job.c) ---- */
enum remote_tls { REMOTE_TLS_MAY, REMOTE_TLS_ENCRYPT, REMOTE_TLS_VERIFY };

/* What DANE or MTA-STS ask of the MX host being tried (remote_sec.c);
 * NONE leaves the route's tls= alone. */
enum remote_sec_kind {
	REMOTE_SEC_NONE,
	REMOTE_SEC_DANE,        /* usable TLSA records: TLS authenticated by
				   them, or nothing (RFC 7672) */
	REMOTE_SEC_DANE_TLS,    /* TLSA records, none usable: TLS required,
				   not authenticated (RFC 7672 2.2) */
	REMOTE_SEC_STS,         /* MTA-STS enforce: TLS verified for the MX
				   name (RFC 8461 4.2) */
	REMOTE_SEC_STS_TESTING, /* MTA-STS testing: sent as usual, what
				   would have failed is logged */
};
#define REMOTE_TLSA_MAX 8

struct remote_sec {
	enum remote_sec_kind kind;
	size_t ntlsa;
	struct tls_tlsa tlsa[REMOTE_TLSA_MAX];
};

struct remote_rcpt {
	long index;               /* relay-send's index, echoed back */
	char addr[ADDR_MAX + 1];
	char status;              /* 0 pending, 'D', 'T', 'B' */
	int code;
	char text[REMOTE_TEXT_MAX];
	int nodsn;                /* D by a server without DSN while the
				     recipient asked NOTIFY=SUCCESS */
};

struct remote_job {
	char qid[64];
	int qfd;                  /* the queue file sent with the job, or -1 */
	char host[REMOTE_NAME_MAX]; /* "" = MX of domain */
	char via[REMOTE_NAME_MAX + 64]; /* the setting that chose host (log) */
	long port;                /* 0 = cf.smtp_port */
	enum remote_tls tls;
	char auth[64];            /* credential name under secrets/, "" none */
	int auth_unverified;      /* auth_tls=unverified: AUTH over any TLS */
	int tls_wrap;             /* implicit TLS: the handshake first, never
				     plain text, never STARTTLS */
	char domain[REMOTE_NAME_MAX];
	struct remote_rcpt *rcpt; /* malloc'd, nrcpt entries */
	size_t nrcpt;
	char relay[REMOTE_NAME_MAX + 80]; /* host[ip]:port of the last try */
	char tlsdesc[128];        /* "none" or version/cipher */
	time_t started;
	unsigned long seq;        /* this worker's job number, from 1 */
	struct remote_qfile q;    /* its queue file, when q_open */
	int q_open;               /* opened early: MAIL went out pipelined */
	int mx_secure;            /* the MX answer was DNSSEC-validated */
	int sts_on;               /* sts holds the domain's MTA-STS policy */
	size_t nrpt;              /* rpt[] used: a policy governed
				     (cf.tls_rpt) */
	struct remote_conn *keep; /* the connection the transaction ran
				     on, for remote_deliver_keep */
	/* The big parts (40 KiB) last: remote_job_parse clears what comes
	 * before file only.  Each of these is read only as far as a field
	 * above, or one set with it, says it holds something. */
	char file[4096];          /* set by remote_job_parse */
	struct sts_policy sts;    /* when sts_on */
	struct remote_sec sec;    /* for the host being tried now: kind
				     NONE from the parse, ntlsa set with
				     kind DANE */
	struct tlsrpt_rec rpt[REMOTE_TRIES_MAX]; /* TLS-RPT: each session;
						   the first nrpt */
};

/* Fill job from a parsed frame (qfd -1: the worker gives it the
 * descriptor that came with the frame); -1 with a reason in err when a
 * key is missing or malformed (the frame is then answered with an
 * error). */
int remote_job_parse(struct remote_job *job, const struct kv_msg *m,
		     char *err, size_t errsz);
void remote_job_free(struct remote_job *job);
/* Result frame: rcpt=<index> <D|T|B> <code> <text>, relay=, tls=.  It
 * always fits NS_MAX: the texts are cut to fit when they would not. */
void remote_job_result(const struct remote_job *job, struct kv *out);
/* Set every still-pending recipient to status/code/text. */
void remote_job_fail_pending(struct remote_job *job, char status, int code,
			     const char *text);
size_t remote_job_pending(const struct remote_job *job);
/* 1 when the operator chose job's next hop: a host they named
 * (job->host), or an MX of a domain they routed by name (route rcpt
 * <domain> ... mx).  Its certificate is verified against cf.tls_ca as
 * well as the system store, and it may be at a private address
 * (remote_private_refused). */
int remote_job_operator_hop(const struct remote_job *job);
/* 1 when a connection a recipient's domain chose must not go to a
 * private address (lib/ipaddr.h): remote_private_addresses = refuse and
 * no operator's hop.  job NULL: a connection no job is behind (the
 * https: rua of a TLS-RPT report), the domain's choice alone. */
int remote_private_refused(const struct remote_job *job);

/* ---- replies (remote_reply.c) ---- */
#define REMOTE_REPLY_LINES 64     /* more lines than this is hostile */

struct remote_reply {
	int code;                 /* 200..599, or 0 when none/broken */
	char text[2048];          /* lines after "NNN-"/"NNN ", '\n' between */
	size_t len, nlines;
};

/* Feed one line (terminator removed).  1 = more lines follow, 0 = the
 * reply is complete, -1 = malformed (bad code, codes that differ, too
 * many lines). */
int remote_reply_feed(struct remote_reply *r, const char *line, size_t len);
/* Read one whole reply from io: 0, or -1 (io error or malformed; then
 * r->code is 0 and r->text says why). */
int remote_reply_read(struct io *io, struct remote_reply *r);
/* "250 2.0.0 ok ..." on one line, cleaned for logs and frames. */
void remote_reply_line(const struct remote_reply *r, char *buf, size_t n);
/* 1 when r refuses a RCPT for "too many recipients" (RFC 5321
 * 4.5.3.1.10): a 452 or RFC 821's 552 with the enhanced code X.5.3, or a
 * 452 without an enhanced code. */
int remote_reply_too_many(const struct remote_reply *r);

/* ---- dot-stuffing (remote_dot.c) ---- */
struct remote_dot {
	int bol;                  /* at the start of a line */
	int cr;                   /* a CR was seen, its LF not yet */
	int raw;                  /* BDAT: line ends only, no dot-stuffing */
};

void remote_dot_init(struct remote_dot *d);
/* For a BDAT chunk: CRLF lines as DATA gets them, dots left alone. */
void remote_dot_init_raw(struct remote_dot *d);
/* Convert n bytes of message into SMTP DATA form (CRLF lines, leading
 * '.' doubled, bare LF or CR made CRLF); out needs 2*n+2 bytes.
 * Returns the bytes written. */
size_t remote_dot_stuff(struct remote_dot *d, const char *in, size_t n,
			char *out);
/* The end: a CRLF if the last line was open, then ".\r\n"; out needs 6. */
size_t remote_dot_end(struct remote_dot *d, char *out);
/* The end of a BDAT message: the CRLF alone; out needs 2. */
size_t remote_dot_tail(struct remote_dot *d, char *out);

/* ---- DNS (remote_dns.c, over lib/dns.h) ---- */

struct remote_mx {
	int pref;
	char name[REMOTE_NAME_MAX];
};

struct remote_ip {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char a[16];
};

enum dns_status remote_dns_mx(const char *domain, struct remote_mx *mx,
				     size_t max, size_t *n);
/* The same; *secure 1 when the answer was DNSSEC-validated (lib/dns.h). */
enum dns_status remote_dns_mx_sec(const char *domain, struct remote_mx *mx,
				  size_t max, size_t *n, int *secure);
/* A then AAAA (literal addresses too: "192.0.2.1", "[IPv6:::1]").
 * DNS_BADDATA when no address came and a record was malformed. */
enum dns_status remote_dns_addrs(const char *host, struct remote_ip *ip,
					size_t max, size_t *n);
void remote_ip_format(const struct remote_ip *ip, char *buf, size_t n);
/* ip and port as a socket address (remote_conn.c); its length. */
socklen_t remote_ip_sockaddr(const struct remote_ip *ip, long port,
			     struct sockaddr_storage *ss);
/* 1 when host is an address ("192.0.2.1", "[IPv6:::1]"), not a name. */
int remote_dns_is_literal(const char *host);

/* ---- MX ordering and targets (remote_mx.c) ---- */
/* Sort by preference; shuffle equal preferences with rnd(arg). */
void remote_mx_order(struct remote_mx *mx, size_t n,
		     unsigned (*rnd)(void *arg), void *arg);
/* Remove a null MX ("." target); returns 1 when the list was exactly a
 * null MX (RFC 7505: the domain accepts no mail). */
int remote_mx_null(struct remote_mx *mx, size_t *n);

struct remote_target {
	char name[REMOTE_NAME_MAX];
	long port;
	int pref;                 /* MX preference (0 for a fixed host) */
};

/* Hosts to try for job, in order.  0 with *n targets, or -1 after
 * setting every recipient's result (NXDOMAIN, null MX, DNS failure). */
int remote_mx_targets(struct remote_job *job, struct remote_target *t,
		      size_t max, size_t *n);

/* ---- connections and the cache (remote_conn.c) ---- */
#define REMOTE_EXT_PIPELINING 0x01
#define REMOTE_EXT_SIZE       0x02
#define REMOTE_EXT_STARTTLS   0x04
#define REMOTE_EXT_AUTH_PLAIN 0x08
#define REMOTE_EXT_AUTH_LOGIN 0x10
#define REMOTE_EXT_8BITMIME   0x20
#define REMOTE_EXT_SMTPUTF8   0x40
#define REMOTE_EXT_CHUNKING   0x80
#define REMOTE_EXT_DSN        0x100

struct remote_conn {
	int fd;
	struct io io;
	char host[REMOTE_NAME_MAX];
	char ip[64];
	long port;
	char key[REMOTE_NAME_MAX + 128]; /* host:port tls wrap auth: cache key */
	unsigned ext;
	long size_max;
	int esmtp;
	char tlsdesc[128];        /* "none" or tls_describe() */
	const char *rpt_fail;     /* TLS-RPT result type of a failure that
				     DANE or MTA-STS saw, or NULL */
	int tls_verified;         /* chain and name checked (tls=verify, or
				     a route with auth=): AUTH may go */
	long msgs;                /* transactions done on it */
	int broken;               /* out of step or failed: never reuse */
	int clean;                /* the last transaction ended with the
				     reply to its final dot: no RSET needed */
	unsigned long pre_seq;    /* job whose MAIL..DATA are on the wire
				     already (sent after the last dot) */
	time_t idle_since;
};

/* A failed step: what to report when nothing better comes. */
struct remote_err {
	char status;              /* 'T' or 'B' */
	int code;
	char text[REMOTE_TEXT_MAX];
};

void remote_err_set(struct remote_err *e, char status, int code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Connect to ip:port within cf.connect_timeout; NULL with e set. */
struct remote_conn *remote_conn_open(const struct remote_ip *ip,
				     const char *host, long port,
				     struct remote_err *e);
void remote_conn_close(struct remote_conn *c, int quit);
void remote_conn_key(char *buf, size_t n, const char *host, long port,
		     const struct remote_job *job);
/* A live cached connection for key (removed from the cache), or NULL.
 * One that carries job seq's commands already is taken as it is; one
 * that carries another job's is closed. */
struct remote_conn *remote_cache_take(const char *key, unsigned long seq);
/* After a transaction: RSET and keep, or QUIT when used up. */
void remote_cache_put(struct remote_conn *c);
/* Close connections idle for cf.conn_cache_idle; returns ms until the
 * next one expires, or -1 when the cache is empty. */
int remote_cache_expire(void);
void remote_cache_flush(void);

/* ---- session (remote_session.c) ---- */
enum remote_sess { REMOTE_SESS_OK, REMOTE_SESS_FAIL, REMOTE_SESS_PLAIN };

/* Greeting, EHLO/HELO, STARTTLS per job->tls (skipped when plain),
 * AUTH per job->auth.  FAIL: try the next host; PLAIN: the TLS handshake
 * failed under "may", reconnect and stay in plaintext.  With
 * job->tls_wrap the handshake comes first and the greeting inside it;
 * never PLAIN, never STARTTLS. */
enum remote_sess remote_session_open(struct remote_conn *c,
				     const struct remote_job *job, int plain,
				     struct remote_err *e);
/* The TLS client contexts, one trusting the system store, one the
 * system store and cf.tls_ca (remote_job_operator_hop): made by main
 * before the privilege drop, so a CA file only root can read works and
 * a bad one is found at startup.  -1 with err. */
int remote_session_tls_init(char *err, size_t errsz);
/* Send one command line and read its reply. */
int remote_session_cmd(struct remote_conn *c, struct remote_reply *r,
		       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parse EHLO keywords into c->ext and c->size_max. */
void remote_session_ehlo_ext(struct remote_conn *c, const struct remote_reply *r);

/* ---- DSN on delivery (remote_dsn.c) ---- */
/* " RET=... ENVID=..." for MAIL, or "" (the server has no DSN, or the
 * message no parameters); buf of at least 128 bytes. */
void remote_dsn_mail(const struct remote_conn *c, const struct remote_qfile *q,
		     char *buf, size_t n);
/* " NOTIFY=... ORCPT=..." for the RCPT of the queue file's recipient
 * index, or ""; buf of at least DSN_RCPT_TEXT + 16 bytes. */
void remote_dsn_rcpt(const struct remote_conn *c, const struct remote_qfile *q,
		     long index, char *buf, size_t n);
/* After r's result: r->nodsn when it was delivered to a server without
 * DSN and asked NOTIFY=SUCCESS (relay-send owes the "relayed" notice). */
void remote_dsn_delivered(const struct remote_conn *c,
			  const struct remote_qfile *q, struct remote_rcpt *r);

/* ---- AUTH (remote_auth.c) ---- */
struct remote_cred {
	char user[256];
	char pass[256];
};

/* Read secrets/<name>: regular file, ours, no group/other bits; line 1
 * user, line 2 password.  -1 with err. */
int remote_auth_load(const char *name, struct remote_cred *cr, char *err,
		     size_t errsz);
/* Authenticate on c with job->auth's credentials: only inside TLS, and
 * only when c->tls_verified unless job->auth_unverified; 0 or -1 with e
 * set. */
int remote_auth_run(struct remote_conn *c, const struct remote_job *job,
		    struct remote_err *e);

/* ---- transaction (remote_txn.c) ---- */
enum remote_txn_rc {
	REMOTE_TXN_DONE,          /* results set for every recipient */
	REMOTE_TXN_STALE,         /* cached connection was dead: retry fresh */
};

enum remote_txn_rc remote_txn_run(struct remote_conn *c,
				  struct remote_job *job,
				  struct remote_qfile *q, int cached);
/* Asked after DATA's 354: a job that may follow on c at once (its queue
 * file open): its MAIL/RCPT/DATA go out in the same write as this
 * message's dot (RFC 2920) and c->pre_seq names it.  NULL (the default,
 * or the hook returns NULL): nothing follows. */
extern struct remote_job *(*remote_txn_next)(struct remote_conn *c,
					     const struct remote_job *job);

/* ---- DANE and MTA-STS for MX deliveries (remote_sec.c) ---- */
/* 1 when DANE or MTA-STS may apply to job: an MX route (no fixed host)
 * under the route's default tls=may; any other tls= is the operator's
 * choice and wins over both. */
int remote_sec_applies(const struct remote_job *job);
/* Before the hosts: the domain's MTA-STS policy into job->sts. */
void remote_sec_job(struct remote_job *job);
/* job->sec for target t (DANE wins over MTA-STS, RFC 8461 2); -1 with e
 * when t must not be tried (its TLSA lookup failed, or an enforced
 * policy does not list it). */
int remote_sec_target(struct remote_job *job, const struct remote_target *t,
		      struct remote_err *e);

/* ---- MTA-STS policies (remote_sts.c, remote_sts_fetch.c) ---- */
/* The policy of domain (in any case: one domain): its TXT record, the
 * cache file and, when the record's id is new, a fetch (refuse_private:
 * remote_private_refused).  1 with p set, 0 when none applies. */
int remote_sts_get(const char *domain, int refuse_private,
		   struct sts_policy *p);
/* GET https://mta-sts.<domain>/.well-known/mta-sts.txt within
 * cf.mta_sts_timeout, never from a private address when refuse_private;
 * 0 with the body in buf (*len bytes), -1 with why. */
int remote_sts_fetch(const char *domain, int refuse_private, char *buf,
		     size_t max, size_t *len, char *why, size_t n);
/* POST body (len bytes, Content-Type ctype) to an https: URL (TLS-RPT
 * rua) within cf.mta_sts_timeout, never to a private address when
 * refuse_private; 0 on a 2xx, -1 with why (*code the HTTP status, 0
 * when none came). */
int remote_https_post(const char *url, int refuse_private, const char *ctype,
		      const char *body, size_t len, long *code, char *why,
		      size_t n);
/* A frame with WIRE_REMOTE_POST (the report attached as bodyfd, which
 * is closed): POST it and answer one frame on fd (remote_post.c). */
int remote_post_frame(int fd, const struct kv_msg *m, int bodyfd);
/* The TLS client context of remote_session_tls_init that trusts the
 * system store alone (MX hosts; its store also checks MTA-STS policy
 * servers and TLS-RPT's https: rua), or NULL. */
SSL_CTX *remote_session_ctx_public(void);

/* ---- one job (remote_deliver.c) ---- */
/* Deliver job and log its results; the connection it used is left in
 * job->keep for remote_deliver_keep. */
void remote_deliver_job(struct remote_job *job);
/* After the job's result frame is out: its connection back into the
 * cache, or closed (a QUIT when used up or evicted waits up to 2 s for
 * the server, an RSET a round trip: neither may hold the result up). */
void remote_deliver_keep(struct remote_job *job);


/* ---- worker (remote_worker.c) ---- */
/* Serve jobs from fd until EOF; returns the exit status. */
int remote_worker_run(int fd);
/* The next job when relay-send has sent it already (read without
 * waiting, kept for the worker's next turn), else NULL. */
struct remote_job *remote_worker_peek(void);
/* Seconds a job may take (below relay-send's deadline for it). */
long remote_worker_budget(void);

#endif
