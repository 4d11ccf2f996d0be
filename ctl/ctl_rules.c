/* ctl_rules.c: relayctl rules version|history|diff|rollback — the rule
 * set in place and its history (conf/rulehist.h). */
#include "ctl.h"
#include "ctl_rules.h"
#include "exitcodes.h"
#include "../conf/rulehist.h"
#include "settings.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rules_usage(void)
{
	fprintf(stderr, "usage: relayctl rules version\n"
			"       relayctl rules history\n"
			"       relayctl rules diff N [M]\n"
			"       relayctl rules rollback [--force] N\n");
	return EXIT_PERM;
}

static int version_number(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	return *s && !*end && n > 0 && n < 1000000000 ? (int)n : -1;
}

struct match {
	const char *hash;
	int n;
};

static void match_hash(const struct rulehist_entry *e, void *arg)
{
	struct match *w = arg;

	if (!strcmp(e->hash, w->hash))
		w->n = e->n;
}

/* "HASH version N": the set in place, and which version it is. */
static int rules_version(void)
{
	char hash[RULEHIST_HASHLEN + 1];
	struct rulehist h;
	struct match w = { hash, 0 };

	if (rulehist_hash(cf.rules_cdb, cf.users_cdb, hash) < 0) {
		perror(cf.rules_cdb);
		return EXIT_TEMP;
	}
	if (rulehist_view(&h) < 0)
		return EXIT_TEMP;
	rulehist_each(&h, match_hash, &w);
	rulehist_close(&h);
	if (w.n)
		printf("%s version %d\n", hash, w.n);
	else
		printf("%s not in the history\n", hash);
	return EXIT_DONE;
}

/* '*' marks the version in place: the latest with its hash. */
static void print_entry(const struct rulehist_entry *e, void *arg)
{
	const struct match *current = arg;

	printf("%c%5d  %s  %.12s  %-12s  ", e->n == current->n ? '*' : ' ',
	       e->n, e->time, e->hash, e->changes);
	ctl_term_puts(stdout, e->who);
	fputs("  ", stdout);
	ctl_term_puts(stdout, e->action);
	putchar('\n');
}

static int rules_history(void)
{
	char hash[RULEHIST_HASHLEN + 1] = "";
	struct rulehist h;
	struct match w = { hash, 0 };

	rulehist_hash(cf.rules_cdb, cf.users_cdb, hash);
	if (rulehist_view(&h) < 0)
		return EXIT_TEMP;
	rulehist_each(&h, match_hash, &w);
	printf("  version  time                  hash          changes       "
	       "who  action\n");
	rulehist_each(&h, print_entry, &w);
	rulehist_close(&h);
	return EXIT_DONE;
}

/* diff(1)'s output on stdout through ctl_term_put, a line at a time: the
 * relay.rules text reaches the operator's terminal escaped as `rules
 * history` escapes its fields (a version kept before makecdb refused
 * control characters in comments may hold some).  diff's status. */
static int print_diff(const struct rulehist *h, int a, int b)
{
	FILE *out = tmpfile();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc;

	if (!out) {
		perror("relayctl rules: a temporary file");
		return -1;
	}
	rc = rulehist_diff(h, a, b, out);
	rewind(out);
	while ((n = getline(&line, &cap, out)) > 0)
		ctl_term_put(stdout, line, (size_t)n);
	free(line);
	fclose(out);
	return rc;
}

/* diff N: what version N changed; diff N M: from N to M. */
static int rules_diff(int argc, char **argv)
{
	struct rulehist h;
	struct rulehist_entry e;
	int a, b, rc;

	a = version_number(argv[0]);
	b = argc > 1 ? version_number(argv[1]) : a;
	if (a < 0 || b < 0)
		return rules_usage();
	if (argc == 1)
		a = b - 1;
	if (rulehist_view(&h) < 0)
		return EXIT_TEMP;
	if ((a > 0 && !rulehist_find(&h, a, &e)) || !rulehist_find(&h, b, &e)) {
		fprintf(stderr, "relayctl rules: no version %d\n",
			a > 0 && !rulehist_find(&h, a, &e) ? a : b);
		rulehist_close(&h);
		return EXIT_PERM;
	}
	if (!rulehist_kept(&h, b) || (!rulehist_kept(&h, a) && a != b - 1)) {
		fprintf(stderr, "relayctl rules: version %d is no longer kept "
			"(rules_history_keep); its audit line stays in rules "
			"history\n", rulehist_kept(&h, b) ? a : b);
		rulehist_close(&h);
		return EXIT_PERM;
	}
	rc = print_diff(&h, a, b);
	rulehist_close(&h);
	return rc < 0 ? EXIT_TEMP : EXIT_DONE;
}

/* rollback [--force] N: refused (exit 100) when version N fails the
 * checks of ctl_rules_check, unless --force. */
static int rules_rollback(int argc, char **argv)
{
	struct rulehist h;
	struct rulehist_entry e;
	int force = argc == 2 && !strcmp(argv[0], "--force");
	int n = argc == 1 + force ? version_number(argv[force]) : -1, v, found;

	if (n < 0)
		return rules_usage();
	if (rulehist_open(&h) < 0)
		return EXIT_TEMP;
	if (!(found = rulehist_find(&h, n, &e)) || !rulehist_kept(&h, n)) {
		fprintf(stderr, found ? "relayctl rules: version %d is no "
			"longer kept\n" : "relayctl rules: no version %d\n", n);
		rulehist_close(&h);
		return EXIT_PERM;
	}
	if (ctl_rules_check(&h, n, force) < 0) {
		rulehist_close(&h);
		return EXIT_PERM;
	}
	ctl_rules_users(&h, n);
	v = rulehist_rollback(&h, n);
	rulehist_close(&h);
	if (v < 0)
		return EXIT_TEMP;
	printf("rules: version %d in place (the set of version %d)\n", v, n);
	return EXIT_DONE;
}

int ctl_rules(int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "version"))
		return rules_version();
	if (argc == 1 && !strcmp(argv[0], "history"))
		return rules_history();
	if ((argc == 2 || argc == 3) && !strcmp(argv[0], "diff"))
		return rules_diff(argc - 1, argv + 1);
	if ((argc == 2 || argc == 3) && !strcmp(argv[0], "rollback"))
		return rules_rollback(argc - 1, argv + 1);
	return rules_usage();
}
