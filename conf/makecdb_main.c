/* makecdb_main.c: makecdb [-n] [-d DIR] [RULES] compiles relay.rules into
 * rules.cdb and users.cdb and keeps the set in the rules history
 * (rulehist.h); -n only checks.  makecdb --hash reads a
 * password (tty without echo, or stdin) and prints a yescrypt hash. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "makecdb.h"
#include "privs.h"
#include "pwhash.h"
#include "rulehist.h"
#include "settings.h"

static int usage(void)
{
	fprintf(stderr, "usage: makecdb [-n] [-d DIR] [RULES]\n"
			"       makecdb --hash\n");
	return EXIT_PERM;
}

static int do_hash(void)
{
	char hash[PWHASH_MAX];
	const char *err;

	if (pwhash_ask(hash, sizeof hash, &err) < 0) {
		fprintf(stderr, "makecdb: %s\n", err);
		return EXIT_PERM;
	}
	puts(hash);
	return EXIT_DONE;
}

/* Write the CDBs and keep the new set in the history; the history is
 * locked first, so that two makecdb runs are kept in the order they took
 * effect.  The set in place when the history begins is kept first. */
static int write_and_keep(struct mk *m, const char *src)
{
	struct rulehist h;
	struct rulehist_entry last;
	char real[PATH_MAX];
	int v;

	if (rulehist_open(&h) < 0)
		return EXIT_TEMP;
	if (!rulehist_latest(&h, &last) && access(cf.rules_cdb, F_OK) == 0 &&
	    access(cf.users_cdb, F_OK) == 0)
		rulehist_record(&h, NULL, "adopted: in place before the history");
	if (mk_write(m, cf.rules_cdb, cf.users_cdb) < 0) {
		rulehist_close(&h);
		return EXIT_TEMP;
	}
	v = rulehist_record(&h, realpath(src, real) ? real : src, "makecdb");
	rulehist_close(&h);
	if (v < 0)
		fprintf(stderr, "makecdb: warning: the new rules are in place "
				"but not kept in %s\n", cf.rules_history);
	else
		fprintf(stderr, "makecdb: rules version %d\n", v);
	return EXIT_DONE;
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir(), *src = NULL;
	char path[PATH_MAX];
	int check_only = 0, opt, rc;
	struct mk m;

	log_init("makecdb");
	privs_file_modes();
	if (argc == 2 && !strcmp(argv[1], "--hash"))
		return do_hash();
	while ((opt = getopt(argc, argv, "nd:")) != -1) {
		if (opt == 'n')
			check_only = 1;
		else if (opt == 'd')
			dir = optarg;
		else
			return usage();
	}
	if (argc - optind > 1)
		return usage();
	settings_load(dir);
	src = optind < argc ? argv[optind] : settings_path(path, sizeof path,
							    "relay.rules");
	mk_init(&m, src);
	m.dir = cf.dir;
	mk_parse_file(&m, src);
	if (!m.errors)
		mk_check(&m);
	fprintf(stderr, "makecdb: %s: %zu customers, %zu domains, %zu users, "
		"%zu rules, %zu addresses, %zu routes, %zu dkim keys; %d errors, "
		"%d warnings\n", src, m.n_cust, m.n_dom, m.n_user, m.n_rule,
		m.n_ip, m.n_route, m.n_dkim, m.errors, m.warnings);
	if (m.errors)
		rc = EXIT_PERM;
	else if (check_only)
		rc = EXIT_DONE;
	else
		rc = write_and_keep(&m, src);
	mk_free(&m);
	return rc;
}
