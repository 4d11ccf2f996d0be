// links: smtpd/smtp_*.c smtpd/listen_sock.c smtpd/listen_slots.c queue/queue_env.c tests/fuzz/instance.c
/* fuzz_smtpd.c: a whole relay-smtpd session on arbitrary client bytes.
 * The input is everything the client sends, written into a socketpair
 * before the session starts (pipelining and all), then the client hangs
 * up.  relay-policy and relay-queue are stubs on threads at the sockets
 * relay-smtpd connects to: policy accepts everything (a recipient that
 * starts with "r" is refused), queue takes every message.  Whatever the
 * client sends:
 * BDAT's size is filled in, so that mutations keep chunks whole: "BDAT ?"
 * becomes "BDAT <n>", n the bytes from the end of its line to the next
 * "BDAT " or the end of the input (a fixed number stays as it is).
 * - every reply line is "NNN " or "NNN-" (2xx-5xx) and ends in CRLF;
 * - every message relay-queue receives has CRLF line ends only (no bare
 *   CR or LF: SMTP smuggling) and ends in CRLF;
 * - the DSN parameters relay-smtpd took (RET, ENVID, NOTIFY, ORCPT) are
 *   never ones relay-queue refuses: each envelope's sender, recipients
 *   and DSN fields parse with relay-queue's own queue_env_parse;
 * - no "250 ... queued" is said for more messages than the queue got;
 * - and nothing overruns, leaks or hangs. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance.h"
#include "kv.h"
#include "ns.h"
#include "settings.h"
#include "usock.h"
#include "../../smtpd/smtp_session.h"
#include "../../queue/queue.h"

static int fs_queued;       /* messages the queue stub answered 0 */
static int fs_bad_message;  /* one of them broke the CRLF rule */
static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the stubs: one connection at a time each ---- */

static void fs_policy_answer(int fd, const struct kv_msg *m)
{
	const char *phase = kv_get_or(m, "phase", "");
	struct kv rep;

	if (!strcmp(kv_get_or(m, "noreply", ""), "1"))
		return;
	kv_init(&rep);
	if (!strcmp(phase, "auth")) {
		kv_add(&rep, "action", "reject");
		kv_add(&rep, "code", "535");
		kv_add(&rep, "esc", "5.7.8");
		kv_add(&rep, "text", "No.");
	} else if (!strcmp(phase, "rcpt") &&
		   kv_get_or(m, "rcpt", "")[0] == 'r') {
		kv_add(&rep, "action", "reject");
		kv_add(&rep, "code", "550");
		kv_add(&rep, "esc", "5.7.1");
		kv_add(&rep, "text", "Refused.");
	} else {
		kv_add(&rep, "action", "accept");
		if (!strcmp(phase, "mail")) {
			kv_add(&rep, "from", kv_get_or(m, "from", ""));
			kv_add(&rep, "customer", "fuzz");
		}
	}
	kv_send(&rep, fd);
	kv_free(&rep);
}

/* CRLF only, ending in CRLF (or empty). */
static int fs_crlf_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return n == 0 || (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
}

struct fs_qjob {
	int part;             /* 0 not in a job, 1 message, 2 envelope */
	char *msg, *env;
	size_t len, envlen;
};

/* The envelope's DSN parameters as relay-queue reads them: its sender,
 * recipients, N fields and dsn_ info fields alone (the other info fields
 * are policy's and the stub's) must parse.  An empty envelope is an
 * abort. */
static int fs_env_ok(const char *env, size_t len)
{
	char *keep = malloc(len + 1), err[128];
	size_t k = 0;
	struct qfile q;
	int ok;

	for (size_t i = 0; i < len;) {
		size_t n = strnlen(env + i, len - i);
		if (env[i] != 'I' || !strncmp(env + i, "Idsn_", 5)) {
			memcpy(keep + k, env + i, n + (i + n < len));
			k += n + (i + n < len);
		}
		i += n + 1;
	}
	ok = len == 0 || queue_env_parse(keep, k, &q, err, sizeof err) == 0;
	if (len)
		qfile_free(&q);
	free(keep);
	return ok;
}

static void fs_queue_frame(int fd, struct fs_qjob *j, char *p, size_t n)
{
	struct kv_msg m;

	if (!j->part) {
		if (kv_parse(&m, p, n) == 0 &&
		    !strcmp(kv_get_or(&m, "op", ""), "inline"))
			j->part = 1;
		return;
	}
	if (n == 0 && j->part == 1) {
		j->part = 2;
		return;
	}
	if (n == 0) {
		pthread_mutex_lock(&fs_lock);
		fs_bad_message |= !fs_crlf_ok(j->msg, j->len) ||
				  !fs_env_ok(j->env, j->envlen);
		fs_queued++;
		pthread_mutex_unlock(&fs_lock);
		ns_write(fd, "status=0\nid=FUZZ1\n", 18);
		free(j->msg);
		free(j->env);
		memset(j, 0, sizeof *j);
		return;
	}
	if (j->part == 1) {
		j->msg = realloc(j->msg, j->len + n);
		memcpy(j->msg + j->len, p, n);
		j->len += n;
	} else {
		j->env = realloc(j->env, j->envlen + n);
		memcpy(j->env + j->envlen, p, n);
		j->envlen += n;
	}
}

struct fs_stub {
	const char *name;
	int queue;            /* the queue's protocol, else policy's */
	int lfd;
};

static void fs_serve(const struct fs_stub *st, int fd)
{
	struct ns_reader rd;
	struct fs_qjob j = { 0 };
	char *p;
	size_t n;

	ns_reader_init(&rd, fd);
	while (ns_reader_next(&rd, &p, &n) == 1) {
		struct kv_msg m;
		if (st->queue)
			fs_queue_frame(fd, &j, p, n);
		else if (kv_parse(&m, p, n) == 0)
			fs_policy_answer(fd, &m);
	}
	free(j.msg);
	free(j.env);
	ns_reader_free(&rd);
	close(fd);
}

static void *fs_stub_run(void *arg)
{
	const struct fs_stub *st = arg;

	for (;;) {
		int fd = accept(st->lfd, NULL, NULL);
		if (fd >= 0)
			fs_serve(st, fd);
	}
	return NULL;
}

static void fs_setup(void)
{
	static struct fs_stub stubs[] = { { "policy.sock", 0, -1 },
					  { "queue.sock", 1, -1 } };
	static int done;
	char path[512];

	if (done++)
		return;
	/* the whole input is written before the greeting: with
	 * pipelining_strict every session would end there (554 5.5.0) */
	fuzz_instance("hostname = relay.test\nsmtp_timeout = 2\n"
		      "data_timeout = 2\nsession_timeout = 10\n"
		      "pipelining_strict = no\n");
	mkdir(cf.run_dir, 0755);
	for (size_t i = 0; i < 2; i++) {
		pthread_t t;
		snprintf(path, sizeof path, "%s/%s", cf.run_dir, stubs[i].name);
		stubs[i].lfd = usock_listen(path, 0600);
		if (stubs[i].lfd < 0 ||
		    pthread_create(&t, NULL, fs_stub_run, &stubs[i]) != 0)
			abort();
		pthread_detach(t);
	}
}

/* ---- the client side ---- */

/* The input with each "BDAT ?" given its chunk's size (see above);
 * *n is updated.  malloc'd. */
static char *fs_fill_bdat(const uint8_t *data, size_t *n)
{
	const char *in = (const char *)data, *end = in + *n, *p = in;
	char *out = malloc(*n + 1), *o = out;

	if (!out)
		abort();
	while (p < end) {
		const char *q = memmem(p, (size_t)(end - p), "BDAT ?", 6);
		const char *eol, *next;
		size_t len, grow;
		if (!q)
			break;
		memcpy(o, p, (size_t)(q - p) + 5);
		o += q - p + 5;
		p = q + 6;
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		eol = eol ? eol + 2 : end;
		next = memmem(eol, (size_t)(end - eol), "BDAT ", 5);
		len = (size_t)((next ? next : end) - eol);
		/* 18 digits at most; the '?' was one of them */
		grow = (size_t)(o - out) + 20 + (size_t)(end - p);
		{
			size_t off = (size_t)(o - out);
			out = realloc(out, grow + 1);
			if (!out)
				abort();
			o = out + off;
		}
		o += sprintf(o, "%zu", len);
	}
	memcpy(o, p, (size_t)(end - p));
	o += end - p;
	*n = (size_t)(o - out);
	return out;
}

struct fs_out {
	int fd;
	char *buf;
	size_t len;
};

static void *fs_drain(void *arg)
{
	struct fs_out *o = arg;
	char b[65536];
	ssize_t r;

	while ((r = read(o->fd, b, sizeof b)) > 0) {
		o->buf = realloc(o->buf, o->len + (size_t)r + 1);
		memcpy(o->buf + o->len, b, (size_t)r);
		o->len += (size_t)r;
	}
	return NULL;
}

/* Reply lines: "NNN" 200-599, then ' ' or '-' or the end, then CRLF. */
static void fs_replies_ok(const char *p, size_t n, int *nqueued)
{
	while (n) {
		const char *e = memchr(p, '\n', n);
		size_t len = e ? (size_t)(e - p) + 1 : n;
		if (!e || len < 5 || p[len - 2] != '\r' || p[0] < '2' ||
		    p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' ||
		    p[2] > '9' || (p[3] != ' ' && p[3] != '-' && len != 5))
			abort();
		if (len > 20 && !memcmp(p, "250 2.0.0 Ok: queued", 20))
			(*nqueued)++;
		p += len;
		n -= len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_peer peer = { .ip = "192.0.2.1", .port = "4000",
				  .localip = "192.0.2.25", .localport = "25" };
	struct fs_out out = { 0 };
	pthread_t t;
	int sv[2], big = 1 << 20, said = 0, before;
	char *in;

	fs_setup();
	in = fs_fill_bdat(data, &size);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	if (size && write(sv[0], in, size) != (ssize_t)size)
		abort();
	free(in);
	shutdown(sv[0], SHUT_WR);
	out.fd = sv[0];
	pthread_create(&t, NULL, fs_drain, &out);
	pthread_mutex_lock(&fs_lock);
	before = fs_queued;
	pthread_mutex_unlock(&fs_lock);
	smtp_session_run(sv[1], sv[1], &peer);
	close(sv[1]);
	pthread_join(t, NULL);
	close(sv[0]);
	fs_replies_ok(out.buf, out.len, &said);
	pthread_mutex_lock(&fs_lock);
	if (fs_bad_message || said > fs_queued - before)
		abort();
	pthread_mutex_unlock(&fs_lock);
	free(out.buf);
	return 0;
}
