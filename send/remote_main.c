/* remote_main.c: relay-remote -d DIR.  Binds run/remote.sock (0666),
 * drops to cf.user_remote (plus cf.group_queue, to read queue files),
 * and forks one worker per accepted relay-send connection (qmail-rspawn
 * style).  Only root, our own uid and cf.user_send may connect. */
#include "remote.h"
#include "runsock.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "metrics.h"
#include "privs.h"
#include "settings.h"
#include "usock.h"

static volatile sig_atomic_t main_children;
static uid_t main_send_uid = (uid_t)-1;

static void main_reap(int sig)
{
	int e = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		if (main_children > 0)
			main_children--;
	errno = e;
}

static int main_peer_ok(int fd)
{
	uid_t uid;
	if (usock_peer_uid(fd, &uid) < 0)
		return 0;
	return uid == 0 || uid == geteuid() || uid == main_send_uid;
}

static void main_serve(int lfd, int fd)
{
	sigset_t all, old;
	pid_t pid;

	if (!main_peer_ok(fd)) {
		log_warn("refusing a connection from an unexpected uid");
		close(fd);
		return;
	}
	if (main_children >= 4 * cf.remote_workers + 8) {
		log_warn("too many workers (%d): refusing a connection",
			 (int)main_children);
		close(fd);
		return;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(lfd);
		srandom((unsigned)(time(NULL) ^ getpid()));
		_exit(remote_worker_run(fd));
	}
	if (pid > 0)
		main_children++;
	else
		log_warn("fork: %s", strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fd);
}

/* Accept relay-send's connections, waking at least every NOTIFY_BEAT_MS
 * to beat (lib/notify.h); the listening socket is non-blocking, so one
 * that went away between poll and accept is EAGAIN, not a wait. */
static void main_loop(int lfd)
{
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int fd, rc;

		notify_beat();
		rc = poll(&p, 1, NOTIFY_BEAT_MS);
		if (rc < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "poll");
		if (rc <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED &&
			    errno != EAGAIN)
				log_warn("accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE)
				sleep(1);
			continue;
		}
		main_serve(lfd, fd);
	}
}

static void main_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = main_reap;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	char path[PATH_MAX], err[256];
	struct passwd *pw;
	int opt, lfd;

	log_init(argv[0]);
	notify_keep_private();
	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd')
			log_fatal(EXIT_PERM, "usage: relay-remote [-d DIR]");
		dir = optarg;
	}
	settings_load(dir);
	if ((pw = getpwnam(cf.user_send)))
		main_send_uid = pw->pw_uid;
	/* everything slow comes before the socket appears: whoever waits
	 * for it (relay-master) must find us ready and unprivileged */
	if (remote_session_tls_init(err, sizeof err) < 0)
		log_fatal(EXIT_TEMP, "TLS client setup: %s", err);
	/* once, before the workers fork (MTA-STS policy fetches) */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		log_fatalx(EXIT_TEMP, "libcurl setup failed");
	lfd = runsock_listen(RUNSOCK_REMOTE, path, sizeof path);
	if (lfd < 0)
		log_fatalx(EXIT_TEMP, "listen on %s", path);
	/* no group_queue: relay-remote has no access to the queue at all;
	 * each job's file comes from relay-send as a descriptor */
	privs_drop(cf.user_remote, NULL);
	metrics_open(cf.dir, METRICS_REMOTE);
	/* as relay-send (send_main.c); the workers inherit it */
	sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 });
	if (runsock_listening(lfd) < 0 || fd_nonblock(lfd) < 0)
		log_fatalx(EXIT_TEMP, "listen on %s", path);
	main_signals();
	log_info("listening on %s", path);
	notify_ready();         /* before the first worker is forked */
	main_loop(lfd);
}
