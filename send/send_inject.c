/* send_inject.c: relay-send writes nothing into new/ itself (relay-queue
 * is its only writer): bounces and delay warnings go through
 * run/queue.sock like any message from relay-smtpd, op=inject with the
 * message and envelope pipes attached. */
#include "send.h"
#include "io.h"
#include "kv.h"
#include "ns.h"
#include "runsock.h"
#include "settings.h"
#include "usock.h"
#include "wire_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* "I dsn=kind", "F from", "T rcpt", "" as NUL-terminated fields. */
static size_t inj_envelope(char *buf, size_t n, const char *from,
			   const char *rcpt, const char *kind)
{
	int k = snprintf(buf, n, "Idsn=%s%cF%s%cT%s%c%c", kind, 0, from, 0,
			 rcpt, 0, 0);
	return k < 0 || (size_t)k >= n ? 0 : (size_t)k;
}

/* Wait for the reply frame: status=, id=, text=. */
static int inj_reply(int sock, char *qid, size_t qidsz, char *err,
		     size_t errsz)
{
	struct ns_reader rd;
	struct kv_msg m;
	char *payload;
	size_t len;
	int rc = -1;

	if (ns_reader_init(&rd, sock) < 0)
		return snprintf(err, errsz, "out of memory"), -1;
	if (ns_reader_next(&rd, &payload, &len) != 1 ||
	    kv_parse(&m, payload, len) < 0) {
		snprintf(err, errsz, "no reply from relay-queue");
	} else if (strcmp(kv_get_or(&m, WIRE_QUEUE_STATUS, ""), "0") != 0) {
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

int send_inject(const char *msg, size_t len, const char *from,
		const char *rcpt, const char *kind, char *qid, size_t qidsz,
		char *err, size_t errsz)
{
	char path[PATH_MAX], env[1024], frame[64];
	struct timeval tv = { .tv_sec = 120 };
	int sock, mp[2] = { -1, -1 }, ep[2] = { -1, -1 }, rc = -1;
	size_t elen = inj_envelope(env, sizeof env, from, rcpt, kind);
	size_t flen = ns_encode(frame, sizeof frame, WIRE_QUEUE_FRAME_INJECT,
				sizeof WIRE_QUEUE_FRAME_INJECT - 1);

	runsock_path(RUNSOCK_QUEUE, path, sizeof path);
	sock = runsock_connect(RUNSOCK_QUEUE, path);
	if (sock < 0)
		return snprintf(err, errsz, "%s: %s", path, strerror(errno)), -1;
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (!elen || pipe2(mp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		goto out;
	}
	int fds[2] = { mp[0], ep[0] };
	if (usock_send_fds(sock, frame, flen, fds, 2) < 0) {
		snprintf(err, errsz, "send: %s", strerror(errno));
		goto out;
	}
	close(mp[0]);
	close(ep[0]);
	mp[0] = ep[0] = -1;
	/* the envelope first: relay-queue checks it before it reads the
	 * message (and it fits in the pipe, env[] is that short); a refused
	 * one closes the message pipe (EPIPE): the answer says why */
	if (io_write_all(ep[1], env, elen) < 0 || close(ep[1]) < 0 ||
	    (ep[1] = -1, io_write_all(mp[1], msg, len) < 0 && errno != EPIPE)) {
		snprintf(err, errsz, "write: %s", strerror(errno));
		goto out;
	}
	close(mp[1]);
	mp[1] = -1;
	rc = inj_reply(sock, qid, qidsz, err, errsz);
out:
	for (int i = 0; i < 2; i++) {
		if (mp[i] >= 0)
			close(mp[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	close(sock);
	return rc;
}
