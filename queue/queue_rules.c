/* queue_rules.c: relay-queue's one view of rules.cdb (the customers'
 * DKIM keys, archive, scan mode and admin address), opened at start and
 * followed across makecdb's replacements. */
#include "queue.h"
#include "exitcodes.h"
#include "log.h"
#include "rcdb.h"
#include "settings.h"

#include <errno.h>
#include <string.h>

static struct rcdb rules = { .fd = -1 };

/* A rules.cdb that exists but cannot be read would make every message go
 * out as if its customer had no keys, no archive and no scan: unsigned,
 * unarchived, silently.  relay-queue refuses to run instead (relay-smtpd
 * answers 451 meanwhile); a missing file is an empty set of rules. */
void queue_rules_open(void)
{
	if (rcdb_init(&rules, cf.rules_cdb) < 0)
		log_fatal(EXIT_TEMP, "%s: %s (it must be readable by %s: "
			  "run makecdb again)", cf.rules_cdb, strerror(errno),
			  cf.user_queue);
}

struct rcdb *queue_rules(void)
{
	if (!rules.path)
		queue_rules_open(); /* a unit test's first lookup */
	else if (rcdb_refresh(&rules) < 0)
		log_warn("cannot load the new %s (%s); the previous one stays "
			 "in force", cf.rules_cdb, strerror(errno));
	return &rules;
}
