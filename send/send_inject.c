/* send_inject.c: relay-send writes nothing into new/ itself (relay-queue
 * is its only writer): bounces and delay warnings go through
 * run/queue.sock like any message from relay-smtpd, op=inject with the
 * message and envelope pipes attached.
 *
 * One injection, from the request to the answer, takes at most
 * inject_timeout seconds: relay-send's loop waits for it, so a
 * relay-queue that stopped answering must not hold every delivery up.
 * Past the deadline the notification counts as not queued (the caller
 * tries it again later) and relay-send hangs up, which relay-queue takes
 * for an abandoned injection: it queues nothing of it (queue_job.c).
 * After a timeout, the injections of the next inject_timeout seconds
 * fail at once instead of waiting out one deadline each.  The loop may
 * wait longer than daemon_hang_timeout: notify_wait_fd beats meanwhile
 * (lib/notify.h; its deadlines are send_worker_ms, the same monotonic
 * clock); a relay-queue that hangs is relay-master's to find. */
#include "send.h"
#include "send_worker.h"
#include "kv.h"
#include "notify.h"
#include "ns.h"
#include "runsock.h"
#include "settings.h"
#include "usock.h"
#include "wire_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* send_worker_ms until which injections are not tried: relay-queue let
 * the last one run out of time. */
static long long inj_quiet_until;

/* "I dsn=kind", "I smtputf8=yes" when asked, "F from", "T rcpt", "" as
 * NUL-terminated fields; 0 when they do not fit. */
static size_t inj_envelope(char *buf, size_t n, const char *from,
			   const char *rcpt, const char *kind, int smtputf8)
{
	size_t at = 0;
	int k = snprintf(buf, n, "Idsn=%s%c", kind, 0);

	if (k < 0 || (size_t)k >= n)
		return 0;
	at = (size_t)k;
	if (smtputf8) {
		k = snprintf(buf + at, n - at, "I%s=%s%c", QFILE_INFO_SMTPUTF8,
			     QFILE_INFO_YES, 0);
		if (k < 0 || (size_t)k >= n - at)
			return 0;
		at += (size_t)k;
	}
	k = snprintf(buf + at, n - at, "F%s%cT%s%c%c", from, 0, rcpt, 0, 0);
	return k < 0 || (size_t)k >= n - at ? 0 : at + (size_t)k;
}

/* The reply frame by the deadline: 1, 0 at the deadline, -1. */
static int inj_frame(struct ns_reader *rd, char **payload, size_t *len,
		     long long deadline)
{
	int rc;

	while ((rc = ns_reader_try(rd, payload, len)) == 0)
		if (notify_wait_fd(rd->fd, POLLIN, deadline) < 0)
			return errno == ETIMEDOUT ? 0 : -1;
	return rc;
}

/* Wait for the reply frame: status=, id=, text=. */
static int inj_reply(int sock, long long deadline, char *qid, size_t qidsz,
		     char *err, size_t errsz)
{
	struct ns_reader rd;
	struct kv_msg m;
	char *payload;
	size_t len;
	int rc = -1, got;

	if (ns_reader_init(&rd, sock) < 0)
		return snprintf(err, errsz, "out of memory"), -1;
	if ((got = inj_frame(&rd, &payload, &len, deadline)) == 0) {
		snprintf(err, errsz, "no reply from relay-queue within "
			 "inject_timeout (%ld s)", cf.inject_timeout);
		errno = ETIMEDOUT;
	} else if (got < 0 || kv_parse(&m, payload, len) < 0) {
		snprintf(err, errsz, "no reply from relay-queue");
		errno = EPROTO; /* it hung up: no timeout */
	} else if (strcmp(kv_get_or(&m, WIRE_QUEUE_STATUS, ""), "0") != 0) {
		errno = 0; /* an answer: no timeout */
		snprintf(err, errsz, "relay-queue: status %s: %s",
			 kv_get_or(&m, WIRE_QUEUE_STATUS, "?"),
			 kv_get_or(&m, WIRE_QUEUE_TEXT, ""));
	} else {
		snprintf(qid, qidsz, "%s", kv_get_or(&m, WIRE_QUEUE_ID, "?"));
		rc = 0;
	}
	ns_reader_free(&rd);
	return rc;
}

/* Request, envelope and message; 0, or -1 with err (errno ETIMEDOUT
 * when the deadline passed).  mp and ep: the pipes, closed by the
 * caller. */
static int inj_send(int sock, int mp[2], int ep[2], const char *env,
		    size_t elen, const char *msg, size_t len, long long deadline,
		    char *err, size_t errsz)
{
	char frame[64];
	size_t flen = ns_encode(frame, sizeof frame, WIRE_QUEUE_FRAME_INJECT,
				sizeof WIRE_QUEUE_FRAME_INJECT - 1);
	int fds[2];

	if (!elen || pipe2(mp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
	    fcntl(mp[1], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(ep[1], F_SETFL, O_NONBLOCK) < 0)
		return snprintf(err, errsz, "pipe: %s", strerror(errno)), -1;
	fds[0] = mp[0];
	fds[1] = ep[0];
	/* a fresh connection's socket buffer takes this short frame */
	if (usock_send_fds(sock, frame, flen, fds, 2) < 0)
		return snprintf(err, errsz, "send: %s", strerror(errno)), -1;
	close(mp[0]);
	close(ep[0]);
	mp[0] = ep[0] = -1;
	/* the envelope first: relay-queue checks it before it reads the
	 * message (and it fits in the pipe, env[] is that short); a refused
	 * one closes the message pipe (EPIPE): the answer says why */
	if (notify_write_fd(ep[1], env, elen, deadline) < 0 || close(ep[1]) < 0 ||
	    (ep[1] = -1, notify_write_fd(mp[1], msg, len, deadline) < 0 &&
			     errno != EPIPE)) {
		if (errno == ETIMEDOUT)
			snprintf(err, errsz, "relay-queue took no more of it "
				 "within inject_timeout (%ld s)",
				 cf.inject_timeout);
		else
			snprintf(err, errsz, "write: %s", strerror(errno));
		return -1;
	}
	close(mp[1]);
	mp[1] = -1;
	return 0;
}

int send_inject(const char *msg, size_t len, const char *from,
		const char *rcpt, const char *kind, int smtputf8, char *qid,
		size_t qidsz, char *err, size_t errsz)
{
	char path[PATH_MAX], env[1024];
	int sock, mp[2] = { -1, -1 }, ep[2] = { -1, -1 }, rc;
	size_t elen = inj_envelope(env, sizeof env, from, rcpt, kind,
				   smtputf8);
	long long now = send_worker_ms();
	long long deadline = now + cf.inject_timeout * 1000;

	if (now < inj_quiet_until)
		return snprintf(err, errsz, "not tried: relay-queue did not "
				"take the last one within inject_timeout "
				"(%ld s)", cf.inject_timeout), -1;
	runsock_path(RUNSOCK_QUEUE, path, sizeof path);
	sock = runsock_connect(RUNSOCK_QUEUE, path);
	if (sock < 0)
		return snprintf(err, errsz, "%s: %s", path, strerror(errno)), -1;
	rc = inj_send(sock, mp, ep, env, elen, msg, len, deadline, err, errsz);
	if (rc == 0)
		rc = inj_reply(sock, deadline, qid, qidsz, err, errsz);
	if (rc < 0 && errno == ETIMEDOUT)
		inj_quiet_until = send_worker_ms() + cf.inject_timeout * 1000;
	/* the socket before the message pipe: relay-queue, finding the
	 * pipe's end with nobody on the socket, queues nothing of it */
	close(sock);
	for (int i = 0; i < 2; i++) {
		if (mp[i] >= 0)
			close(mp[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return rc;
}
