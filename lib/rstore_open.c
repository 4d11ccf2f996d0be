/* rstore_open.c: connecting to Redis (directly, over a unix socket, or
 * through Sentinel to the master of a named set), AUTH and SELECT, and
 * rstore_exec, the one exchange per decision. */
#include "rstore_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "settings.h"

/* AUTH [user] password, then SELECT db: pipelined, one round trip. */
static int hello(struct rstore *r, int sentinel)
{
	const char *argv[3] = { "AUTH" };
	char db[16], *cmd;
	redisReply *rep[2] = { 0 };
	int argc = 1, n = 0, rc;
	size_t len;

	if (*r->pass) {
		if (*r->user)
			argv[argc++] = r->user;
		argv[argc++] = r->pass;
		rstore_append(r, argc, argv, NULL);
		n++;
	}
	if (!sentinel && r->a.db) {
		snprintf(db, sizeof db, "%d", r->a.db);
		rstore_append(r, 2, (const char *[]){ "SELECT", db }, NULL);
		n++;
	}
	if (!n)
		return 0;
	cmd = r->out;
	len = r->outlen;
	r->out = NULL;
	r->outlen = r->outcap = 0;
	r->nout = 0;
	rc = rsi_xfer(r, cmd, len, rep, n);
	explicit_bzero(cmd, len);
	free(cmd);
	for (int i = 0; rc == 0 && i < n; i++)
		if (rep[i]->type == REDIS_REPLY_ERROR &&
		    !(sentinel && i == 0)) { /* a sentinel may need no AUTH */
			snprintf(r->err, sizeof r->err, "Redis refused %s: %s",
				 i == 0 && *r->pass ? "AUTH" : "SELECT",
				 rep[i]->str);
			rc = -1;
		}
	rstore_replies_free(rep, n);
	return rc;
}

static int open_at(struct rstore *r, const char *host, int port)
{
	int fd = r->a.kind == RSTORE_UNIX ? rsi_connect_unix(r)
					   : rsi_connect_tcp(r, host, port);

	if (fd < 0)
		return -1;
	if (rsi_conn_setup(r, fd, host) < 0) {
		rsi_conn_close(r);
		return -1;
	}
	return 0;
}

/* ROLE says master (a sentinel's answer may be a moment old). */
static int is_master(struct rstore *r)
{
	redisReply *rep = NULL;
	int ok;

	if (rsi_ask(r, &rep, 1, (const char *[]){ "ROLE" }) < 0)
		return 0;
	ok = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
	     rep->element[0]->type == REDIS_REPLY_STRING &&
	     !strcmp(rep->element[0]->str, "master");
	if (!ok)
		snprintf(r->err, sizeof r->err, "the sentinels' master for "
			 "%s is not (yet) a master", r->a.master);
	freeReplyObject(rep);
	return ok;
}

/* Ask sentinel i for the master's address. */
static int sentinel_ask(struct rstore *r, int i, char *host, size_t hsz,
			int *port)
{
	const char *argv[] = { "SENTINEL", "get-master-addr-by-name",
			       r->a.master };
	redisReply *rep = NULL;
	int rc = -1;

	if (open_at(r, r->a.host[i], r->a.port[i]) < 0)
		return -1;
	if (hello(r, 1) == 0 && rsi_ask(r, &rep, 3, argv) == 0) {
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[1]->type == REDIS_REPLY_STRING &&
		    strlen(rep->element[0]->str) < hsz) {
			strcpy(host, rep->element[0]->str);
			*port = atoi(rep->element[1]->str);
			rc = *port > 0 && *port < 65536 ? 0 : -1;
		}
		if (rc < 0)
			snprintf(r->err, sizeof r->err, "sentinel %s:%d does "
				 "not know master %s", r->a.host[i],
				 r->a.port[i], r->a.master);
		freeReplyObject(rep);
	}
	rsi_conn_close(r);
	return rc;
}

static int open_sentinel(struct rstore *r)
{
	char host[RSTORE_NAME_MAX];
	int port;

	for (int i = 0; i < r->a.nhosts && !rsi_expired(r); i++) {
		if (sentinel_ask(r, i, host, sizeof host, &port) < 0)
			continue;
		if (open_at(r, host, port) == 0 && hello(r, 0) == 0 &&
		    is_master(r))
			return 0;
		rsi_conn_close(r);
	}
	return -1;
}

static int conn_open(struct rstore *r)
{
	r->serial++;
	if (r->a.kind == RSTORE_SENTINEL)
		return open_sentinel(r);
	if (open_at(r, r->a.host[0], r->a.port[0]) < 0)
		return -1;
	if (hello(r, 0) < 0) {
		rsi_conn_close(r);
		return -1;
	}
	return 0;
}

int rstore_exec(struct rstore *r, redisReply **rep, int n)
{
	char *buf = r->out;
	size_t len = r->outlen;
	int rc = -1;

	r->out = NULL;
	r->outlen = r->outcap = 0;
	r->deadline = rsi_now_ms() + r->timeout_ms;
	rsi_drop_stale(r);
	rsi_batch_done(r);
	if (n != r->nout) {
		snprintf(r->err, sizeof r->err, "internal: %d replies for %d "
			 "commands", n, r->nout);
	} else if (r->fd < 0 && rsi_now_ms() < r->retry_at) {
		/* r->err still says why the last try failed */
	} else if (r->fd >= 0 || conn_open(r) == 0) {
		rc = rsi_xfer(r, buf, len, rep, n);
		/* a kept connection the server closed meanwhile (it restarted,
		 * or dropped an idle client): once more on a new one */
		if (rc < 0 && r->broken && !rsi_expired(r)) {
			rsi_conn_close(r);
			if (conn_open(r) == 0)
				rc = rsi_xfer(r, buf, len, rep, n);
		}
	}
	r->nout = 0;
	free(buf);
	if (rc < 0) {
		rsi_conn_close(r);
		if (!r->retry_at || rsi_now_ms() >= r->retry_at)
			r->retry_at = rsi_now_ms() + RETRY_MS;
		return -1;
	}
	r->up = 1;
	r->retry_at = 0;
	return 0;
}

int rstore_send(struct rstore *r, void *tag)
{
	char *buf = r->out;
	size_t len = r->outlen;
	int rc = -1;

	r->out = NULL;
	r->outlen = r->outcap = 0;
	r->nout = 0;
	r->deadline = rsi_now_ms() + r->timeout_ms;
	rsi_drop_stale(r);
	rsi_batch_done(r);
	if ((r->fd >= 0 || (rsi_now_ms() >= r->retry_at && conn_open(r) == 0))
	    && rsi_fly_push(r, tag) == 0) {
		r->io.timeout_ms = rsi_left_ms(r);
		if (io_put(&r->io, buf, len) == 0 && io_flush(&r->io) == 0) {
			rc = 0;
		} else {
			r->nfly--; /* not sent: done is not called for it */
			rsi_fail(r, "send to Redis%s: %s", "");
		}
	}
	free(buf);
	if (rc < 0) {
		r->io.out_len = 0;
		rsi_conn_close(r);
		if (!r->retry_at || rsi_now_ms() >= r->retry_at)
			r->retry_at = rsi_now_ms() + RETRY_MS;
	}
	return rc;
}

unsigned long rstore_conn_id(const struct rstore *r)
{
	return r->fd >= 0 ? r->serial : 0;
}

int rstore_drain(struct rstore *r)
{
	if (!r->nfly || r->fd < 0)
		return 0;
	r->deadline = rsi_now_ms() + r->timeout_ms;
	if (rsi_xfer(r, NULL, 0, NULL, 0) == 0)
		return 0;
	rsi_conn_close(r);
	r->retry_at = rsi_now_ms() + RETRY_MS;
	return -1;
}

const char *rstore_auth_path(int *old)
{
	struct stat st;

	*old = cf.rate_store_auth_old && lstat(cf.rate_store_auth, &st) < 0 &&
	       errno == ENOENT && lstat(cf.rate_store_auth_old, &st) == 0;
	return *old ? cf.rate_store_auth_old : cf.rate_store_auth;
}

struct rstore *rstore_from_settings(char *err, size_t errsz)
{
	struct rstore_addr a;
	char user[256], pass[512];
	struct rstore *r;
	int old;

	if (rstore_parse(cf.rate_store, &a, err, errsz) < 0)
		return NULL;
	if (a.kind == RSTORE_LOCAL) {
		snprintf(err, errsz, "rate_store is local");
		return NULL;
	}
	if (rstore_auth_load(rstore_auth_path(&old), user, sizeof user, pass,
			     sizeof pass, err, errsz) < 0)
		return NULL;
	r = rstore_new(&a, user, pass, cf.rate_store_ca,
		       (int)cf.rate_store_timeout);
	explicit_bzero(pass, sizeof pass);
	if (!r)
		snprintf(err, errsz, "out of memory");
	return r;
}
