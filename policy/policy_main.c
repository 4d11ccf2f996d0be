/* policy_main.c: relay-policy -d DIR.  Opens the rules, the rate store
 * and run/policy.sock, drops privileges to cf.user_policy, opens the
 * counters file (its own), then serves sessions until SIGTERM. */
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "policy_server.h"
#include "metrics.h"
#include "privs.h"
#include "rate_store.h"
#include "runsock.h"
#include "settings.h"

static void allow_user(struct policy_srv *srv, const char *name)
{
	struct passwd *pw = name && *name ? getpwnam(name) : NULL;
	if (pw && srv->nallow < 3)
		srv->allow[srv->nallow++] = pw->pw_uid;
	if (pw && name == cf.user_smtpd) {
		srv->smtpd_uid = pw->pw_uid;
		srv->smtpd_uid_known = 1;
	}
}

/* The admission key relay-master hands over, and this start's epoch. */
static void policy_main_key(struct policy_srv *srv)
{
	int rc = admit_key_load(&srv->key);

	if (rc < 0)
		log_fatalx(EXIT_TEMP, "cannot read the admission key");
	if (rc == 0)
		log_warn("no admission key (not started by relay-master): no "
			 "proofs for relay-queue, commits counted on trust");
	if (getrandom(&srv->epoch, sizeof srv->epoch, 0) !=
	    (ssize_t)sizeof srv->epoch)
		log_fatal(EXIT_TEMP, "getrandom");
}

int main(int argc, char **argv)
{
	static struct policy_srv srv;
	const char *dir = settings_default_dir();
	char sock[PATH_MAX], susp[PATH_MAX];
	int opt, lfd;

	log_init("relay-policy");
	notify_keep_private();
	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd')
			log_fatal(EXIT_PERM, "usage: relay-policy [-d DIR]");
		dir = optarg;
	}
	settings_load(dir);
	policy_main_key(&srv);
	policy_peer_init();
	settings_path(susp, sizeof susp, "suspended");
	if (policy_db_open(&srv.db, cf.rules_cdb, cf.users_cdb, susp) < 0)
		log_fatalx(EXIT_TEMP, "cannot open %s", cf.rules_cdb);
	srv.rate_ok = rate_store_open() == 0; /* Redis: its AUTH file is root's */
	srv.db.rs = rate_store_client(); /* the fleet's suspensions */
	srv.allow[srv.nallow++] = 0;
	srv.allow[srv.nallow++] = getuid();
	allow_user(&srv, cf.user_smtpd);
	if ((lfd = runsock_listen(RUNSOCK_POLICY, sock, sizeof sock)) < 0)
		log_fatalx(EXIT_TEMP, "listen %s", sock);
	privs_drop(cf.user_policy, NULL);
	/* the counters file is user_policy's: never parsed, renamed or
	 * grown as root */
	srv.rate_ok = rate_store_counters_open() == 0 && srv.rate_ok;
	if (!srv.rate_ok)
		log_warn("counters %s unusable: recipients get 451 4.3.0",
			 cf.counters_file);
	metrics_open(cf.dir, METRICS_POLICY);
	if (runsock_listening(lfd) < 0)
		log_fatalx(EXIT_TEMP, "listen %s", sock);
	log_info("listening on %s", sock);
	notify_ready();
	policy_server_run(&srv, lfd);
	close(lfd);
	unlink(sock);
	policy_db_close(&srv.db);
	rate_store_close(); /* commits in flight answered, counters msync'd */
	return EXIT_DONE;
}
