/* makecdb_main.c: makecdb [-n] [-d DIR] [RULES] compiles relay.rules into
 * rules.cdb and users.cdb; -n only checks.  makecdb --hash reads a
 * password (tty without echo, or stdin) and prints a yescrypt hash. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "makecdb.h"
#include "pwhash.h"
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

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir(), *src = NULL;
	char path[PATH_MAX];
	int check_only = 0, opt, rc;
	struct mk m;

	log_init("makecdb");
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
		rc = mk_write(&m, cf.rules_cdb, cf.users_cdb) < 0 ? EXIT_TEMP
								 : EXIT_DONE;
	mk_free(&m);
	return rc;
}
