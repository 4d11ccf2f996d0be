/* relayctl: the operator's tool.  A table maps each command to its handler
 * (ctl/ctl.h; each handler lives in its own ctl_<name>.c) and a usage
 * line.  Usage: relayctl [-d DIR] <command> [args...]
 * A handler gets the arguments after the command name; argv[-1] is the
 * command name itself (so ctl_suspend can tell "unsuspend" apart). */
#include "ctl.h"
#include "exitcodes.h"
#include "log.h"
#include "privs.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Until the policy part adds its own handler, "unsuspend" is ctl_suspend
 * with argv[-1] == "unsuspend". */
int ctl_unsuspend(int argc, char **argv) __attribute__((weak));

static int main_unsuspend(int argc, char **argv)
{
	if (ctl_unsuspend)
		return ctl_unsuspend(argc, argv);
	return ctl_suspend(argc, argv);
}

/* What a command needs of relay.conf. */
enum relayctl_conf {
	CONF_VALID,    /* a good relay.conf, or it refuses (start, reload...) */
	CONF_RUN_DIR,  /* only run/: an error in it is a warning (stop, status) */
	CONF_NO_DIR,   /* works without an instance too (passwd) */
};

struct relayctl_cmd {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *usage;
	enum relayctl_conf conf;
};

const char *ctl_conf_error;

static const struct relayctl_cmd relayctl_cmds[] = {
	{ "start", ctl_start, "start [-w SECS]  start relay-master, wait (30 s) until the relay is up", CONF_VALID },
	{ "stop", ctl_stop, "stop             stop relay-master and every daemon", CONF_RUN_DIR },
	{ "status", ctl_status, "status           daemons (pid, uid, uptime, restarts) and queue size", CONF_RUN_DIR },
	{ "reload", ctl_reload, "reload           read the TLS certificate and key again, reopen the log", CONF_VALID },
	{ "log", ctl_log, "log [--id QID] [--from ADDR] [--to ADDR] [--ip IP]\n"
			  "    [--since TIME] [--until TIME] [PATTERN]   search the log", CONF_VALID },
	{ "explain", ctl_explain, "explain ...      dry run of the policy (relayctl explain -h)", CONF_VALID },
	{ "stats", ctl_stats, "stats ...        live rate counters per user and customer", CONF_VALID },
	{ "queue", ctl_queue, "queue list|customers|show|hold|release|delete|flush ...", CONF_VALID },
	{ "suspend", ctl_suspend, "suspend ...      suspend a user or customer", CONF_VALID },
	{ "unsuspend", main_unsuspend, "unsuspend ...    lift a suspension", CONF_VALID },
	{ "abuse", ctl_abuse, "abuse list|show ACCOUNT|ack ACCOUNT|release ACCOUNT  abuse monitoring's evidence; lift a suspension", CONF_VALID },
	{ "rules", ctl_rules, "rules version|history|diff N [M]|rollback [--force] N  the rule set in place and its history", CONF_VALID },
	{ "dkim", ctl_dkim, "dkim keygen|show|check ...  DKIM keys and their DNS records", CONF_VALID },
	{ "archive", ctl_archive, "archive purge [--now T] [CUSTOMER...]  drop archive copies past archive_keep", CONF_VALID },
	{ "passwd", ctl_passwd, "passwd [USER]    hash a password for relay.rules", CONF_NO_DIR },
};
#define NCMDS (sizeof relayctl_cmds / sizeof relayctl_cmds[0])

/* relay.conf before the handler: stop and status go on past an error
 * in it (the relay running may have to be stopped to fix it), with the
 * error in ctl_conf_error for them to tell. */
static void main_settings(const char *dir, enum relayctl_conf conf)
{
	static char err[1024];

	if (conf == CONF_NO_DIR && access(dir, F_OK) != 0)
		return; /* passwd before the install */
	if (conf != CONF_RUN_DIR) {
		settings_load(dir);
		return;
	}
	if (settings_read(dir, err, sizeof err) < 0)
		ctl_conf_error = err;
}

static int main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: relayctl [-d DIR] <command> [args...]\n"
		   "DIR defaults to $RELAYBOX_DIR or /etc/relaybox.\n"
		   "commands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n", relayctl_cmds[i].usage);
	return f == stderr ? EXIT_PERM : 0;
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	const char *cmd;
	size_t i;
	int opt, first;

	log_init("relayctl");
	privs_file_modes();
	/* '+': options stop at the command; its own options are its own */
	while ((opt = getopt(argc, argv, "+d:h")) != -1) {
		if (opt == 'd')
			dir = optarg;
		else
			return main_usage(opt == 'h' ? stdout : stderr);
	}
	if (optind >= argc)
		return main_usage(stderr);
	cmd = argv[optind];
	if (strcmp(cmd, "help") == 0)
		return main_usage(stdout);
	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmd, relayctl_cmds[i].name) != 0)
			continue;
		main_settings(dir, relayctl_cmds[i].conf);
		first = optind + 1;
		optind = 1; /* a handler may use getopt on (argc + 1, argv - 1) */
		return relayctl_cmds[i].handler(argc - first, argv + first);
	}
	fprintf(stderr, "relayctl: unknown command %s\n", cmd);
	return main_usage(stderr);
}
