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

struct relayctl_cmd {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *usage;
	int optional_dir;  /* works without an instance (passwd) */
};

static const struct relayctl_cmd relayctl_cmds[] = {
	{ "start", ctl_start, "start [-w SECS]  start relay-master, wait (30 s) until the relay is up", 0 },
	{ "stop", ctl_stop, "stop             stop relay-master and every daemon", 0 },
	{ "status", ctl_status, "status           daemons (pid, uid, uptime, restarts) and queue size", 0 },
	{ "reload", ctl_reload, "reload           read the TLS certificate and key again, reopen the log", 0 },
	{ "log", ctl_log, "log [--id QID] [--from ADDR] [--to ADDR] [--ip IP]\n"
			  "    [--since TIME] [--until TIME] [PATTERN]   search the log", 0 },
	{ "explain", ctl_explain, "explain ...      dry run of the policy (relayctl explain -h)", 0 },
	{ "stats", ctl_stats, "stats ...        live rate counters per user and customer", 0 },
	{ "queue", ctl_queue, "queue list|customers|show|hold|release|delete|flush ...", 0 },
	{ "suspend", ctl_suspend, "suspend ...      suspend a user or customer", 0 },
	{ "unsuspend", main_unsuspend, "unsuspend ...    lift a suspension", 0 },
	{ "abuse", ctl_abuse, "abuse list|show ACCOUNT|ack ACCOUNT|release ACCOUNT  abuse monitoring's evidence; lift a suspension", 0 },
	{ "rules", ctl_rules, "rules version|history|diff N [M]|rollback N  the rule set in place and its history", 0 },
	{ "dkim", ctl_dkim, "dkim keygen|show|check ...  DKIM keys and their DNS records", 0 },
	{ "archive", ctl_archive, "archive purge [--now T] [CUSTOMER...]  drop archive copies past archive_keep", 0 },
	{ "passwd", ctl_passwd, "passwd [USER]    hash a password for relay.rules", 1 },
};
#define NCMDS (sizeof relayctl_cmds / sizeof relayctl_cmds[0])

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
		/* settings before the handler; passwd also runs before install */
		if (!relayctl_cmds[i].optional_dir || access(dir, F_OK) == 0)
			settings_load(dir);
		first = optind + 1;
		optind = 1; /* a handler may use getopt on (argc + 1, argv - 1) */
		return relayctl_cmds[i].handler(argc - first, argv + first);
	}
	fprintf(stderr, "relayctl: unknown command %s\n", cmd);
	return main_usage(stderr);
}
