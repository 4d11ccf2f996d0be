/* ctl_reload.c: relayctl reload.  relay-master reads the TLS certificate
 * and key again and reopens the log on SIGHUP, then writes run/reload
 * ("<serial> ok|failed <text>", then "warning <text>" when the key was
 * served with one); relayctl sends the signal, waits for a new serial
 * and prints the text: 0 when the new certificate is served (from the
 * next connection on), 1 when it failed (relay-master goes on with the
 * certificate it had), 111 when relay-master did not answer.  The
 * warning (a key file others can read) goes to stderr: the relay serves,
 * but the operator must hear of it.  relay-master writes run/reload at
 * its start too: relayctl start prints what was not well there. */
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

struct reload_result {
	unsigned long serial;  /* 0: no file, or not one */
	int ok;
	char text[PATH_MAX + 512];
	char warn[PATH_MAX + 256]; /* "" when none */
};

/* One line of f without its newline into buf; 0, or -1 at its end. */
static int reload_line(FILE *f, char *buf, size_t n)
{
	if (!fgets(buf, (int)n, f))
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void reload_read(struct reload_result *r)
{
	char path[PATH_MAX], status[8] = "";
	FILE *f;

	snprintf(path, sizeof path, "%s/reload", cf.run_dir);
	memset(r, 0, sizeof *r);
	if (!(f = fopen(path, "r")))
		return;
	if (fscanf(f, "%lu %7s ", &r->serial, status) != 2 ||
	    reload_line(f, r->text, sizeof r->text) < 0)
		r->serial = 0;
	r->ok = strcmp(status, "ok") == 0;
	if (reload_line(f, r->warn, sizeof r->warn) < 0 ||
	    strncmp(r->warn, "warning ", 8) != 0)
		r->warn[0] = '\0';
	else
		memmove(r->warn, r->warn + 8, strlen(r->warn + 8) + 1);
	fclose(f);
}

static void reload_warn(const char *text)
{
	fprintf(stderr, "relayctl: warning: %s\n", text);
}

void ctl_reload_tell_start(void)
{
	struct reload_result r;

	reload_read(&r);
	if (!r.serial)
		return;
	if (!r.ok)
		reload_warn(r.text);
	if (r.warn[0])
		reload_warn(r.warn);
}

int ctl_reload(int argc, char **argv)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	struct reload_result r;
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
	reload_read(&r);
	before = r.serial;
	if (kill((pid_t)pid, SIGHUP) < 0) {
		fprintf(stderr, "relayctl: kill %ld: %s\n", pid, strerror(errno));
		return EXIT_TEMP;
	}
	for (int ms = 0; ms < CTL_RELOAD_WAIT_MS; ms += 20) {
		reload_read(&r);
		if (r.serial && r.serial != before) {
			printf("%s\n", r.text);
			if (r.warn[0])
				reload_warn(r.warn);
			return r.ok ? 0 : 1;
		}
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "relayctl: relay-master (pid %ld) did not answer the "
		"reload within %d s\n", pid, CTL_RELOAD_WAIT_MS / 1000);
	return EXIT_TEMP;
}
