/* send_main.c: relay-send, the scheduler (send.h, queue/QUEUE.md). */
#include "send.h"
#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "metrics.h"
#include "privs.h"
#include "sendlock.h"
#include "settings.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The queue is ours alone for as long as we run (lib/sendlock.h). */
static void send_lock_queue(void)
{
	long holder;
	int rc = sendlock_take(cf.queue_dir, &holder);

	if (rc == -1)
		log_fatal(EXIT_TEMP, "relay-send pid %ld already delivers from "
			  "%s (it holds %s): a second one would send every "
			  "message twice; stop that one first", holder,
			  cf.queue_dir, SENDLOCK_NAME);
	if (rc < 0)
		log_fatal(EXIT_TEMP, "cannot lock %s/%s: %s", cf.queue_dir,
			  SENDLOCK_NAME, strerror(errno));
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	int opt;

	log_init("relay-send");
	notify_keep_private();
	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt == 'd')
			dir = optarg;
		else
			log_fatal(EXIT_PERM, "usage: relay-send [-d DIR]");
	}
	settings_load(dir);
	send_msg_owners_init();
	privs_drop(cf.user_send, cf.group_queue);
	send_lock_queue();
	metrics_open(cf.dir, METRICS_SEND);
	send_metrics_start();
	/* a woken batch task never preempts the one that woke it: the
	 * results and new messages that wake us do not cut into the
	 * daemons that sent them (ARCHITECTURE.md); failing that, as is */
	sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 });
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	return send_loop_run();
}
