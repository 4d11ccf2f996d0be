/* listen_main.c: relay-listen: bind the SMTP ports, drop privileges,
 * keep the pool of relay-smtpd workers that accept on them (or accept,
 * apply the caps and run relay-smtpd per connection without a pool). */
#include "listen_caps.h"
#include "listen_sock.h"
#include "listen_spawn.h"
#include "listen_loop.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "privs.h"
#include "settings.h"

#include <sys/resource.h>
#include <unistd.h>

/* Each session holds a descriptor in relay-policy (and about three in
 * its worker): a conn_max the limit cannot hold is refused piecemeal
 * at run time, so it is said once at start. */
static void nofile_check(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    (rlim_t)cf.conn_max + 64 > rl.rlim_max)
		log_warn("conn_max %ld is above the descriptor limit %llu: "
			 "sessions beyond it are refused (raise LimitNOFILE "
			 "or ulimit -Hn)", cf.conn_max,
			 (unsigned long long)rl.rlim_max);
}

int main(int argc, char **argv)
{
	static struct listen_sock socks[LISTEN_SOCK_MAX];
	const char *dir = settings_default_dir();
	size_t n;
	int c, was_root = privs_is_root();

	log_init("relay-listen");
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd')
			log_fatal(EXIT_PERM, "usage: relay-listen [-d DIR]");
		dir = optarg;
	}
	notify_keep_private();
	settings_load(dir);
	nofile_check();
	listen_spawn_init();
	n = listen_sock_open_all(socks, LISTEN_SOCK_MAX);
	privs_drop(cf.user_smtpd, NULL);
	if (was_root)
		listen_spawn_check_exec_only();
	metrics_open(cf.dir, METRICS_SMTPD);
	/* every address is bound and listening (listen_sock_open_all dies
	 * otherwise): only now may relay-master call the relay ready */
	notify_ready();
	return listen_loop_run(socks, n);
}
