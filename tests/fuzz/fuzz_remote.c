// links: send/remote_session.c send/remote_txn.c send/remote_dsn.c send/remote_qfile.c send/remote_dot.c send/remote_reply.c send/remote_job.c send/remote_conn.c send/remote_auth.c send/remote_dns.c tests/fuzz/instance.c
/* fuzz_remote.c: relay-remote against a hostile receiving server.  The
 * input is everything the server says (greeting, EHLO, replies to MAIL,
 * RCPT, DATA or BDAT and the dot), written to the client's socket before it
 * starts, then the server hangs up.  relay-remote runs the session and
 * the transaction as it would for a job; whatever the server said, every
 * recipient must end with a result whose status agrees with its code
 * (D 2xx, T 4xx, B 5xx) and whose text can go into a result frame and a
 * log line (no control characters), and nothing may overrun.
 *
 * Input: byte 0: bits 0-1 the number of recipients less one (1 to 3),
 * bit 2 the connection counts as cached; the rest is the server's
 * bytes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../send/remote.h"
#include "settings.h"
#include "instance.h"
#include "tls.h"

static char fz_qpath[64];

/* An instance with defaults and one small queue file, made once. */
static void fz_setup(void)
{
	static const char qf[] = "relaybox-queue 1\nqid=Q1\ntime=1\n"
				 "from=s@x.test\nrcpt=a@y.test\n\n"
				 "Subject: t\r\n\r\n.x\r\nbody\r\n";
	const char *dir;

	if (fz_qpath[0])
		return;
	dir = fuzz_instance("hostname = relay.test\n");
	fuzz_instance_file(dir, "Q1", qf);
	snprintf(fz_qpath, sizeof fz_qpath, "%s/Q1", dir);
}

static void fz_result_ok(const struct remote_rcpt *r)
{
	int cls = r->code / 100;

	if ((r->status == 'D' && cls != 2) || (r->status == 'T' && cls != 4) ||
	    (r->status == 'B' && cls != 5) || !strchr("DTB", r->status) ||
	    !r->status)
		abort();
	for (const char *t = r->text; *t; t++)
		if ((unsigned char)*t < ' ' || *t == 0x7f)
			abort();
}

/* The server's bytes go in first; the client may write its commands into
 * the socket's buffer, which nobody reads (a body of a few bytes). */
static int fz_conn(struct remote_conn *c, const uint8_t *data, size_t size)
{
	int sv[2], big = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	memset(c, 0, sizeof *c);
	c->fd = sv[0];
	io_init(&c->io, sv[0], sv[0], 1000);
	snprintf(c->host, sizeof c->host, "mx.test");
	snprintf(c->ip, sizeof c->ip, "192.0.2.1");
	c->port = 25;
	return sv[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remote_conn c;
	struct remote_job job;
	struct remote_rcpt rc[3];
	struct remote_qfile q;
	struct remote_err e;
	char err[256];
	int peer, cached;

	if (size < 1)
		return 0;
	fz_setup();
	memset(&job, 0, sizeof job);
	memset(rc, 0, sizeof rc);
	memset(&e, 0, sizeof e);
	job.rcpt = rc;
	job.nrcpt = (size_t)(data[0] & 3) % 3 + 1;
	job.tls = REMOTE_TLS_MAY;
	cached = (data[0] >> 2) & 1;
	for (size_t i = 0; i < job.nrcpt; i++)
		snprintf(rc[i].addr, sizeof rc[i].addr, "r%zu@y.test", i);
	peer = fz_conn(&c, data + 1, size - 1);
	if (remote_qfile_open(&q, fz_qpath, err, sizeof err) < 0)
		abort();
	if (!cached && remote_session_open(&c, &job, 1, &e) != REMOTE_SESS_OK) {
		remote_job_fail_pending(&job, e.status, e.code, e.text);
	} else if (remote_txn_run(&c, &job, &q, cached) == REMOTE_TXN_STALE) {
		if (!cached)
			abort(); /* only a cached connection may be stale */
		remote_job_fail_pending(&job, 'T', 421, "4.4.2 stale");
	}
	for (size_t i = 0; i < job.nrcpt; i++)
		fz_result_ok(&rc[i]);
	remote_qfile_close(&q);
	tls_end(&c.io);
	close(c.fd);
	close(peer);
	return 0;
}
