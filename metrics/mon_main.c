/* mon_main.c: relay-metrics -d DIR.  Reads the credentials and the TLS
 * store (as root), binds metrics_listen, drops to user_metrics and
 * serves until SIGTERM.  An address other than loopback is refused
 * unless both credentials (metrics_passwd) and the relay's certificate
 * (relay-master's TLS store, tls_cert/tls_key) are there: the pages show
 * who sends what, and a password must not cross a network in clear.
 * metrics_tls = yes serves HTTPS on loopback too. */
#include "mon.h"
#include "mon_http.h"
#include "exitcodes.h"
#include "listen_addr.h"
#include "log.h"
#include "monotime.h"
#include "notify.h"
#include "privs.h"
#include "settings.h"
#include "tls_store.h"

#include <netinet/in.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

static int bind_listen(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		log_fatalx(EXIT_TEMP, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		log_fatalx(EXIT_TEMP, "bind %s", cf.metrics_listen);
	if (listen(fd, 64) < 0)
		log_fatalx(EXIT_TEMP, "listen %s", cf.metrics_listen);
	return fd;
}

/* The certificate and key from relay-master's store (fd 3), or NULL. */
static void tls_pem(char **cert, char **key)
{
	struct tls_store st = { NULL, -1 };
	char err[512] = "not started by relay-master with tls_cert/tls_key";
	int rc;

	*cert = *key = NULL;
	rc = tls_store_from_env(&st, err, sizeof err);
	if (rc <= 0 || tls_store_pem(&st, cert, key, err, sizeof err) < 0)
		log_warn("no TLS for the metrics pages: %s", err);
}

/* Credentials, and TLS when the address is not loopback or
 * metrics_tls says so; exits when an address other than loopback would
 * be served without both. */
static void access_setup(const struct sockaddr_storage *ss,
			 struct mon_creds *cr, char **cert, char **key)
{
	char err[1024];

	if (*cf.metrics_passwd &&
	    mon_creds_load(cf.metrics_passwd, cr, err, sizeof err) < 0)
		log_fatal(EXIT_PERM, "metrics_passwd: %s", err);
	if (is_loopback(ss) && !cf.metrics_tls) {
		if (getenv(TLS_STORE_ENV)) {
			close(TLS_STORE_FD); /* the key is not needed here */
			unsetenv(TLS_STORE_ENV);
		}
	} else {
		tls_pem(cert, key);
		if (cf.metrics_tls && !*cert)
			log_fatal(EXIT_PERM, "metrics_tls: no certificate "
				  "(tls_cert, tls_key)");
	}
	if (!is_loopback(ss)) {
		if (!cr->n || !*cert)
			log_fatal(EXIT_PERM, "metrics_listen %s is not loopback: "
				  "refused without credentials (metrics_passwd) "
				  "and TLS (tls_cert, tls_key)", cf.metrics_listen);
	}
}

/* A sample for the page's throughput (and the alert mail) every
 * MON_RATE_STEP s until a signal of set; woken every NOTIFY_BEAT_MS in
 * between to beat (lib/notify.h), so relay-master finds a relay-metrics
 * whose main thread is stopped or stuck. */
static void sample_loop(const sigset_t *set)
{
	struct timespec beat = { NOTIFY_BEAT_MS / 1000,
				 NOTIFY_BEAT_MS % 1000 * 1000000L };
	long long next = 0;

	for (;;) {
		if (monotime_ms() >= next) {
			mon_rate_sample();
			next = monotime_ms() + MON_RATE_STEP * 1000LL;
		}
		notify_beat();
		if (sigtimedwait(set, NULL, &beat) >= 0)
			return;
	}
}

int main(int argc, char **argv)
{
	static struct mon_creds cr;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *dir = settings_default_dir();
	char *cert = NULL, *key = NULL;
	sigset_t set;
	void *d;
	int c, fd;

	log_init("relay-metrics");
	notify_keep_private();
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd')
			log_fatal(EXIT_PERM, "usage: relay-metrics [-d DIR]");
		dir = optarg;
	}
	settings_load(dir);
	if (!*cf.metrics_listen)
		log_fatal(EXIT_PERM, "metrics_listen is not set");
	if (listen_addr_parse(cf.metrics_listen, &ss, &len) < 0)
		log_fatal(EXIT_PERM, "metrics_listen: not ip:port: %s",
			  cf.metrics_listen);
	access_setup(&ss, &cr, &cert, &key);
	fd = bind_listen(&ss, len);
	mon_data_init(); /* reads the rate store's AUTH file */
	privs_drop(cf.user_metrics, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL); /* the server's threads too */
	signal(SIGPIPE, SIG_IGN);
	if (!(d = mon_http_start(fd, &cr, cert, key)))
		log_fatal(EXIT_TEMP, "cannot start the HTTP server");
	log_info("serving on %s%s", cf.metrics_listen, cert ? " (TLS)" : "");
	notify_ready();
	sample_loop(&set);
	mon_http_stop(d);
	return EXIT_DONE;
}
