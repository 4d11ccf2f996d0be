/* master_tls.c: relay-master reads the TLS certificate and key as root
 * and hands them to relay-listen, and through it to every relay-smtpd,
 * in a memfd (lib/tls_store.h).  So the key may be root's alone (Let's
 * Encrypt's 0600 key behind 0700 folders) and relaysmtpd never reads it
 * from disk.  SIGHUP (relayctl reload, systemctl reload, certbot's deploy
 * hook) reads the files again: relay-smtpd serves the new certificate
 * from the next connection on.  A certificate that does not load is one
 * log line: at start STARTTLS then answers 454 (port 465 closes the
 * connection); at a reload the certificate already served stays.  A key
 * file that others can read is served with a warning (tls_key_mode_check).
 * Each load, at start too, ends in run/reload for relayctl start and
 * reload to print: the operator at the console hears what the log says. */
#include "master.h"
#include "settings.h"
#include "tls.h"
#include "tls_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

static struct tls_store store = { NULL, -1 };
static int child_fd = -1;  /* read-only, close-on-exec */
static int serving;        /* a certificate is in the store */

/* "CN=relay.example.com, until Mar  1 12:00:00 2027 GMT" of the
 * certificate the store holds now. */
static void describe(char *buf, size_t n)
{
	char err[256], name[256] = "?", until[64] = "?";
	uint64_t seq;
	int empty;
	SSL_CTX *ctx = tls_store_ctx(&store, &seq, &empty, err, sizeof err);
	X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
	BIO *b;

	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
		if ((b = BIO_new(BIO_s_mem()))) {
			int len;
			ASN1_TIME_print(b, X509_get0_notAfter(x));
			len = BIO_read(b, until, sizeof until - 1);
			until[len > 0 ? len : 0] = '\0';
			BIO_free(b);
		}
	}
	snprintf(buf, n, "%s, valid until %s", name, until);
	SSL_CTX_free(ctx);
}

/* Load the files into the store: 0 with what is served in msg (and a
 * warning in warn, or ""), or -1 with why not in msg. */
static int master_tls_reload(char *msg, size_t msgsz, char *warn,
			     size_t warnsz)
{
	char err[PATH_MAX + 256], what[512];

	warn[0] = '\0';
	if (!store.map) {
		snprintf(msg, msgsz, "%s", cf.tls_cert[0] ? "tls: no certificate store"
							 : "no tls_cert set");
		return cf.tls_cert[0] ? -1 : 0;
	}
	if (tls_store_load(&store, cf.tls_cert, cf.tls_key, err, sizeof err) == 0) {
		serving = 1;
		if (err[0])
			master_log("warning", "%s", err);
		snprintf(warn, warnsz, "%s", err);
		describe(what, sizeof what);
		snprintf(msg, msgsz, "tls: serving %s (%s)", cf.tls_cert, what);
		master_log("info", "%s", msg);
		return 0;
	}
	if (serving) {
		snprintf(msg, msgsz, "%s: still serving the certificate loaded before",
			 err);
	} else {
		tls_store_clear(&store, err);
		snprintf(msg, msgsz, "%s: STARTTLS answers 454 and port 465 closes "
			 "connections until it is fixed and relay-master reloads "
			 "(relayctl reload)", err);
	}
	master_log("warning", "%s", msg);
	return -1;
}

/* run/reload: "<serial> ok|failed <text>", then "warning <text>" when
 * the key was served with one; written after each load (the first at
 * start), so that relayctl start and reload can tell the operator. */
static void write_result(int ok, const char *text, const char *warn)
{
	static unsigned long serial;
	char line[2 * PATH_MAX + 1024];

	snprintf(line, sizeof line, "%lu %s %s\n%s%s%s", ++serial,
		 ok ? "ok" : "failed", text, warn[0] ? "warning " : "", warn,
		 warn[0] ? "\n" : "");
	master_run_write("reload", line);
}

void master_tls_sighup(void)
{
	char msg[PATH_MAX + 512], warn[PATH_MAX + 256];
	int ok = master_tls_reload(msg, sizeof msg, warn, sizeof warn) == 0;

	write_result(ok, msg, warn);
}

void master_tls_init(void)
{
	char msg[PATH_MAX + 512];

	unsetenv(TLS_STORE_ENV); /* none of ours came from outside */
	if (!cf.tls_cert[0])
		return;
	if (tls_store_create(&store) < 0 ||
	    (child_fd = tls_store_ro_fd(&store)) < 0) {
		snprintf(msg, sizeof msg, "tls: certificate store: %s: "
			 "STARTTLS answers 454", strerror(errno));
		master_log("warning", "%s", msg);
		write_result(0, msg, "");
		return;
	}
	master_tls_sighup();
}

/* A new session-ticket key every TLS_TICKET_ROTATE seconds (the store
 * made the first): a taken-over relay-smtpd can open the tickets of the
 * last two periods at most (ARCHITECTURE.md). */
void master_tls_tick(void)
{
	static time_t last;
	struct timespec now;

	if (!store.map)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last)
		last = now.tv_sec;
	if (now.tv_sec - last < TLS_TICKET_ROTATE)
		return;
	last = now.tv_sec;
	if (tls_store_tickets_rotate(&store) < 0)
		master_log("warning", "tls: no random bytes for a new session "
			   "ticket key: the old one stays");
}

int master_tls_to_child(void)
{
	char num[16];

	if (child_fd < 0)
		return 0;
	if (dup2(child_fd, TLS_STORE_FD) < 0 ||
	    fcntl(TLS_STORE_FD, F_SETFD, 0) < 0)
		_exit(111);
	snprintf(num, sizeof num, "%d", TLS_STORE_FD);
	setenv(TLS_STORE_ENV, num, 1);
	return 1;
}
