/* rstore_int.h: what lib/rstore_conn.c (the socket, deadlines, RESP) and
 * lib/rstore_open.c (connecting: sentinel, TLS, AUTH, SELECT) share.
 * Not for other parts: they use lib/rstore.h. */
#ifndef RSTORE_INT_H
#define RSTORE_INT_H

#include <hiredis/hiredis.h>

#include "io.h"
#include "rstore.h"

#define RETRY_MS 1000       /* no connect sooner after a failure */
#define REPLY_MAX (8 << 20) /* bytes one exchange may bring: a hostile or
			     * broken server cannot make us hold more */

struct rstore {
	struct rstore_addr a;
	char user[256], pass[512], ca[1024];
	int timeout_ms;
	int fd, up;
	struct io io;
	struct ssl_ctx_st *ctx;
	redisReader *rd;
	size_t reply_cost;    /* what the reply being read allocated */
	char *out;            /* appended commands */
	size_t outlen, outcap;
	int nout;
	int checked;          /* rsi_drop_stale looked for this batch */
	/* tags of commands sent without waiting (rstore_send), oldest
	 * first; their replies are read before any later one's */
	void **fly;
	long *fly_t;          /* when each was sent (ms, monotonic) */
	size_t fly_head, nfly, capfly;
	rstore_done_fn done;
	unsigned long serial;  /* connections made */
	unsigned long loaded[8]; /* the connection each script ran on */
	long deadline, retry_at;
	int broken;           /* the last xfer found the connection closed
				 before any reply */
	char err[512];
};

long rsi_now_ms(void);
int rsi_left_ms(const struct rstore *r);
int rsi_expired(const struct rstore *r);
/* r->err = fmt with arg and strerror(errno) (or "timed out"); -1 */
int rsi_fail(struct rstore *r, const char *fmt, const char *arg);
int rsi_connect_tcp(struct rstore *r, const char *host, int port);
int rsi_connect_unix(struct rstore *r);
/* the connected fd becomes r's: I/O, TLS to host, a reply reader */
int rsi_conn_setup(struct rstore *r, int fd, const char *host);
void rsi_conn_close(struct rstore *r);
/* close a kept connection that the server closed meanwhile: once for
 * a batch of commands (rstore_script_append_nowait looks before its
 * first, its rstore_send need not look again), until rsi_batch_done: the
 * batch sent or given up */
void rsi_drop_stale(struct rstore *r);
void rsi_batch_done(struct rstore *r);
/* send buf, read n replies into rep, before the deadline */
int rsi_xfer(struct rstore *r, const char *buf, size_t len, redisReply **rep,
	 int n);
/* a command sent without waiting: its tag, to be answered in order */
int rsi_fly_push(struct rstore *r, void *tag);
/* a reply reader whose objects are bounded as they are announced, and
 * what one reply's objects allocate in all (counted in *cost) */
redisReader *rsi_reader_new(size_t *cost);
/* one command, one reply */
int rsi_ask(struct rstore *r, redisReply **out, int argc, const char **argv);

#endif
