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
#include "privs.h"
#include "settings.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	static struct listen_sock socks[LISTEN_SOCK_MAX];
	const char *dir = settings_default_dir();
	size_t n;
	int c;

	log_init("relay-listen");
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd')
			log_fatal(EXIT_PERM, "usage: relay-listen [-d DIR]");
		dir = optarg;
	}
	settings_load(dir);
	listen_spawn_init();
	n = listen_sock_open_all(socks, LISTEN_SOCK_MAX);
	privs_drop(cf.user_smtpd, NULL);
	metrics_open(cf.dir, METRICS_SMTPD);
	return listen_loop_run(socks, n);
}
