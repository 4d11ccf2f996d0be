// links:
/* test_tls.c: lib/tls.c over a socketpair, with a CA and a server
 * certificate made here by the openssl CLI in a mkdtemp directory.  The
 * server side runs in a forked child whose exit status says whether its
 * handshake (and its part of the scenario) worked. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "tls.h"
#include "t.h"
#include "t_pty.h"

static char dir[] = "/tmp/relaybox-test-tls-XXXXXX";
static char ca[300], cert[300], key[300];

static int make_certs(void)
{
	char cmd[2048];
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(cmd, sizeof cmd,
		 "cd %s && exec >log 2>&1 && "
		 "printf 'subjectAltName=DNS:mx.test.example,IP:127.0.0.1\\n' >ext && "
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key "
		 "-out ca.pem -days 2 -subj /CN=relaybox-test-ca && "
		 "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out csr.pem "
		 "-subj /CN=mx.test.example && "
		 "openssl x509 -req -in csr.pem -CA ca.pem -CAkey ca.key "
		 "-CAcreateserial -out cert.pem -days 2 -extfile ext && "
		 "chmod 600 key.pem",
		 dir);
	return system(cmd);
}

enum srv_mode { SRV_ECHO, SRV_SILENT, SRV_NOTLS, SRV_INJECT };

/* The server child: returns its exit status (0 = all it did worked). */
static int srv_run(int fd, enum srv_mode mode)
{
	char err[512] = "", line[20000];
	size_t len;
	unsigned fl;
	struct io io;
	SSL_CTX *ctx;

	io_init(&io, fd, fd, 5000);
	if (mode == SRV_NOTLS) { /* a peer that never answers the hello */
		while (read(fd, line, sizeof line) > 0)
			;
		return 0;
	}
	ctx = tls_server_ctx(cert, key, err, sizeof err);
	if (!ctx)
		return 2;
	if (mode == SRV_INJECT) {
		if (io_getline(&io, line, sizeof line, &len, &fl) != 1 ||
		    strcmp(line, "STARTTLS") != 0)
			return 3;
		io_puts(&io, "220 go\r\n"); /* tls_server_start flushes it */
	}
	if (tls_server_start(&io, ctx, err, sizeof err) < 0)
		return 1;
	if (mode == SRV_SILENT) { /* says nothing until the client leaves */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		while (read(fd, line, sizeof line) > 0)
			;
		return 0;
	}
	while (io_getline(&io, line, sizeof line, &len, &fl) == 1) {
		char d[128];
		tls_describe(&io, d, sizeof d);
		if (strcmp(line, "DESCRIBE") == 0)
			io_printf(&io, "%s\r\n", d);
		else if (strcmp(line, "SNI") == 0) {
			const char *sni = SSL_get_servername(
				io.ctx, TLSEXT_NAMETYPE_host_name);
			io_printf(&io, "sni=%s\r\n", sni ? sni : "(none)");
		}
		else
			io_printf(&io, "250 %zu %s\r\n", len,
				  len < 100 ? line : "long");
		if (io_flush(&io) < 0)
			return 4;
	}
	tls_end(&io);
	SSL_CTX_free(ctx);
	return 0;
}

struct peer {
	pid_t pid;
	int fd;
};

static struct peer srv_start(enum srv_mode mode)
{
	int sv[2];
	struct peer p = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return p;
	p.pid = fork();
	if (p.pid == 0) {
		close(sv[0]);
		_exit(srv_run(sv[1], mode));
	}
	close(sv[1]);
	p.fd = sv[0];
	return p;
}

static int srv_wait(struct peer *p)
{
	int st = 0;
	close(p->fd);
	waitpid(p->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

/* Send one line, read one reply line. */
static int roundtrip(struct io *io, const char *send, char *reply, size_t n)
{
	size_t len;
	unsigned fl;
	if (io_puts(io, send) < 0 || io_puts(io, "\r\n") < 0 ||
	    io_flush(io) < 0)
		return -1;
	if (io_getline(io, reply, n, &len, &fl) != 1 || fl != IO_CRLF)
		return -1;
	return 0;
}

static io_read_fn inner_read;
static int wrapped_calls;

static ssize_t wrapped_read(struct io *io, void *buf, size_t n)
{
	wrapped_calls++;
	return inner_read(io, buf, n);
}

/* Bytes OpenSSL already decrypted come back without a poll: read a
 * reply one byte at a time with a long timeout. */
static void test_pending_bytes(struct io *io)
{
	char c1[16];
	size_t got = 0;
	struct timespec t0, t1;

	io_puts(io, "pending\r\n");
	io_flush(io);
	T_CHECK("first byte of a record", io->read(io, c1, 1) == 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	io->timeout_ms = 3000;
	while (got < 11 && io->read(io, c1 + got, 1) == 1)
		got++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	io->timeout_ms = 5000;
	T_CHECK("rest of the record from SSL_pending, no waiting",
		got == 11 && !memcmp(c1, "50 7 pendin", 11) &&
		    (t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	io->read(io, c1, 2); /* "g\r", then the "\n" */
	io->read(io, c1, 1);
}

/* Records that arrive together: the server reads ahead (several records
 * in one read), so the second and third lines sit in OpenSSL's buffer,
 * not in the socket; they must be answered without waiting for more. */
static void test_burst(struct io *io)
{
	char reply[64];
	size_t len;
	unsigned fl;
	int ok = 1;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 3; i++) { /* one record each */
		io_printf(io, "burst%d\r\n", i);
		io_flush(io);
	}
	for (int i = 0; i < 3; i++) {
		char want[32];
		snprintf(want, sizeof want, "250 6 burst%d", i);
		ok = ok && io_getline(io, reply, sizeof reply, &len, &fl) == 1 &&
		     strcmp(reply, want) == 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	T_CHECK("three records sent together: three answers, no waiting",
		ok && (t1.tv_sec - t0.tv_sec) * 1000 +
				(t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
}

static void test_roundtrip(SSL_CTX *cctx)
{
	char err[512] = "", reply[256], big[12001];
	struct peer p = srv_start(SRV_ECHO);
	struct io io;
	int fl;

	io_init(&io, p.fd, p.fd, 5000);
	T_CHECK("client handshake verify name",
		tls_client_start(&io, cctx, "mx.test.example", 1, err,
				 sizeof err) == 0);
	T_CHECK("tls_active after start", tls_active(&io));
	T_CHECK("line round trip",
		roundtrip(&io, "HELLO there", reply, sizeof reply) == 0 &&
		    strcmp(reply, "250 11 HELLO there") == 0);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	T_CHECK("12000 byte line crosses records",
		roundtrip(&io, big, reply, sizeof reply) == 0 &&
		    strcmp(reply, "250 12000 long") == 0);
	T_CHECK("server describe",
		roundtrip(&io, "DESCRIBE", reply, sizeof reply) == 0 &&
		    strncmp(reply, "TLSv1.3 TLS_", 12) == 0);
	tls_describe(&io, reply, sizeof reply);
	T_CHECK("client describe \"TLSv1.3 TLS_AES_256_GCM_SHA384 256\"",
		strcmp(reply, "TLSv1.3 TLS_AES_256_GCM_SHA384 256") == 0);
	test_pending_bytes(&io);
	test_burst(&io);
	/* a caller may wrap the read function (smtpd's session deadline) */
	inner_read = io.read;
	io.read = wrapped_read;
	wrapped_calls = 0;
	T_CHECK("round trip through a wrapped read",
		roundtrip(&io, "wrapped", reply, sizeof reply) == 0 &&
		    strcmp(reply, "250 7 wrapped") == 0 && wrapped_calls > 0);
	T_CHECK("still active with a wrapped read", tls_active(&io));
	tls_describe(&io, reply, sizeof reply);
	T_CHECK("describe with a wrapped read", strncmp(reply, "TLSv1.3 ", 8) == 0);
	tls_end(&io);
	fl = fcntl(p.fd, F_GETFL);
	T_CHECK("tls_end restores blocking fd", fl >= 0 && !(fl & O_NONBLOCK));
	T_CHECK("tls_end: plain again", !tls_active(&io));
	tls_describe(&io, reply, sizeof reply);
	T_STREQ("describe plaintext is empty", reply, "");
	T_CHECK("server side ok", srv_wait(&p) == 0);
}

/* Several TLS sessions live at once (a worker serving many): each is
 * found, ending one leaves the others; a socket that was non-blocking
 * before stays so after tls_end. */
static void test_many_live(SSL_CTX *cctx)
{
	struct peer p[3];
	struct io io[3];
	char err[512] = "", reply[256];
	int ok = 1, fl;

	for (int i = 0; i < 3; i++) {
		p[i] = srv_start(SRV_ECHO);
		if (i == 1)
			fcntl(p[i].fd, F_SETFL, fcntl(p[i].fd, F_GETFL) | O_NONBLOCK);
		io_init(&io[i], p[i].fd, p[i].fd, 5000);
		ok = ok && tls_client_start(&io[i], cctx, "mx.test.example", 1,
					    err, sizeof err) == 0;
	}
	T_CHECK("three sessions started", ok);
	tls_end(&io[1]);
	fl = fcntl(p[1].fd, F_GETFL);
	T_CHECK("tls_end leaves a non-blocking socket non-blocking",
		fl >= 0 && (fl & O_NONBLOCK));
	T_CHECK("the one ended is plain, the others still TLS",
		!tls_active(&io[1]) && tls_active(&io[0]) && tls_active(&io[2]));
	T_CHECK("the others still carry lines",
		roundtrip(&io[0], "zero", reply, sizeof reply) == 0 &&
		    roundtrip(&io[2], "two", reply, sizeof reply) == 0 &&
		    strcmp(reply, "250 3 two") == 0);
	for (int i = 0; i < 3; i++) {
		tls_end(&io[i]);
		close(p[i].fd);
		srv_wait(&p[i]);
	}
}

/* verify: name, servername, expect client ok */
static const struct {
	const char *name, *servername;
	int verify, ok;
} verify_cases[] = {
	{ "verify: right name", "mx.test.example", 1, 1 },
	{ "verify: right name, other case", "MX.Test.Example", 1, 1 },
	{ "verify: IP SAN 127.0.0.1", "127.0.0.1", 1, 1 },
	{ "verify: wrong name refused", "other.example", 1, 0 },
	{ "verify: parent domain refused", "test.example", 1, 0 },
	{ "verify: subdomain refused", "a.mx.test.example", 1, 0 },
	{ "verify: wrong IP refused", "127.0.0.2", 1, 0 },
	{ "verify: empty name refused", "", 1, 0 },
	{ "no verify: wrong name accepted", "other.example", 0, 1 },
};

static void test_verify(SSL_CTX *cctx, SSL_CTX *sysctx)
{
	char err[512], reply[64];
	for (size_t i = 0; i < sizeof verify_cases / sizeof *verify_cases; i++) {
		struct peer p = srv_start(SRV_ECHO);
		struct io io;
		int rc;
		io_init(&io, p.fd, p.fd, 5000);
		err[0] = '\0';
		rc = tls_client_start(&io, cctx, verify_cases[i].servername,
				      verify_cases[i].verify, err, sizeof err);
		if (rc == 0)
			rc = roundtrip(&io, "x", reply, sizeof reply);
		T_CHECK(verify_cases[i].name, (rc == 0) == verify_cases[i].ok);
		if (rc == 0) { /* SNI: the name as given, never an address */
			char want[80], name[160];
			snprintf(want, sizeof want, "sni=%s",
				 strchr(verify_cases[i].servername, ':') ||
					 strspn(verify_cases[i].servername,
						"0123456789.") ==
					     strlen(verify_cases[i].servername)
				     ? "(none)"
				     : verify_cases[i].servername);
			snprintf(name, sizeof name, "  ...SNI %s", want);
			T_CHECK(name, roundtrip(&io, "SNI", reply, sizeof reply) == 0 &&
					      strcasecmp(reply, want) == 0);
		}
		if (!verify_cases[i].ok)
			T_CHECK("  ...with a reason", err[0] != '\0');
		tls_end(&io);
		srv_wait(&p);
	}
	/* the system store does not know our test CA */
	struct peer p = srv_start(SRV_ECHO);
	struct io io;
	io_init(&io, p.fd, p.fd, 5000);
	err[0] = '\0';
	T_CHECK("verify: unknown CA refused",
		tls_client_start(&io, sysctx, "mx.test.example", 1, err,
				 sizeof err) < 0 &&
		    strstr(err, "verify") != NULL);
	T_CHECK("server handshake failed too", srv_wait(&p) != 0);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_timeouts(SSL_CTX *cctx)
{
	char err[512] = "", line[64];
	size_t len;
	unsigned fl;
	struct timespec t0;
	struct peer p = srv_start(SRV_SILENT);
	struct io io;

	io_init(&io, p.fd, p.fd, 300);
	T_CHECK("handshake before silence",
		tls_client_start(&io, cctx, "mx.test.example", 1, err,
				 sizeof err) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_CHECK("read times out",
		io_getline(&io, line, sizeof line, &len, &fl) == -1 &&
		    io.err == IO_ERR_TIMEOUT);
	T_CHECK("read timeout near 300 ms",
		ms_since(&t0) >= 250 && ms_since(&t0) < 1500);
	tls_end(&io);
	srv_wait(&p);

	p = srv_start(SRV_NOTLS);
	io_init(&io, p.fd, p.fd, 300);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_CHECK("handshake times out",
		tls_client_start(&io, cctx, "mx.test.example", 1, err,
				 sizeof err) < 0 &&
		    strstr(err, "timed out") != NULL);
	T_CHECK("handshake timeout near 300 ms", ms_since(&t0) < 1500);
	T_CHECK("failed start leaves plain io", !tls_active(&io));
	srv_wait(&p);
}

/* Plaintext pipelined after STARTTLS must not be read after the handshake
 * (the STARTTLS injection attack, CVE-2011-0411 style). */
static void test_inject(SSL_CTX *cctx)
{
	char err[512] = "", reply[64];
	size_t len;
	unsigned fl;
	struct peer p = srv_start(SRV_INJECT);
	struct io io;

	io_init(&io, p.fd, p.fd, 5000);
	io_puts(&io, "STARTTLS\r\nRSET\r\n");
	io_flush(&io);
	T_CHECK("inject: 220 in clear",
		io_getline(&io, reply, sizeof reply, &len, &fl) == 1 &&
		    strcmp(reply, "220 go") == 0);
	T_CHECK("inject: handshake",
		tls_client_start(&io, cctx, "mx.test.example", 1, err,
				 sizeof err) == 0);
	T_CHECK("inject: first reply is for NOOP, not RSET",
		roundtrip(&io, "NOOP", reply, sizeof reply) == 0 &&
		    strcmp(reply, "250 4 NOOP") == 0);
	tls_end(&io);
	T_CHECK("inject: server ok", srv_wait(&p) == 0);
}

static void test_old_protocol(void)
{
	char err[512] = "";
	SSL_CTX *old = tls_client_ctx(ca, err, sizeof err);
	struct peer p = srv_start(SRV_ECHO);
	struct io io;

	SSL_CTX_set_min_proto_version(old, 0);
	SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
	SSL_CTX_set_security_level(old, 0);
	io_init(&io, p.fd, p.fd, 5000);
	T_CHECK("server refuses TLS 1.1",
		tls_client_start(&io, old, "mx.test.example", 1, err,
				 sizeof err) < 0);
	srv_wait(&p);
	SSL_CTX_free(old);
}

/* Error paths of the context constructors, and the key mode warning. */
static void test_ctx_errors(void)
{
	char err[512] = "", path[400];

	T_CHECK("missing cert refused",
		tls_server_ctx("/nonexistent/cert.pem", key, err, sizeof err) ==
			NULL &&
		    strstr(err, "/nonexistent/cert.pem") != NULL);
	T_CHECK("missing key refused",
		tls_server_ctx(cert, "/nonexistent/key.pem", err, sizeof err) ==
			NULL &&
		    strstr(err, "/nonexistent/key.pem") != NULL);
	snprintf(path, sizeof path, "%s/ca.key", dir);
	T_CHECK("mismatched key refused",
		tls_server_ctx(cert, path, err, sizeof err) == NULL &&
		    strstr(err, "ca.key") != NULL);
	T_CHECK("missing CA file refused",
		tls_client_ctx("/nonexistent/ca.pem", err, sizeof err) == NULL);

}

static int encrypted_key_refused(void *path)
{
	char err[512];

	return tls_server_ctx(cert, path, err, sizeof err) ? 1 : 0;
}

/* An encrypted key is refused at once, in a process whose controlling
 * terminal is a pty (relay-master started from one): OpenSSL would ask
 * for its passphrase there and wait, deaf to SIGALRM and SIGTERM. */
static void test_encrypted_key(void)
{
	char path[400], cmd[1024];

	snprintf(path, sizeof path, "%s/enc.key", dir);
	snprintf(cmd, sizeof cmd, "openssl pkey -in %s -aes256 -passout "
		 "pass:secret -out %s", key, path);
	T_CHECK("an encrypted key made", system(cmd) == 0);
	T_CHECK("an encrypted key: refused, no passphrase prompt",
		t_on_pty(encrypted_key_refused, path, 5) == 0);
}

/* Load the key with this mode and group; 1 when it loaded, and *warned
 * says whether the log (stderr, captured) warned about access. */
static int load_with_mode(mode_t mode, gid_t gid, int *warned)
{
	char path[400], buf[1024];
	int save = dup(2), fd, ok;
	ssize_t n;
	SSL_CTX *c;
	char err[512];

	snprintf(path, sizeof path, "%s/stderr", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (chown(key, (uid_t)-1, gid) < 0 || chmod(key, mode) < 0)
		return -1;
	dup2(fd, 2);
	c = tls_server_ctx(cert, key, err, sizeof err);
	dup2(save, 2);
	n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*warned = strstr(buf, "key file") != NULL &&
		  strstr(buf, "accessible to") != NULL;
	ok = c != NULL;
	SSL_CTX_free(c);
	close(fd);
	close(save);
	chmod(key, 0600);
	chown(key, (uid_t)-1, getegid());
	return ok;
}

static void test_key_modes(void)
{
	int w = 0;
	T_CHECK("key 0600 loads, no warning",
		load_with_mode(0600, getegid(), &w) == 1 && !w);
	T_CHECK("key 0640 with our group loads, no warning",
		load_with_mode(0640, getegid(), &w) == 1 && !w);
	T_CHECK("key 0644 loads with a warning",
		load_with_mode(0644, getegid(), &w) == 1 && w);
	T_CHECK("key 0606 (other writable) warns",
		load_with_mode(0606, getegid(), &w) == 1 && w);
	if (geteuid() == 0) /* only root can give the key to another group */
		T_CHECK("key 0640 with another group warns",
			load_with_mode(0640, getegid() + 1, &w) == 1 && w);
}

int main(void)
{
	char err[512] = "", cmd[400];
	SSL_CTX *cctx, *sysctx;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir) || make_certs() != 0) {
		printf("FAIL making test certificates in %s\n", dir);
		return 1;
	}
	cctx = tls_client_ctx(ca, err, sizeof err);
	sysctx = tls_client_ctx(NULL, err, sizeof err);
	T_CHECK("client ctx with CA file", cctx != NULL);
	T_CHECK("client ctx with system store", sysctx != NULL);
	if (cctx && sysctx) {
		test_roundtrip(cctx);
	test_many_live(cctx);
		test_verify(cctx, sysctx);
		test_timeouts(cctx);
		test_inject(cctx);
		test_old_protocol();
		test_ctx_errors();
		test_encrypted_key();
		test_key_modes();
	}
	SSL_CTX_free(cctx);
	SSL_CTX_free(sysctx);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("FAIL removing %s\n", dir);
	return t_done();
}
