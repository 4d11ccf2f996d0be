/* rstore.h: the client of a shared rate store on Redis (or Valkey), used
 * by relay-policy (policy/rate_store.c) and relayctl (stats, suspend).
 *
 * hiredis (Debian 12's libhiredis 0.14) gives the RESP pieces only: the
 * command encoder (redisFormatCommandArgv) and the reply parser
 * (redisReader).  The socket, its deadline and TLS are ours (lib/io.h,
 * lib/tls.h): relay-policy is one poll loop, each decision may wait at most
 * rate_store_timeout ms in all (connect, TLS, AUTH, the command), and 0.14
 * has neither hiredis_ssl nor a deadline that covers a whole exchange.
 *
 * rate_store URLs (rstore_parse):
 *   local
 *   redis://HOST:PORT[/DB]               rediss://HOST:PORT[/DB]  (TLS)
 *   redis+unix:///PATH[?db=DB]
 *   redis-sentinel://H1:P1[,H2:P2...]/MASTER[/DB]   rediss-sentinel://...
 * HOST may be [v6].  PORT defaults to 6379 (26379 for a sentinel). */
#ifndef RSTORE_H
#define RSTORE_H

#include <stddef.h>

#define RSTORE_HOSTS_MAX 8
#define RSTORE_NAME_MAX 256

enum rstore_kind { RSTORE_LOCAL, RSTORE_TCP, RSTORE_UNIX, RSTORE_SENTINEL };

struct rstore_addr {
	enum rstore_kind kind;
	int tls;
	int db;
	int nhosts;                          /* TCP: 1; SENTINEL: the sentinels */
	char host[RSTORE_HOSTS_MAX][RSTORE_NAME_MAX];
	int port[RSTORE_HOSTS_MAX];
	char path[RSTORE_NAME_MAX];          /* UNIX */
	char master[RSTORE_NAME_MAX];        /* SENTINEL: the master set's name */
};

/* Parse a rate_store value; 0, or -1 with a message in err. */
int rstore_parse(const char *url, struct rstore_addr *a, char *err,
		 size_t errsz);

/* The AUTH file: "user NAME" and "password SECRET" lines ('#' comments).
 * 0 (a missing file: no AUTH, both empty), -1 with err. */
int rstore_auth_load(const char *path, char *user, size_t usz, char *pass,
		     size_t psz, char *err, size_t errsz);

struct rstore;     /* one connection, reconnected on demand */
struct redisReply; /* hiredis */

/* A client for a; user/pass may be "" (no AUTH), ca for TLS ("" = the
 * system store), timeout_ms bounds each exchange.  NULL on ENOMEM. */
struct rstore *rstore_new(const struct rstore_addr *a, const char *user,
			  const char *pass, const char *ca, int timeout_ms);
void rstore_free(struct rstore *r);

/* Queue a command (argv with lengths; lens NULL = strlen) for the next
 * rstore_exec; -1 on ENOMEM. */
int rstore_append(struct rstore *r, int argc, const char **argv,
		  const size_t *lens);
/* Connect when needed (not more often than once a second after a
 * failure), send what was appended, read one reply per command into
 * rep[] (the caller frees them with rstore_replies_free), all within the
 * timeout.  0, or -1 (what was appended is dropped, the connection is
 * closed, the reason kept for rstore_error). */
int rstore_exec(struct rstore *r, struct redisReply **rep, int n);
void rstore_replies_free(struct redisReply **rep, int n);

/* Commands whose answer nobody waits for (a commit, a release): sent at
 * once, their replies read before the next exchange's (or by
 * rstore_drain), each handed to done(tag, reply) in order; reply NULL
 * when it was lost (Redis gone: the command may or may not have run).
 * done must not call into r; r frees the reply after it. */
typedef void (*rstore_done_fn)(void *tag, struct redisReply *rep);
void rstore_set_done(struct rstore *r, rstore_done_fn done);
/* Send what was appended without waiting: 0, or -1 (not sent; done is
 * not called for tag). */
int rstore_send(struct rstore *r, void *tag);
/* Read the replies of what was sent without waiting, up to the timeout;
 * 0, or -1 (the rest lost).  Commands in flight: rstore_inflight. */
int rstore_drain(struct rstore *r);
size_t rstore_inflight(const struct rstore *r);
/* For a poll loop: the socket while anything is in flight (else -1),
 * the ms left before the oldest one's timeout (-1: none), and a read of
 * what came without waiting (handed to done; past the timeout the
 * connection and what is in flight are lost: 0 or -1). */
int rstore_fd(const struct rstore *r);
long rstore_fly_left_ms(const struct rstore *r);
int rstore_poll(struct rstore *r);
/* Which connection is up (a number that changes at each connect), 0 for
 * none: what a script loaded on it is good for. */
unsigned long rstore_conn_id(const struct rstore *r);
/* The last failure ("connect 127.0.0.1:6379: Connection refused"). */
const char *rstore_error(const struct rstore *r);
/* 1 while connected and the last exchange worked. */
int rstore_up(const struct rstore *r);
/* Forget the connection and the retry pause: the next exec connects. */
void rstore_reset(struct rstore *r);
/* The AUTH file rstore_from_settings reads: rate_store_auth; or, when
 * that is the default DIR/rate_store.auth and absent, an older
 * install's secrets_dir/rate_store if there (*old = 1: relay-master
 * warns that it should move, lib/settings.h). */
const char *rstore_auth_path(int *old);
/* A client as above from relay.conf (rate_store, rate_store_auth or
 * rstore_auth_path's, rate_store_ca, rate_store_timeout); NULL with err
 * for "local" too. */
struct rstore *rstore_from_settings(char *err, size_t errsz);

#endif
