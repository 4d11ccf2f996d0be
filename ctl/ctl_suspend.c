/* ctl_suspend.c: relayctl suspend|unsuspend user ADDRESS | customer NAME.
 * Edits DIR/suspended (lib/susp.c, atomically replaced); relay-policy
 * follows it at its next decision, on top of suspended=yes in the rules.
 * With a shared rate store (rate_store = redis...) the entry goes there
 * too (lib/rstore_susp.h), and every box of the fleet follows it within
 * a second. */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "exitcodes.h"
#include "settings.h"
#include "rstore_susp.h"
#include "susp.h"

/* The fleet's copy: 0 done (or no shared store), -1 (said). */
static int edit_shared(const char *kind, const char *name, int add)
{
	char err[512];
	struct rstore *rs;
	int rc;

	if (!strcmp(cf.rate_store, "local"))
		return 0;
	if (!(rs = rstore_from_settings(err, sizeof err))) {
		fprintf(stderr, "relayctl: shared store: %s\n", err);
		return -1;
	}
	rc = rstore_susp_edit(rs, cf.rate_store_prefix, kind, name, add);
	if (rc < 0)
		fprintf(stderr, "relayctl: shared store %s: %s: changed on this "
			"box only; run it again when Redis answers\n",
			cf.rate_store, rstore_error(rs));
	rstore_free(rs);
	return rc < 0 ? -1 : 0;
}

static int edit(int argc, char **argv, int add)
{
	const char *verb = add ? "suspend" : "unsuspend";
	char path[PATH_MAX], name[ADDR_MAX + 1];
	int rc;

	if (argc != 2 || (strcmp(argv[0], "user") && strcmp(argv[0], "customer")) ||
	    strlen(argv[1]) >= sizeof name || !*argv[1]) {
		fprintf(stderr, "usage: relayctl %s user ADDRESS | customer NAME\n",
			verb);
		return EXIT_PERM;
	}
	snprintf(name, sizeof name, "%s", argv[1]);
	/* relay-policy looks a sender up in its one form ("b\ob"@x is
	 * bob@x, lib/addr.h) and in any case */
	if (!strcmp(argv[0], "user") && addr_mailbox_check(name, 1) == ADDR_OK)
		addr_canonical(name);
	addr_lower(name);
	settings_path(path, sizeof path, "suspended");
	rc = susp_edit(path, argv[0], name, add);
	if (rc < 0) {
		fprintf(stderr, "relayctl: %s: %s: %s\n", verb, path,
			strerror(errno));
		return errno == EINVAL ? EXIT_PERM : EXIT_TEMP;
	}
	if (edit_shared(argv[0], name, add) < 0)
		return EXIT_TEMP;
	printf("%s %s %s%s%s\n", argv[0], name,
	       add ? "suspended" : "no longer suspended by the operator",
	       rc == 1 ? " (it already was)" : "",
	       strcmp(cf.rate_store, "local") ? " on every box" : "");
	return EXIT_DONE;
}

int ctl_suspend(int argc, char **argv)
{
	/* argv[-1] is the command name (relayctl_main.c) */
	return edit(argc, argv, strcmp(argv[-1], "unsuspend") != 0);
}

int ctl_unsuspend(int argc, char **argv)
{
	return edit(argc, argv, 0);
}
