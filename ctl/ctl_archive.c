/* ctl_archive.c: relayctl archive purge [--now T] [CUSTOMER...] — the
 * retention of the customers' archive maildirs (lib/archive.h).  Each
 * folder archive_dir/<customer> loses the copies older than the
 * customer's archive_keep days (0 or none: kept for ever) and tmp/
 * leftovers of a crash.  It runs as user_queue, the folders' owner (like
 * `queue flush`), so a link planted in them leads nowhere that uid could
 * not already write; a folder of a customer the rules no longer archive
 * for is kept whole (the operator decides about it). */
#include "ctl.h"
#include "archive.h"
#include "privs.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The customer's retention in days; 0 keeps everything. */
static long archive_keep(struct rcdb *rules, const char *customer)
{
	char key[RK_KEYMAX], val[RK_VALMAX];
	struct archive_conf ac;

	snprintf(key, sizeof key, "customer:%s", customer);
	if (rules->fd < 0 || rcdb_gets(rules, key, val, sizeof val) < 0)
		return 0;
	archive_conf_get(val, &ac);
	return ac.kind == ARCHIVE_FOLDER ? ac.keep_days : 0;
}

static int purge_one(int top, struct rcdb *rules, const char *customer,
		     long long now)
{
	long keep = archive_keep(rules, customer), removed = 0, kept = 0;
	long long before = keep > 0 ? now - (long long)keep * 86400 : 0;
	int fd = openat(top, customer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);

	if (fd < 0 || archive_purge_folder(fd, before, now, &removed,
					   &kept) < 0) {
		fprintf(stderr, "relayctl: %s/%s: %s\n", cf.archive_dir,
			customer, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 111;
	}
	close(fd);
	printf("customer=%s keep_days=%ld removed=%ld kept=%ld\n", customer,
	       keep, removed, kept);
	return 0;
}

static int purge_all(int top, struct rcdb *rules, long long now)
{
	DIR *d = fdopendir(dup(top));
	struct dirent *e;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "relayctl: %s: %s\n", cf.archive_dir,
			strerror(errno));
		return 111;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && purge_one(top, rules, e->d_name,
						     now))
			rc = 111;
	closedir(d);
	return rc;
}

static int archive_purge(int argc, char **argv)
{
	long long now = (long long)time(NULL);
	struct rcdb rules;
	int i = 0, top, rc = 0;

	if (argc >= 2 && !strcmp(argv[0], "--now")) {
		char *end;
		errno = 0;
		now = strtoll(argv[1], &end, 10);
		if (!*argv[1] || *end || errno || now < 0) {
			fprintf(stderr, "relayctl: --now takes Unix seconds, "
					"not \"%s\"\n", argv[1]);
			return 100;
		}
		i = 2;
	}
	rcdb_init(&rules, cf.rules_cdb);
	privs_drop(cf.user_queue, NULL);
	top = open(cf.archive_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		   O_CLOEXEC);
	if (top < 0) {
		rcdb_close(&rules);
		if (errno == ENOENT)
			return 0; /* nothing archived yet */
		fprintf(stderr, "relayctl: %s: %s\n", cf.archive_dir,
			strerror(errno));
		return 111;
	}
	if (i == argc)
		rc = purge_all(top, &rules, now);
	for (; i < argc; i++)
		if (argv[i][0] == '.' || strchr(argv[i], '/'))
			rc = (fprintf(stderr, "relayctl: bad customer %s\n",
				      argv[i]), 100);
		else if (purge_one(top, &rules, argv[i], now))
			rc = 111;
	close(top);
	rcdb_close(&rules);
	return rc;
}

int ctl_archive(int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "purge"))
		return archive_purge(argc - 1, argv + 1);
	fprintf(stderr, "usage: relayctl archive purge [--now T] "
			"[CUSTOMER...]\n");
	return 100;
}
