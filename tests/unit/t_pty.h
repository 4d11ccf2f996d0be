/* t_pty.h: run code as a daemon started from a terminal would run it,
 * for the tests that a key read never waits on a passphrase prompt. */
#ifndef T_PTY_H
#define T_PTY_H

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn(arg) in a child whose controlling terminal is a pty; its exit
 * status, or -1 when it could not start or was still running after secs
 * seconds (OpenSSL's prompt catches SIGALRM: the child is killed). */
static inline int t_on_pty(int (*fn)(void *), void *arg, int secs)
{
	char buf[512];
	int master, status = 0, done = 0;
	pid_t pid;

	fflush(stdout);
	pid = forkpty(&master, NULL, NULL, NULL);
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	fcntl(master, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < secs * 10 && !done; i++) {
		while (read(master, buf, sizeof buf) > 0)
			; /* drained: a prompt never fills the pty */
		done = waitpid(pid, &status, WNOHANG) == pid;
		if (!done)
			usleep(100000);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(master);
	return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
