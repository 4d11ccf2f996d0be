/* smtpd_main.c: relay-smtpd: one SMTP session on fds 0 and 1 (UCSPI: run
 * by tcpserver or systemd socket activation), or with -w a pool worker
 * of relay-listen serving one session after another (smtp_worker.c). */
#include "smtp_session.h"
#include "smtp_stop.h"
#include "smtp_tls.h"
#include "smtp_worker.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"
#include "settings.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The UCSPI environment (tcpserver's names; RELAYBOX_TLS=1 for 465). */
static int ucspi_session(void)
{
	const char *tls = getenv("RELAYBOX_TLS");
	struct smtp_peer p = {
		.ip = getenv("TCPREMOTEIP"),
		.port = getenv("TCPREMOTEPORT"),
		.localip = getenv("TCPLOCALIP"),
		.localport = getenv("TCPLOCALPORT"),
		.tls = tls && tls[0] == '1' && !tls[1],
	};
	smtp_stop_init(NULL);
	return smtp_session_run(0, 1, &p);
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	int c, worker = 0;

	log_init("relay-smtpd");
	/* exec'd by relay-listen as user_smtpd, we are dumpable: no other
	 * worker (another address group's) may read the sessions in us */
	privs_undumpable();
	while ((c = getopt(argc, argv, "d:w")) != -1) {
		if (c == 'w')
			worker = 1;
		else if (c == 'd')
			dir = optarg;
		else
			log_fatal(EXIT_PERM, "usage: relay-smtpd [-d DIR] [-w]");
	}
	settings_load(dir);
	smtp_tls_init(); /* the key is root's */
	privs_drop(cf.user_smtpd, NULL);
	metrics_open(cf.dir, METRICS_SMTPD);
	/* a dead queue or policy must cost a 451, not the process */
	signal(SIGPIPE, SIG_IGN);
	c = worker ? smtp_worker_run(0) : ucspi_session();
	smtp_session_exit();
	return c;
}
