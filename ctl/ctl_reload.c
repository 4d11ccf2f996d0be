/* ctl_reload.c: relayctl reload.  relay-master reads the TLS certificate
 * and key again and reopens the log on SIGHUP, then writes run/reload
 * ("<serial> ok|failed <text>"); relayctl sends the signal, waits for a
 * new serial and prints the text: 0 when the new certificate is served
 * (from the next connection on), 1 when it failed (relay-master goes on
 * with the certificate it had), 111 when relay-master did not answer. */
#include "ctl.h"
#include "exitcodes.h"
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CTL_RELOAD_WAIT_MS 10000

/* The serial of run/reload (0 when there is none) and its text. */
static unsigned long reload_read(char *text, size_t n)
{
	char path[PATH_MAX];
	unsigned long serial = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/reload", cf.run_dir);
	text[0] = '\0';
	if (!(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%lu ", &serial) != 1 || !fgets(text, (int)n, f))
		serial = 0;
	fclose(f);
	text[strcspn(text, "\n")] = '\0';
	return serial;
}

int ctl_reload(int argc, char **argv)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	char text[PATH_MAX + 512];
	unsigned long before;
	long pid;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "usage: relayctl reload\n");
		return EXIT_PERM;
	}
	if (!(pid = ctl_master_pid())) {
		fprintf(stderr, "relayctl: relay-master is not running\n");
		return EXIT_TEMP;
	}
	before = reload_read(text, sizeof text);
	if (kill((pid_t)pid, SIGHUP) < 0) {
		fprintf(stderr, "relayctl: kill %ld: %s\n", pid, strerror(errno));
		return EXIT_TEMP;
	}
	for (int ms = 0; ms < CTL_RELOAD_WAIT_MS; ms += 20) {
		unsigned long now = reload_read(text, sizeof text);
		if (now && now != before) {
			int ok = strncmp(text, "ok ", 3) == 0;
			printf("%s\n", text + (ok ? 3 : 7));
			return ok ? 0 : 1;
		}
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "relayctl: relay-master (pid %ld) did not answer the "
		"reload within %d s\n", pid, CTL_RELOAD_WAIT_MS / 1000);
	return EXIT_TEMP;
}
