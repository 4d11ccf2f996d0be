/* tls_source.c: the benchmark's STARTTLS + AUTH load client (smtp-source
 * cannot do TLS).  N sessions in parallel (one process each, like
 * smtp-source -s), one message per connection: EHLO, STARTTLS, EHLO,
 * AUTH PLAIN, MAIL, RCPT, DATA of a SIZE-byte message, QUIT (MAIL, RCPT
 * and DATA in one write and the text with QUIT in the next when the
 * server offers PIPELINING, as real clients do; every reply read).  Every
 * connection does a full handshake (no session resumption), as a new
 * client would; with -r each process offers the session (ticket) of its
 * previous connection, as a client that caches them (Postfix's smtp,
 * Exchange) does, and the count of resumed handshakes is printed.
 * Counts the 250s after DATA; bounded by the message count and by a
 * deadline (-T).  Exits 0 only when every message got its 250.
 *
 * TLS is GnuTLS's, a client stack real MTAs use (Exim and msmtp on
 * Debian), with its default priorities but X25519 first (TLS_PRIORITY)
 * and no certificate check (the bench's certificate is self-signed).
 * Its full handshake costs the client ~30% less CPU than OpenSSL 3.0's,
 * a third of whose handshake is parsing the server's certificate, and
 * the client shares the two cores with the relay it measures
 * (bench/README.md).  Without -r it asks for no ticket
 * (GNUTLS_NO_TICKETS) and never resumes.
 *
 * Usage: tls-source [-r] [-s sessions] [-m messages] [-l size] [-f from]
 *                   [-t to] [-T seconds] -a user:password host:port */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

struct tls_opts {
	long sessions, messages, size, seconds;
	int resume;
	const char *from, *to, *user, *pass, *host, *port;
};

/* one connection: the socket, TLS once started, and a read buffer */
struct tls_conn {
	int fd;
	gnutls_session_t tls; /* NULL before STARTTLS */
	int pipelining; /* the last EHLO reply offered PIPELINING */
	char buf[8192];
	size_t off, len;
};

static struct tls_opts opt = { 20, 1000, 4096, 900, 0, "bench@example.com",
			       "rcpt@example.org", NULL, NULL, NULL, NULL };
static char *tls_message;     /* the DATA text, ending in CRLF.CRLF */
static size_t tls_message_len; /* then QUIT: tls_message_len + 6 with it */
static char tls_auth_line[1024];

static void tls_die(const char *what)
{
	fprintf(stderr, "tls-source: %s\n", what);
	exit(2);
}

static int tls_connect_tcp(void)
{
	struct addrinfo hints = { 0 }, *res;
	struct timeval tv = { 60, 0 };
	int fd, one = 1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(opt.host, opt.port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	/* a stuck server must not hang the benchmark: 60 s per read/write.
	 * TCP_NODELAY: each command group is one write that waits for its
	 * reply, and with Nagle the EHLO after the handshake would wait
	 * behind the client's Finished for the server's ACK whenever the
	 * server sends nothing after the handshake (no ticket asked for; or
	 * Postfix after a resumption): 40 ms of delayed ACK. */
	if (fd >= 0 &&
	    (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	     setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	     setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	     connect(fd, res->ai_addr, res->ai_addrlen) < 0)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* > 0 bytes, else EOF or an error.  GnuTLS answers E_AGAIN after a
 * post-handshake message (a TLS 1.3 ticket) even on a blocking socket:
 * call again; a few times only, as the socket's timeout is E_AGAIN too. */
static long tls_io(struct tls_conn *c, void *p, size_t n, int writing)
{
	ssize_t r;
	int again = 8;

	if (!c->tls)
		return writing ? write(c->fd, p, n) : read(c->fd, p, n);
	do
		r = writing ? gnutls_record_send(c->tls, p, n)
			    : gnutls_record_recv(c->tls, p, n);
	while (r == GNUTLS_E_INTERRUPTED || (r == GNUTLS_E_AGAIN && again--));
	return r;
}

static int tls_send(struct tls_conn *c, const char *p, size_t n)
{
	while (n > 0) {
		long w = tls_io(c, (void *)p, n, 1);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply (all its lines); returns the code, -1 on EOF or error. */
static int tls_reply(struct tls_conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		if (nl) {
			char *line = c->buf + c->off;
			size_t n = (size_t)(nl - line) + 1;
			c->off += n;
			if (n >= 14 && strncasecmp(line + 4, "PIPELINING", 10) == 0)
				c->pipelining = 1;
			if (n >= 5 && line[3] == ' ')
				return atoi(line);
			if (n < 5 || line[3] != '-')
				return -1;
			continue;
		}
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len == sizeof c->buf)
			return -1;
		long r = tls_io(c, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int tls_cmd(struct tls_conn *c, const char *line, int want)
{
	if (line && tls_send(c, line, strlen(line)) < 0)
		return -1;
	return tls_reply(c) == want ? 0 : -1;
}

static gnutls_certificate_credentials_t tls_cred;
/* GnuTLS's defaults with X25519 as the first key share, as OpenSSL's
 * and the browsers' clients have it: the servers' handshake stays the
 * one the earlier OpenSSL client asked for (X25519, AES-256-GCM) */
#define TLS_PRIORITY "NORMAL:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:" \
		     "+GROUP-SECP384R1:+GROUP-SECP521R1"
static gnutls_priority_t tls_prio;

/* sess: a previous session's data to offer (-r), or NULL */
static int tls_starttls(struct tls_conn *c, const gnutls_datum_t *sess)
{
	int r;

	if (tls_cmd(c, NULL, 220) < 0 ||
	    tls_cmd(c, "EHLO tls-source.bench.localhost\r\n", 250) < 0 ||
	    tls_cmd(c, "STARTTLS\r\n", 220) < 0)
		return -1;
	if (c->len != c->off)
		return -1; /* nothing may follow the 220 in clear text */
	if (gnutls_init(&c->tls, GNUTLS_CLIENT |
				 (opt.resume ? 0 : GNUTLS_NO_TICKETS)) < 0) {
		c->tls = NULL;
		return -1;
	}
	if (gnutls_priority_set(c->tls, tls_prio) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, tls_cred) < 0 ||
	    (sess && sess->size &&
	     gnutls_session_set_data(c->tls, sess->data, sess->size) < 0))
		return -1;
	gnutls_transport_set_int(c->tls, c->fd);
	do
		r = gnutls_handshake(c->tls);
	while (r == GNUTLS_E_INTERRUPTED);
	if (r < 0)
		return -1;
	c->pipelining = 0;
	return tls_cmd(c, "EHLO tls-source.bench.localhost\r\n", 250);
}

/* MAIL, RCPT and DATA in one write, then the text and QUIT in another
 * (RFC 2920, as Postfix's smtp client does); every reply is read and
 * checked.  1 when the text got its 250. */
static int tls_pipelined(struct tls_conn *c)
{
	char cmds[600];
	int ok;

	snprintf(cmds, sizeof cmds, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
		 opt.from, opt.to);
	if (tls_send(c, cmds, strlen(cmds)) < 0 || tls_reply(c) != 250 ||
	    tls_reply(c) != 250 || tls_reply(c) != 354 ||
	    tls_send(c, tls_message, tls_message_len + 6) < 0)
		return 0;
	ok = tls_reply(c) == 250;
	if (ok)
		tls_reply(c); /* the 221 */
	return ok;
}

/* The same one command at a time, for a server without PIPELINING. */
static int tls_lockstep(struct tls_conn *c)
{
	char line[600];
	int ok = 0;

	snprintf(line, sizeof line, "MAIL FROM:<%s>\r\n", opt.from);
	if (tls_cmd(c, line, 250) == 0) {
		snprintf(line, sizeof line, "RCPT TO:<%s>\r\n", opt.to);
		if (tls_cmd(c, line, 250) == 0 &&
		    tls_cmd(c, "DATA\r\n", 354) == 0 &&
		    tls_send(c, tls_message, tls_message_len) == 0)
			ok = tls_reply(c) == 250;
	}
	if (ok)
		tls_cmd(c, "QUIT\r\n", 221);
	return ok;
}

/* One connection, one message; 1 when DATA got its 250.  With -r it
 * offers *sess, counts a resumption in *resumed and keeps the session
 * it ends with (the newest ticket) in *sess. */
static int tls_one(gnutls_datum_t *sess, long *resumed)
{
	struct tls_conn c = { .fd = tls_connect_tcp() };
	int ok = 0;

	if (c.fd < 0)
		return 0;
	if (tls_starttls(&c, opt.resume ? sess : NULL) == 0 &&
	    tls_cmd(&c, tls_auth_line, 235) == 0) {
		*resumed += gnutls_session_is_resumed(c.tls) != 0;
		ok = c.pipelining ? tls_pipelined(&c) : tls_lockstep(&c);
	}
	if (c.tls) {
		/* only after a new ticket: without one (Postfix after a
		 * resumption) GnuTLS waits a round trip + 60 ms for it and, if
		 * the server has not closed by then (a loaded machine), hands
		 * out data that cannot resume; the offered session stays */
		if (opt.resume && ok && (gnutls_session_get_flags(c.tls) &
					 GNUTLS_SFLAGS_SESSION_TICKET)) {
			gnutls_datum_t d = { NULL, 0 };
			if (gnutls_session_get_data2(c.tls, &d) == 0) {
				gnutls_free(sess->data);
				*sess = d;
			}
		}
		gnutls_bye(c.tls, GNUTLS_SHUT_WR); /* close_notify, no wait */
		gnutls_deinit(c.tls);
	}
	close(c.fd);
	return ok;
}

/* The message: a few headers, then lines of text up to opt.size bytes. */
static void tls_make_message(void)
{
	size_t n = (size_t)opt.size + 640; /* headers with 256-byte addresses */
	size_t len;

	tls_message = malloc(n);
	if (!tls_message)
		tls_die("out of memory");
	len = (size_t)snprintf(tls_message, n, "From: <%s>\r\nTo: <%s>\r\n"
			       "Subject: tls-source\r\n\r\n", opt.from, opt.to);
	while (len < (size_t)opt.size && len + 78 + 3 < n) {
		memset(tls_message + len, 'x', 76);
		memcpy(tls_message + len + 76, "\r\n", 2);
		len += 78;
	}
	memcpy(tls_message + len, ".\r\nQUIT\r\n", 9);
	tls_message_len = len + 3;
}

/* RFC 4648 base64 of n bytes into out (4 * ((n + 2) / 3) + 1 bytes) */
static void tls_base64(const unsigned char *in, size_t n, char *out)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*out++ = b64[v >> 18 & 63];
		*out++ = b64[v >> 12 & 63];
		*out++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*out++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*out = '\0';
}

static void tls_make_auth(void)
{
	unsigned char plain[600];
	char b64[900];
	size_t u = strlen(opt.user), p = strlen(opt.pass);

	if (u + p + 2 > sizeof plain)
		tls_die("user:password too long");
	plain[0] = '\0';
	memcpy(plain + 1, opt.user, u);
	plain[1 + u] = '\0';
	memcpy(plain + 2 + u, opt.pass, p);
	tls_base64(plain, u + p + 2, b64);
	snprintf(tls_auth_line, sizeof tls_auth_line, "AUTH PLAIN %s\r\n", b64);
}

/* A child: `count` connections in a row; writes its 250 count and its
 * resumed handshakes to `out`. */
static void tls_child(long count, int out)
{
	gnutls_datum_t sess = { NULL, 0 };
	long got[2] = { 0, 0 };

	/* the bench's certificate is self-signed: nothing is verified */
	if (gnutls_certificate_allocate_credentials(&tls_cred) < 0 ||
	    gnutls_priority_init(&tls_prio, TLS_PRIORITY, NULL) < 0)
		tls_die("gnutls credentials or priorities");
	for (long i = 0; i < count; i++)
		got[0] += tls_one(&sess, &got[1]);
	if (write(out, got, sizeof got) != (ssize_t)sizeof got)
		_exit(2);
	_exit(0);
}

static void tls_usage(void)
{
	fprintf(stderr, "usage: tls-source [-r] [-s sessions] [-m messages] "
		"[-l size] [-f from] [-t to] [-T seconds] -a user:password "
		"host:port\n");
	exit(2);
}

static void tls_args(int argc, char **argv)
{
	static char auth[512], target[300];
	int ch;

	while ((ch = getopt(argc, argv, "rs:m:l:f:t:T:a:")) != -1) {
		switch (ch) {
		case 'r': opt.resume = 1; break;
		case 's': opt.sessions = atol(optarg); break;
		case 'm': opt.messages = atol(optarg); break;
		case 'l': opt.size = atol(optarg); break;
		case 'f': opt.from = optarg; break;
		case 't': opt.to = optarg; break;
		case 'T': opt.seconds = atol(optarg); break;
		case 'a': snprintf(auth, sizeof auth, "%s", optarg); break;
		default: tls_usage();
		}
	}
	char *colon = strchr(auth, ':');
	if (optind != argc - 1 || !colon || opt.sessions < 1 ||
	    opt.sessions > 1000 || opt.messages < 1 || opt.size < 0 ||
	    opt.size > 100 * 1024 * 1024 || opt.seconds < 1 ||
	    strlen(opt.from) > 256 || strlen(opt.to) > 256)
		tls_usage();
	*colon = '\0';
	opt.user = auth;
	opt.pass = colon + 1;
	snprintf(target, sizeof target, "%s", argv[optind]);
	colon = strrchr(target, ':');
	if (!colon)
		tls_usage();
	*colon = '\0';
	opt.host = target;
	opt.port = colon + 1;
}

/* Start the children; each gets its share of the messages.  The 250s
 * in all; their resumed handshakes in *resumed. */
static long tls_run(pid_t *pids, int *fds, long *resumed)
{
	long total = 0, got[2];

	for (long i = 0; i < opt.sessions; i++) {
		long share = opt.messages / opt.sessions +
			     (i < opt.messages % opt.sessions);
		int p[2];
		if (pipe(p) < 0)
			tls_die("pipe");
		pids[i] = fork();
		if (pids[i] < 0)
			tls_die("fork");
		if (pids[i] == 0) {
			close(p[0]);
			tls_child(share, p[1]);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	for (long i = 0; i < opt.sessions; i++) {
		if (read(fds[i], got, sizeof got) == (ssize_t)sizeof got) {
			total += got[0];
			*resumed += got[1];
		}
		close(fds[i]);
		waitpid(pids[i], NULL, 0);
	}
	return total;
}

static pid_t *tls_pids;
static long tls_npids;

/* the deadline: stop every child, the run has failed */
static void tls_alarm(int sig)
{
	(void)sig;
	for (long i = 0; i < tls_npids; i++)
		if (tls_pids[i] > 0)
			kill(tls_pids[i], SIGKILL);
	static const char msg[] = "tls-source: deadline reached\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(3);
	_exit(3);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	int *fds;
	long ok, resumed = 0;

	tls_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	tls_make_message();
	tls_make_auth();
	tls_pids = calloc((size_t)opt.sessions, sizeof *tls_pids);
	fds = calloc((size_t)opt.sessions, sizeof *fds);
	if (!tls_pids || !fds)
		tls_die("out of memory");
	tls_npids = opt.sessions;
	signal(SIGALRM, tls_alarm);
	alarm((unsigned)opt.seconds);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok = tls_run(tls_pids, fds, &resumed);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(fds);
	double s = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("tls-source: %ld of %ld messages accepted in %.2f s (%.1f msg/s), "
	       "%ld handshakes resumed\n", ok, opt.messages, s,
	       s > 0 ? (double)ok / s : 0.0, resumed);
	return ok == opt.messages ? 0 : 1;
}
