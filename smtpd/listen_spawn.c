/* listen_spawn.c: fork + exec relay-smtpd, for one connection or as a
 * pool worker (see listen_spawn.h). */
#include "listen_spawn.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"
#include "stopsig.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usock.h"

static char smtpd_path[PATH_MAX];

void listen_spawn_init(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n < 0)
		log_fatalx(EXIT_TEMP, "readlink /proc/self/exe");
	self[n] = '\0';
	if ((size_t)snprintf(smtpd_path, sizeof smtpd_path, "%s/relay-smtpd",
			     dirname(self)) >= sizeof smtpd_path)
		log_fatal(EXIT_TEMP, "path too long");
	if (access(smtpd_path, X_OK) < 0)
		log_fatalx(EXIT_TEMP, "%s", smtpd_path);
}

void listen_spawn_check_exec_only(void)
{
	if (access(smtpd_path, R_OK) == 0)
		log_warn("%s is readable by %s: a worker could open another's "
			 "memory as it starts; make it mode 0711 (make install "
			 "does)", smtpd_path, cf.user_smtpd);
}

/* In the child: relay-listen's signal dispositions undone. */
static void child_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(STOPSIG_RELAY, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

/* In the child: the connection on fds 0 and 1, the UCSPI variables. */
static void child_exec(int fd, const struct listen_peer *p)
{
	char *argv[] = { "relay-smtpd", "-d", cf.dir, NULL };

	child_signals();
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		_exit(EXIT_TEMP);
	if (fd > 1)
		close(fd);
	if (setenv("PROTO", "TCP", 1) < 0 ||
	    setenv("TCPREMOTEIP", p->ip, 1) < 0 ||
	    setenv("TCPREMOTEPORT", p->port, 1) < 0 ||
	    setenv("TCPLOCALIP", p->localip, 1) < 0 ||
	    setenv("TCPLOCALPORT", p->localport, 1) < 0)
		_exit(EXIT_TEMP);
	if (p->tls)
		setenv("RELAYBOX_TLS", "1", 1);
	else
		unsetenv("RELAYBOX_TLS");
	execv(smtpd_path, argv);
	log_warn("exec %s failed", smtpd_path);
	_exit(EXIT_TEMP);
}

pid_t listen_spawn(int fd, const struct listen_peer *p)
{
	pid_t pid = fork();

	if (pid == 0)
		child_exec(fd, p);
	if (pid < 0)
		log_warn("fork failed for %s", p->ip);
	return pid;
}

/* In the child: the control socket on fd 0, nothing on fd 1 (the
 * protocol never goes to stdout), the log on fd 2 as ours. */
static void worker_exec(int ctl)
{
	char *argv[] = { "relay-smtpd", "-d", cf.dir, "-w", NULL };
	int null;

	child_signals();
	if (dup2(ctl, 0) < 0)
		_exit(EXIT_TEMP);
	null = open("/dev/null", O_WRONLY);
	if (null < 0 || dup2(null, 1) < 0)
		_exit(EXIT_TEMP);
	execv(smtpd_path, argv);
	log_warn("exec %s failed", smtpd_path);
	_exit(EXIT_TEMP);
}

pid_t listen_spawn_worker(int *ctl)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("socketpair for a worker failed");
		return -1;
	}
	pid = fork();
	if (pid == 0)
		worker_exec(sv[1]);
	close(sv[1]);
	if (pid < 0 || fd_nonblock(sv[0]) < 0) {
		log_warn("could not start a relay-smtpd worker");
		close(sv[0]);
		return -1; /* a forked child sees EOF and exits */
	}
	*ctl = sv[0];
	return pid;
}
