/* rulehist_roll.c: putting an older version back in place (rulehist.h). */
#include "rulehist.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkfile.h"
#include "settings.h"

static int install(const char *src, const char *dst, int secret)
{
	struct mkfile f;

	if (mkfile_open(&f, dst, secret) < 0)
		return -1;
	mkfile_copy(&f, src);
	return mkfile_finish(&f) < 0 ? -1 : mkfile_commit(&f);
}

/* The relay.rules of version n back where it came from, with the mode
 * and owner of the file it replaces (it holds password hashes). */
static int install_rules(const struct rulehist *h, int n, char *src,
			 size_t len)
{
	char p[PATH_MAX];
	struct mkfile f;
	struct stat st;
	ssize_t got;
	int fd = open(rulehist_file(h, n, "source", p), O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0; /* an adopted set: no rules file known */
	got = read(fd, src, len - 1);
	close(fd);
	if (got <= 0 || src[0] != '/')
		return 0;
	src[got] = '\0';
	if (stat(src, &st) < 0) {
		st.st_mode = 0600;
		st.st_uid = geteuid();
		st.st_gid = getegid();
	}
	if (mkfile_open(&f, src, 0) < 0)
		return -1;
	if (fchmod(f.fd, st.st_mode & 07777) < 0 ||
	    (geteuid() == 0 && fchown(f.fd, st.st_uid, st.st_gid) < 0))
		f.failed = errno;
	mkfile_copy(&f, rulehist_file(h, n, "relay.rules", p));
	return mkfile_finish(&f) < 0 ? -1 : mkfile_commit(&f) < 0 ? -1 : 1;
}

int rulehist_rollback(struct rulehist *h, int n)
{
	struct rulehist_entry e, last;
	char rules[PATH_MAX], users[PATH_MAX], hash[RULEHIST_HASHLEN + 1];
	char src[PATH_MAX] = "", action[64];
	int put;

	if (!rulehist_find(h, n, &e) || !rulehist_latest(h, &last)) {
		fprintf(stderr, "rules history: no version %d\n", n);
		return -1;
	}
	rulehist_file(h, n, "rules.cdb", rules);
	rulehist_file(h, n, "users.cdb", users);
	if (rulehist_hash(rules, users, hash) < 0 || strcmp(hash, e.hash)) {
		fprintf(stderr, "rules history: version %d is %s\n", n,
			access(rules, F_OK) ? "no longer kept"
					    : "not what the audit says");
		return -1;
	}
	if (!strcmp(last.hash, e.hash))
		return last.n;
	/* users first, as makecdb does */
	if (install(users, cf.users_cdb, 1) < 0 ||
	    install(rules, cf.rules_cdb, 0) < 0 ||
	    (put = install_rules(h, n, src, sizeof src)) < 0)
		return -1;
	snprintf(action, sizeof action, "rollback to %d", n);
	return rulehist_record(h, put ? src : NULL, action);
}
