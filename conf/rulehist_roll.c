/* rulehist_roll.c: putting an older version back in place (rulehist.h). */
#include "rulehist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

/* The mode and owner for the new relay.rules: those of the regular
 * file it replaces (it holds password hashes), looked at in the folder
 * without following a link; root's 0600 when there is none. */
static void rules_mode(int dfd, const char *name, struct stat *st)
{
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st->st_mode) && st->st_nlink == 1)
		return;
	st->st_mode = 0600;
	st->st_uid = geteuid();
	st->st_gid = getegid();
}

/* Root writes relay.rules back only into a folder nobody else can
 * write: in another uid's folder (a checkout of theirs, say) that uid
 * could put a name where root writes.  Then the file is left as it is
 * and the operator told; the CDBs are back all the same.  1 with *dfd
 * the folder, 0 when not trusted (said so), -1 after a message. */
static int rules_dir(const struct rulehist *h, int n, const char *src,
		     int *dfd)
{
	char why[128], p[PATH_MAX];
	const char *name;

	if ((*dfd = dirfile_open_parent(src, &name)) < 0) {
		fprintf(stderr, "rules history: the folder of %s: %s\n", src,
			strerror(errno));
		return -1;
	}
	if (dirfile_trusted(*dfd, why, sizeof why) == 0)
		return 1;
	fprintf(stderr, "rules history: warning: %s NOT restored: its folder "
		"%s, and root writes only into a folder nobody else can "
		"write.  Put %s in its place yourself before the next makecdb, "
		"or that makecdb puts the rules rolled back from in force "
		"again\n", src, why, rulehist_file(h, n, "relay.rules", p));
	close(*dfd);
	return 0;
}

/* The relay.rules of version n back where it came from: 1, 0 when it
 * stays as it is (an adopted set, or a folder not root's alone), -1
 * after a message. */
static int install_rules(const struct rulehist *h, int n, char *src,
			 size_t len)
{
	char p[PATH_MAX];
	struct mkfile f;
	struct stat st;
	ssize_t got;
	int dfd, rc, fd = open(rulehist_file(h, n, "source", p),
			   O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return 0; /* an adopted set: no rules file known */
	got = read(fd, src, len - 1);
	close(fd);
	if (got <= 0 || src[0] != '/')
		return 0;
	src[got] = '\0';
	if ((rc = rules_dir(h, n, src, &dfd)) <= 0)
		return rc;
	rules_mode(dfd, strrchr(src, '/') + 1, &st);
	fd = mkfile_openat(&f, dfd, strrchr(src, '/') + 1, src, 0);
	close(dfd);
	if (fd < 0)
		return -1;
	if (fchmod(f.fd, st.st_mode & 0777) < 0 ||
	    (geteuid() == 0 && fchown(f.fd, st.st_uid, st.st_gid) < 0))
		f.failed = errno;
	mkfile_copy(&f, rulehist_file(h, n, "relay.rules", p));
	return mkfile_finish(&f) < 0 ? -1 : mkfile_commit(&f) < 0 ? -1 : 1;
}

int rulehist_rollback(struct rulehist *h, int n)
{
	struct rulehist_entry e, last;
	char rules[PATH_MAX], users[PATH_MAX], hash[RULEHIST_HASHLEN + 1];
	char src[PATH_MAX] = "", action[64], p[PATH_MAX], *text;
	struct rulehist_src rs = { src, NULL, 0 };
	int put, v;

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
	if (!put)
		return rulehist_record(h, NULL, action);
	if (rulehist_read(h, n, "relay.rules", &text, &rs.len) < 0) {
		fprintf(stderr, "rules history: %s: %s\n",
			rulehist_file(h, n, "relay.rules", p), strerror(errno));
		return -1;
	}
	rs.text = text;
	v = rulehist_record(h, &rs, action);
	free(text);
	return v;
}
