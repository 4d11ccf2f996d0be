/* queue_main.c: relay-queue.  By hand (qmail-queue style): message on
 * fd 0, envelope on fd 1, exit 0 durable / 100 permanent / 111 temporary.
 * With -l: the daemon on run/queue.sock (queue_listen.c). */
#include "queue.h"
#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "settings.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	struct queue_result r;
	int opt, daemon = 0;

	log_init("relay-queue");
	notify_keep_private();
	while ((opt = getopt(argc, argv, "d:l")) != -1) {
		if (opt == 'd')
			dir = optarg;
		else if (opt == 'l')
			daemon = 1;
		else
			log_fatal(EXIT_PERM, "usage: relay-queue [-d DIR] [-l]");
	}
	settings_load(dir);
	if (daemon)
		return queue_listen_run();
	signal(SIGPIPE, SIG_IGN);
	privs_drop(cf.user_queue, cf.group_queue);
	queue_rules_open();
	queue_inject(0, 1, &r);
	return r.status;
}
