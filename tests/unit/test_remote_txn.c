// links: send/remote_txn.c send/remote_dsn.c send/remote_qfile.c send/remote_dot.c send/remote_reply.c send/remote_job.c
/* test_remote_txn.c: the mail transaction against a scripted server (a
 * child process on a socketpair): reply mapping to D/T/B per recipient,
 * a 5xx/4xx at MAIL or DATA applying to all, PIPELINING in one write, no
 * body when no recipient was accepted, a lost connection, a dead cached
 * connection (STALE), what went over the wire, and whether the
 * transaction ended (reply to the dot: no RSET before the next one), and
 * whether the connection is broken (a reply missing or out of place: the
 * stream is out of step, never RSET or reused). */
#include "../../send/remote.h"
#include "t.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct script {
	const char *name;
	int pipelining, cached, nrcpt;
	const char *mail;        /* NULL: close at once */
	const char *rcpt[3];
	const char *data;
	const char *final;       /* NULL: close after the body */
	const char *want;        /* statuses, or "STALE" */
	int body_sent;
	unsigned ext;            /* more EHLO extensions */
	const char *addr0;       /* first recipient, when not r0@y.test */
	const char *wire_has;    /* must have gone over the wire */
	char step;               /* 'b': the reply stream is lost, the
				    connection broken; 'k': kept; 0: either */
};

static const struct script cases[] = {
	{ "pipelined ok", 1, 0, 2, "250 ok\r\n", { "250 a\r\n", "250 b\r\n" },
	  "354 go\r\n", "250 2.0.0 queued\r\n", "DD", 1, 0, NULL, NULL, 'k' },
	{ "pipelined MAIL 550 -> all B", 1, 0, 2, "550 5.7.1 no\r\n",
	  { "503 x\r\n", "503 x\r\n" }, "503 x\r\n", "", "BB", 0, 0, NULL, NULL, 0 },
	{ "pipelined MAIL 451 -> all T", 1, 0, 2, "451 4.3.0 later\r\n",
	  { "503 x\r\n", "503 x\r\n" }, "503 x\r\n", "", "TT", 0, 0, NULL, NULL, 0 },
	{ "pipelined rcpt mix", 1, 0, 3, "250 ok\r\n",
	  { "250 a\r\n", "550 5.1.1 no\r\n", "451 4.2.0 later\r\n" },
	  "354 go\r\n", "250 ok\r\n", "DBT", 1, 0, NULL, NULL, 0 },
	{ "no rcpt accepted: DATA refused", 1, 0, 2, "250 ok\r\n",
	  { "550 no\r\n", "550 no\r\n" }, "554 5.5.1 no valid recipients\r\n",
	  "", "BB", 0, 0, NULL, NULL, 0 },
	{ "no rcpt accepted: DATA 354 anyway", 1, 0, 1, "250 ok\r\n",
	  { "550 no\r\n" }, "354 go\r\n", "250 ok\r\n", "B", 0, 0, NULL, NULL, 0 },
	{ "DATA 451 -> T", 1, 0, 2, "250 ok\r\n", { "250 a\r\n", "250 b\r\n" },
	  "451 4.3.0 later\r\n", "", "TT", 0, 0, NULL, NULL, 0 },
	{ "DATA 250 is broken -> T", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "250 what\r\n", "", "T", 0, 0, NULL, NULL, 0 },
	{ "final 552 -> B", 1, 0, 2, "250 ok\r\n", { "250 a\r\n", "250 b\r\n" },
	  "354 go\r\n", "552 5.3.4 too big\r\n", "BB", 1, 0, NULL, NULL, 'k' },
	{ "final 451 -> T", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", "451 4.3.0 later\r\n", "T", 1, 0, NULL, NULL, 0 },
	{ "lost after body -> T", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", NULL, "T", 1, 0, NULL, NULL, 'b' },
	{ "final malformed -> T", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", "250-a\r\n251-b\r\n250 c\r\n", "T", 1, 0, NULL, NULL,
	  'b' },
	{ "final 354 -> T", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", "354 more\r\n", "T", 1, 0, NULL, NULL, 'b' },
	{ "RCPT 354 -> all T", 1, 0, 2, "250 ok\r\n",
	  { "250 a\r\n", "354 what\r\n" }, "354 go\r\n", "250 ok\r\n", "TT", 0,
	  0, NULL, NULL, 'b' },
	{ "no rcpt accepted: DATA 354, malformed end", 1, 0, 1, "250 ok\r\n",
	  { "550 no\r\n" }, "354 go\r\n", "hello\r\n", "B", 0, 0, NULL, NULL,
	  'b' },
	{ "multiline final", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", "250-queued\r\n250 as X\r\n", "D", 1, 0, NULL, NULL, 0 },
	{ "cached and dead -> STALE", 1, 1, 1, NULL, { 0 }, NULL, NULL,
	  "STALE", 0, 0, NULL, NULL, 0 },
	{ "cached, 421 at MAIL -> STALE", 0, 1, 1, "421 4.4.2 idle\r\n",
	  { 0 }, NULL, NULL, "STALE", 0, 0, NULL, NULL, 0 },
	{ "fresh and dead -> T", 1, 0, 2, NULL, { 0 }, NULL, NULL, "TT", 0, 0, NULL, NULL, 0 },
	{ "one at a time: mix", 0, 0, 2, "250 ok\r\n",
	  { "250 a\r\n", "550 no\r\n" }, "354 go\r\n", "250 ok\r\n", "DB", 1, 0, NULL, NULL, 0 },
	{ "one at a time: MAIL 451", 0, 0, 2, "451 later\r\n", { 0 }, NULL,
	  NULL, "TT", 0, 0, NULL, NULL, 0 },
	{ "one at a time: none accepted", 0, 0, 1, "250 ok\r\n",
	  { "550 no\r\n" }, NULL, NULL, "B", 0, 0, NULL, NULL, 0 },
	{ "UTF-8 rcpt, no SMTPUTF8: that one bounces", 1, 0, 2, "250 ok\r\n",
	  { "250 b\r\n" }, "354 go\r\n", "250 ok\r\n", "BD", 1, 0,
	  "\xc3\xbc@y.test", "RCPT TO:<r1@y.test>\r\nDATA", 0 },
	{ "UTF-8 rcpt with SMTPUTF8", 1, 0, 2, "250 ok\r\n",
	  { "250 a\r\n", "250 b\r\n" }, "354 go\r\n", "250 ok\r\n", "DD", 1,
	  REMOTE_EXT_SMTPUTF8, "\xc3\xbc@y.test", " SMTPUTF8\r\n", 0 },
	{ "UTF-8 only rcpt, no SMTPUTF8: no transaction", 1, 0, 1, "250 ok\r\n",
	  { "250 a\r\n" }, NULL, NULL, "B", 0, 0,
	  "\xc3\xbc@y.test", NULL, 0 },
	{ "SIZE and 8BITMIME declared", 1, 0, 1, "250 ok\r\n", { "250 a\r\n" },
	  "354 go\r\n", "250 ok\r\n", "D", 1,
	  REMOTE_EXT_SIZE | REMOTE_EXT_8BITMIME, NULL,
	  "MAIL FROM:<s@x.test> SIZE=28 BODY=8BITMIME\r\n", 0 },
	{ "garbage RCPT reply -> all T", 0, 0, 2, "250 ok\r\n",
	  { "hello\r\n", "250 b\r\n" }, "354 go\r\n", "250 ok\r\n", "TT", 0, 0, NULL, NULL, 0 },
	{ "garbage 2nd RCPT reply -> all T", 1, 0, 2, "250 ok\r\n",
	  { "250 a\r\n", "2500 b\r\n" }, "354 go\r\n", "250 ok\r\n", "TT", 0, 0, NULL, NULL, 0 },
};

/* The client may hang up early (a refused MAIL): ignore write errors. */
static void put(int fd, const char *s)
{
	if (s && write(fd, s, strlen(s)) < 0)
		return;
}

/* The server: answers per script, appends what it read to log, exits
 * with the number of reads it took to see DATA (pipelining = 1). */
static void server(int fd, const struct script *s, int log)
{
	char buf[65536];
	size_t len = 0, nr = 0;
	int reads = 0, in_data = 0, data_reads = 0;

	if (!s->mail)
		_exit(0);
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - len - 1);
		if (r <= 0)
			_exit(data_reads);
		if (write(log, buf + len, (size_t)r) < 0)
			_exit(2);
		reads++;
		len += (size_t)r;
		buf[len] = '\0';
		char *nl;
		while ((nl = strstr(buf, "\r\n"))) {
			size_t ll = (size_t)(nl - buf) + 2;
			if (in_data && strncmp(buf, ".\r\n", 3) == 0) {
				in_data = 0;
				if (!s->final)
					_exit(data_reads);
				put(fd, s->final);
			} else if (in_data) {
			} else if (strncmp(buf, "MAIL", 4) == 0) {
				put(fd, s->mail);
			} else if (strncmp(buf, "RCPT", 4) == 0) {
				put(fd, nr < 3 ? s->rcpt[nr++] : "503 x\r\n");
			} else if (strncmp(buf, "DATA", 4) == 0) {
				data_reads = reads;
				put(fd, s->data);
				in_data = s->data && strncmp(s->data, "354", 3) == 0;
			} else {
				put(fd, "250 ok\r\n");
			}
			memmove(buf, buf + ll, len - ll + 1);
			len -= ll;
		}
	}
}

static void make_queue_file(char *path, size_t n, struct remote_qfile *q)
{
	static const char file[] = "relaybox-queue 1\nqid=Q1\ntime=1\n"
				   "from=s@x.test\nrcpt=a@y.test\n\n"
				   "Subject: t\r\n\r\n.x\r\nBODYMARK\r\n";
	char err[256];
	snprintf(path, n, "/tmp/test_remote_txn.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, file, sizeof file - 1) < 0)
		exit(1);
	close(fd);
	if (remote_qfile_open(q, path, err, sizeof err) < 0)
		exit(1);
}

static void check_wire(const struct script *s, const char *raw, int status,
		       const char *text0);

static void run_case(const struct script *s, struct remote_qfile *q,
		     const char *logpath)
{
	struct remote_conn c;
	struct remote_job job;
	struct remote_rcpt rc[3];
	char got[8] = "", name[160], raw[65536] = "";
	int sv[2], status, log = open(logpath, O_RDWR | O_TRUNC);
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		server(sv[1], s, log);
	}
	close(sv[1]);
	memset(&c, 0, sizeof c);
	memset(&job, 0, sizeof job);
	memset(rc, 0, sizeof rc);
	c.fd = sv[0];
	io_init(&c.io, sv[0], sv[0], 2000);
	c.ext = (s->pipelining ? REMOTE_EXT_PIPELINING : 0) | s->ext;
	snprintf(c.host, sizeof c.host, "mx.test");
	job.rcpt = rc;
	job.nrcpt = (size_t)s->nrcpt;
	for (int i = 0; i < s->nrcpt; i++)
		snprintf(rc[i].addr, sizeof rc[i].addr, "r%d@y.test", i);
	if (s->addr0)
		snprintf(rc[0].addr, sizeof rc[0].addr, "%s", s->addr0);
	if (remote_txn_run(&c, &job, q, s->cached) == REMOTE_TXN_STALE)
		snprintf(got, sizeof got, "STALE");
	else
		for (int i = 0; i < s->nrcpt; i++)
			got[i] = rc[i].status ? rc[i].status : '0';
	close(sv[0]);
	waitpid(pid, &status, 0);
	if (pread(log, raw, sizeof raw - 1, 0) < 0)
		raw[0] = '\0';
	close(log);
	snprintf(name, sizeof name, "txn %s: statuses", s->name);
	T_STREQ(name, got, s->want);
	/* clean (no RSET before reuse) exactly when the server answered the
	 * final dot: after a body, or after the empty one of "354 anyway" */
	int want_clean = s->final && *s->final && s->step != 'b' &&
			 (s->body_sent || strstr(s->name, "354 anyway"));
	snprintf(name, sizeof name, "txn %s: %s", s->name,
		 want_clean ? "ended (no RSET needed)" : "RSET needed");
	T_CHECK(name, c.clean == want_clean);
	if (s->step) {
		snprintf(name, sizeof name, "txn %s: %s", s->name,
			 s->step == 'b' ? "connection broken" : "kept in step");
		T_CHECK(name, c.broken == (s->step == 'b'));
	}
	check_wire(s, raw, status, rc[0].text);
}

/* What the server saw: body or not, dot-stuffing, writes per command. */
static void check_wire(const struct script *s, const char *raw, int status,
		       const char *text0)
{
	char name[160];

	snprintf(name, sizeof name, "txn %s: body %s", s->name,
		 s->body_sent ? "sent" : "not sent");
	T_CHECK(name, (strstr(raw, "BODYMARK") != NULL) == s->body_sent);
	if (s->wire_has) {
		snprintf(name, sizeof name, "txn %s: on the wire", s->name);
		T_CHECK(name, strstr(raw, s->wire_has) != NULL);
	}
	if (s->body_sent && !s->final) {
		snprintf(name, sizeof name, "txn %s: says why", s->name);
		T_CHECK(name, strcmp(text0, "4.4.2 connection closed after "
				     "the end of the data (the message may "
				     "have been delivered)") == 0);
	}
	if (s->body_sent) {
		snprintf(name, sizeof name, "txn %s: dot-stuffed, ends", s->name);
		T_CHECK(name, strstr(raw, "\r\n..x\r\nBODYMARK\r\n.\r\n") != NULL);
	}
	if (s->pipelining && !s->cached && s->mail && s->data) {
		snprintf(name, sizeof name, "txn %s: MAIL..DATA in one write",
			 s->name);
		T_CHECK(name, WIFEXITED(status) && WEXITSTATUS(status) == 1);
	}
	if (!s->pipelining && s->body_sent && s->nrcpt > 1) {
		snprintf(name, sizeof name, "txn %s: one command per write",
			 s->name);
		T_CHECK(name, WIFEXITED(status) && WEXITSTATUS(status) > 2);
	}
}

int main(void)
{
	char qpath[64], logpath[64] = "/tmp/test_remote_txn_log.XXXXXX";
	struct remote_qfile q;
	int lfd = mkstemp(logpath);

	signal(SIGPIPE, SIG_IGN);
	if (lfd < 0)
		return 1;
	close(lfd);
	make_queue_file(qpath, sizeof qpath, &q);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], &q, logpath);
	remote_qfile_close(&q);
	unlink(qpath);
	unlink(logpath);
	return t_done();
}
