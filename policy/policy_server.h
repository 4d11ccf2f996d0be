/* policy_server.h: relay-policy's daemon side: one connection per SMTP
 * session on run/policy.sock, served from one event loop
 * (policy_server.c), each request dispatched by phase (policy_phase.c). */
#ifndef POLICY_SERVER_H
#define POLICY_SERVER_H

#include <sys/types.h>

#include "kv.h"
#include "ns.h"
#include "policy_auth.h"
#include "policy_db.h"
#include "policy_decide.h"

struct policy_conn {
	int fd;
	struct ns_reader rd;
	struct policy_session s;
	struct rate_stxn *txn;
	struct policy_auth auth;   /* a password check in progress */
	int dead;
	/* smtpd closed its end (a reply found EPIPE): no more replies, but
	 * the frames it sent before closing are still read and served up to
	 * the end of the stream (a reset it wrote as it gave up) */
	int deaf;
	/* the transaction's recipients accepted so far (admit_rcpt_add), and
	 * the proof given at DATA, whose receipt a commit must show */
	unsigned char rcpts[ADMIT_HASH_LEN];
	int admitted;
	unsigned long long admit_seq;
	uid_t uid;                 /* the peer's (SO_PEERCRED) */
	int client_fd;             /* the client's socket, sent with
				      phase=connect, for it; -1 */
	/* a RCPT waiting for the shared rate store (rate_store.h): its
	 * socket is not read meanwhile; resume: answered, serve what the
	 * peer sent meanwhile */
	int store_wait, resume;
	char wait_rcpt[ADDR_MAX + 1];
	size_t idx;                /* its place in policy_server.c's table */
	int special;               /* counted as waiting on AUTH or the store */
};

struct policy_srv {
	struct policy_db db;
	int rate_ok;               /* counters file mapped */
	uid_t allow[3];            /* peers allowed to connect */
	int nallow;
	struct admit_key key;      /* none: no proofs, commits taken on trust */
	unsigned long long epoch;  /* random per start: proofs' and receipts' */
	unsigned long long seq;    /* the last proof's number */
	uid_t smtpd_uid;           /* must attach the client's socket */
	int smtpd_uid_known;
};

/* Handle one request frame; returns 0 when the reply is in rep, 1 when
 * it comes later (AUTH running: policy_phase_auth_done) or never (the
 * request said noreply=1), -1 to drop the peer (garbage). */
int policy_phase_handle(struct policy_srv *srv, struct policy_conn *c,
			char *payload, size_t len, struct kv *rep);
/* The shared store's verdict on c's waiting RCPT: build its reply. */
void policy_phase_rcpt_done(struct policy_srv *srv, struct policy_conn *c,
			    enum rate_verdict r, struct kv *rep);
/* The AUTH check of c finished: build its reply. */
void policy_phase_auth_done(struct policy_srv *srv, struct policy_conn *c,
			    struct kv *rep);

/* Queue admission (policy_admit.c): forget the transaction's recipients
 * and proof; add an accepted recipient; on an accepted DATA make the
 * proof (into v->admit); add it and the provenance it covers to the
 * reply; 1 when a commit may count (its receipt is relay-queue's for
 * this connection's last proof), else 0 (logged). */
void policy_admit_reset(struct policy_conn *c);
void policy_admit_rcpt(struct policy_conn *c, const char *rcpt);
void policy_admit_issue(struct policy_srv *srv, struct policy_conn *c,
			struct policy_verdict *v);
void policy_admit_reply(const struct policy_conn *c,
			const struct policy_verdict *v, struct kv *rep);
int policy_admit_commit(struct policy_srv *srv, struct policy_conn *c,
			const char *qid, const char *receipt);

/* The client's address (policy_peer.c).  init once at start; addr: the
 * peer of a TCP socket accepted on one of our listeners (or a privileged
 * port), 0 with its numeric address in ip, or -1 (logged); session_ip:
 * the address a phase=connect starts the session with: the kernel's for
 * the socket attached to it (closed then), "" when that is not believed
 * or relay-smtpd's uid sent none, else the claimed one (buf holds it). */
void policy_peer_init(void);
int policy_peer_addr(int fd, char *ip, size_t n);
const char *policy_peer_session_ip(struct policy_srv *srv,
				   struct policy_conn *c, const char *claimed,
				   char *buf, size_t n);

/* Listen on path and serve until a signal ends it; 0 or -1. */
int policy_server_run(struct policy_srv *srv, int lfd);

#endif
