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

/* users.cdb was replaced but rules.cdb not: the users.cdb of the set in
 * place before (version prev) back, so that the pair stays one set. */
static void put_back(const struct rulehist *h, int prev)
{
	if (prev > 0 && rulehist_put_back(h, prev, 0) == 0)
		fprintf(stderr, "makecdb: nothing changed: the users.cdb of "
			"version %d is back in place\n", prev);
	else
		fprintf(stderr, "makecdb: warning: the new users.cdb is in "
			"place with the old rules.cdb%s\n", prev > 0 ?
			", and the old users.cdb could not be put back" : "");
}

/* Write the CDBs and keep the new set in the history, h locked by the
 * caller since before relay.rules was read.  The set in place is kept
 * first when the history does not have it (adopted, found in place). */
static int write_and_keep(struct mk *m, struct rulehist *h,
			  const struct rulehist_src *src)
{
	int v, prev = rulehist_keep_in_place(h);

	if ((v = mk_write(m, cf.rules_cdb, cf.users_cdb)) == MK_WRITE_HALF)
		put_back(h, prev);
	if (v < 0)
		return EXIT_TEMP;
	v = rulehist_record(h, src, "makecdb");
	if (v < 0)
		fprintf(stderr, "makecdb: warning: the new rules are in place "
				"but not kept in %s\n", cf.rules_history);
	else
		fprintf(stderr, "makecdb: rules version %d\n", v);
	return EXIT_DONE;
}

/* Read relay.rules once, parse and check that text; the history is
 * locked first (unless only checking), so that the text compiled is the
 * text kept and two makecdb runs take effect in the order they read. */
static int compile(const char *src, int check_only)
{
	struct rulehist h = { .lock = -1, .dfd = -1 };
	struct rulehist_src rs = { src, NULL, 0 };
	char real[PATH_MAX], *text = NULL;
	struct mk m;
	int rc;

	if (!check_only && rulehist_open(&h) < 0)
		return EXIT_TEMP;
	mk_init(&m, src);
	m.dir = cf.dir;
	if (mk_read_file(&m, src, &text, &rs.len) == 0)
		mk_parse_buf(&m, src, text, rs.len);
	if (!m.errors)
		mk_check(&m);
	fprintf(stderr, "makecdb: %s: %zu customers, %zu domains, %zu users, "
		"%zu rules, %zu addresses, %zu routes, %zu dkim keys; %d errors, "
		"%d warnings\n", src, m.n_cust, m.n_dom, m.n_user, m.n_rule,
		m.n_ip, m.n_route, m.n_dkim, m.errors, m.warnings);
	rs.text = text;
	if (realpath(src, real))
		rs.path = real;
	if (m.errors)
		rc = EXIT_PERM;
	else if (check_only)
		rc = EXIT_DONE;
	else
		rc = write_and_keep(&m, &h, &rs);
	rulehist_close(&h);
	mk_free(&m);
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir(), *src = NULL;
	char path[PATH_MAX];
	int check_only = 0, opt;

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
	return compile(src, check_only);
}
