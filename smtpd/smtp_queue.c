/* smtp_queue.c: handing a message to relay-queue (see smtp_queue.h). */
#include "smtp_queue.h"
#include "smtp_frame.h"
#include "io.h"
#include "kv.h"
#include "log.h"
#include "usock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The connection to relay-queue stays open from one message to the next
 * (and, in a pool worker, from one session to the next): many injections
 * may follow on one connection, one at a time.  It is dropped on any
 * error, so a reply that comes late can never be taken for the next
 * message's. */
static struct {
	int sock;            /* -1 when not connected */
	struct ns_reader rd;
} conn = { .sock = -1 };

static void conn_drop(void)
{
	if (conn.sock >= 0)
		close(conn.sock);
	conn.sock = -1;
	ns_reader_free(&conn.rd);
}

static int conn_open(const char *sockpath)
{
	conn.rd.buf = NULL;
	conn.sock = usock_connect(sockpath);
	if (conn.sock < 0) {
		log_warn("queue: connect %s: %s", sockpath, strerror(errno));
		return -1;
	}
	if (ns_reader_init(&conn.rd, conn.sock) < 0 || fd_nonblock(conn.sock) < 0) {
		conn_drop();
		return -1;
	}
	return 0;
}

/* Close the pipes; keep the connection only when the exchange ended on
 * a frame boundary (ok). */
static void job_close(struct smtp_queue_job *j, int ok)
{
	if (j->msgfd >= 0)
		close(j->msgfd);
	if (j->envfd >= 0)
		close(j->envfd);
	j->msgfd = j->envfd = -1;
	/* the last frame returned is still counted as pending */
	if (!ok || ns_reader_pending(&conn.rd) > conn.rd.consumed)
		conn_drop();
}

/* Send the inject frame with the two read ends attached. */
static int job_send(int msg_r, int env_r)
{
	char frame[64];
	const char payload[] = "op=inject\n";
	int fds[2] = { msg_r, env_r };
	size_t n = ns_encode(frame, sizeof frame, payload, sizeof payload - 1);

	return n ? usock_send_fds(conn.sock, frame, n, fds, 2) : -1;
}

/* Send on the kept connection; when that fails (relay-queue restarted
 * since), once more on a fresh one. */
static int job_request(const char *sockpath, int msg_r, int env_r)
{
	int kept = conn.sock >= 0;

	if (!kept && conn_open(sockpath) < 0)
		return -1;
	if (job_send(msg_r, env_r) == 0)
		return 0;
	conn_drop();
	if (!kept || conn_open(sockpath) < 0)
		return -1;
	if (job_send(msg_r, env_r) == 0)
		return 0;
	conn_drop();
	return -1;
}

int smtp_queue_open(struct smtp_queue_job *j, const char *sockpath)
{
	int mp[2] = { -1, -1 }, ep[2] = { -1, -1 }, rc = -1;

	j->msgfd = j->envfd = -1;
	if (pipe2(mp, O_CLOEXEC) == 0 && pipe2(ep, O_CLOEXEC) == 0 &&
	    job_request(sockpath, mp[0], ep[0]) == 0)
		rc = 0;
	else
		log_warn("queue: inject request: %s", strerror(errno));
	/* the read ends now live in relay-queue (or nowhere, on failure) */
	if (mp[0] >= 0)
		close(mp[0]);
	if (ep[0] >= 0)
		close(ep[0]);
	j->msgfd = mp[1];
	j->envfd = ep[1];
	if (rc < 0)
		job_close(j, 1);
	return rc;
}

/* Read the answer frame: status, id, text. */
static int job_answer(int timeout_ms, char *qid,
		      size_t qidsz, char *text, size_t textsz)
{
	static struct kv_msg m;
	char *payload;
	size_t len;
	const char *st, *id;

	if (smtp_frame_read(&conn.rd, timeout_ms, &payload, &len) != 1 ||
	    kv_parse(&m, payload, len) < 0 || !(st = kv_get(&m, "status")) ||
	    !*st || strspn(st, "0123456789") != strlen(st) || strlen(st) > 3) {
		log_warn("queue: no usable answer");
		return -1;
	}
	log_clean(text, textsz, kv_get_or(&m, "text", ""),
		  strlen(kv_get_or(&m, "text", "")));
	id = kv_get_or(&m, "id", "");
	log_clean(qid, qidsz, id, strlen(id));
	if (atoi(st) == 0 && !*qid)
		return -1; /* durable without a name is not an answer */
	return atoi(st);
}

int smtp_queue_finish(struct smtp_queue_job *j, const char *env, size_t n,
		      int timeout_ms, char *qid, size_t qidsz, char *text,
		      size_t textsz)
{
	int rc = -1;

	close(j->msgfd);
	j->msgfd = -1;
	qid[0] = text[0] = '\0';
	/* a queue that died makes this EPIPE (SIGPIPE is ignored) */
	if (io_write_all(j->envfd, env, n) < 0)
		log_warn("queue: writing the envelope: %s", strerror(errno));
	close(j->envfd);
	j->envfd = -1;
	rc = job_answer(timeout_ms, qid, qidsz, text, textsz);
	job_close(j, rc >= 0);
	return rc;
}

int smtp_queue_abort(struct smtp_queue_job *j, int timeout_ms, char *text,
		     size_t textsz)
{
	char qid[64];
	int st;

	close(j->msgfd);
	close(j->envfd);
	j->msgfd = j->envfd = -1;
	/* wait for the answer so the queue has cleaned up before the next
	 * message */
	text[0] = '\0';
	st = job_answer(timeout_ms, qid, sizeof qid, text, textsz);
	job_close(j, st >= 0);
	return st;
}

static void env_put(struct smtp_env *e, const char *p, size_t n)
{
	if (e->failed)
		return;
	if (e->len + n > e->cap) {
		size_t cap = (e->len + n) * 2 + 256;
		char *nb = realloc(e->buf, cap);
		if (!nb) {
			e->failed = 1;
			return;
		}
		e->buf = nb;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

void smtp_queue_env_add(struct smtp_env *e, char type, const char *key,
			const char *value)
{
	env_put(e, &type, 1);
	if (key) {
		env_put(e, key, strlen(key));
		env_put(e, "=", 1);
	}
	env_put(e, value, strlen(value) + 1); /* with its NUL */
}

void smtp_queue_env_end(struct smtp_env *e)
{
	env_put(e, "", 1);
}
