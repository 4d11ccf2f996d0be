/* smtpd_main.c: relay-smtpd, one SMTP session on fds 0 and 1 (UCSPI:
 * run by relay-listen, tcpserver or systemd socket activation). */
#include "smtp_session.h"
#include "exitcodes.h"
#include "log.h"
#include "privs.h"
#include "settings.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	int c;

	log_init("relay-smtpd");
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd')
			log_fatal(EXIT_PERM, "usage: relay-smtpd [-d DIR]");
		dir = optarg;
	}
	settings_load(dir);
	privs_drop(cf.user_smtpd, NULL);
	/* a dead queue or policy must cost a 451, not the process */
	signal(SIGPIPE, SIG_IGN);
	return smtp_session_run(0, 1);
}
