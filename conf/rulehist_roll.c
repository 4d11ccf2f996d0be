/* rulehist_roll.c: putting an older version back in place (rulehist.h).
 * Every file is written and fsync'd before the first rename, so that a
 * failure while writing changes nothing; the renames follow (users.cdb,
 * rules.cdb, relay.rules), and when one of them fails the files already
 * renamed are put back from the version that was in place. */
#include "rulehist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkfile.h"
#include "settings.h"

/* A temp file for dst holding a copy of src, fsync'd: 0, or -1 after a
 * message (nothing left behind). */
static int stage_copy(struct mkfile *f, const char *src, const char *dst,
		      int secret)
{
	if (mkfile_open(f, dst, secret) < 0)
		return -1;
	mkfile_copy(f, src);
	return mkfile_finish(f);
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

/* The relay.rules of version n staged for where it came from: 1, 0
 * when it stays as it is (an adopted set, or a folder not root's
 * alone), -1 after a message. */
static int stage_rules(const struct rulehist *h, int n, char *src,
		       size_t len, struct mkfile *f)
{
	char p[PATH_MAX];
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
	fd = mkfile_openat(f, dfd, strrchr(src, '/') + 1, src, 0);
	close(dfd);
	if (fd < 0)
		return -1;
	if (fchmod(f->fd, st.st_mode & 0777) < 0 ||
	    (geteuid() == 0 && fchown(f->fd, st.st_uid, st.st_gid) < 0))
		f->failed = errno;
	mkfile_copy(f, rulehist_file(h, n, "relay.rules", p));
	return mkfile_finish(f) < 0 ? -1 : 1;
}

int rulehist_put_back(const struct rulehist *h, int n, int rules_too)
{
	char users[PATH_MAX], rules[PATH_MAX];
	struct mkfile u, r;

	rulehist_file(h, n, "users.cdb", users);
	rulehist_file(h, n, "rules.cdb", rules);
	if (stage_copy(&u, users, cf.users_cdb, 1) < 0)
		return -1;
	if (rules_too && stage_copy(&r, rules, cf.rules_cdb, 0) < 0) {
		mkfile_abort(&u);
		return -1;
	}
	if (mkfile_commit(&u) < 0) {
		if (rules_too)
			mkfile_abort(&r);
		return -1;
	}
	return rules_too ? mkfile_commit(&r) : 0;
}

/* After a rename failed: the renamed files (users.cdb, and rules.cdb
 * when rules_too) back as they were, version prev; say which. */
static void undo(const struct rulehist *h, int n, int prev, int rules_too)
{
	if (prev > 0 && rulehist_put_back(h, prev, rules_too) == 0)
		fprintf(stderr, "rules history: rollback to %d failed; the set "
			"in place before, version %d, is back\n", n, prev);
	else if (prev > 0)
		fprintf(stderr, "rules history: rollback to %d failed, and the "
			"set in place before could not be put back: users.cdb "
			"and rules.cdb may be of two sets; put it back with "
			"relayctl rules rollback %d\n", n, prev);
	else
		fprintf(stderr, "rules history: rollback to %d failed half-way "
			"(there was no set in place before)\n", n);
}

/* Version n's files, all staged, then renamed; 1 when its relay.rules
 * was put back, 0 when not, -1 after a message. */
static int put_in_place(const struct rulehist *h, int n, int prev, char *src,
			size_t len)
{
	char rules[PATH_MAX], users[PATH_MAX];
	struct mkfile u, r, t;
	int put;

	if (stage_copy(&u, rulehist_file(h, n, "users.cdb", users),
		       cf.users_cdb, 1) < 0)
		goto unchanged;
	if (stage_copy(&r, rulehist_file(h, n, "rules.cdb", rules),
		       cf.rules_cdb, 0) < 0) {
		mkfile_abort(&u);
		goto unchanged;
	}
	if ((put = stage_rules(h, n, src, len, &t)) < 0) {
		mkfile_abort(&u);
		mkfile_abort(&r);
		goto unchanged;
	}
	/* users first, as makecdb does */
	if (mkfile_commit(&u) < 0) {
		mkfile_abort(&r);
		if (put)
			mkfile_abort(&t);
		goto unchanged;
	}
	if (mkfile_commit(&r) < 0) {
		if (put)
			mkfile_abort(&t);
		undo(h, n, prev, 0);
		return -1;
	}
	if (put && mkfile_commit(&t) < 0) {
		undo(h, n, prev, 1);
		return -1;
	}
	return put;
unchanged:
	fprintf(stderr, "rules history: rollback to %d: nothing changed\n", n);
	return -1;
}

/* Record version n put back as a new version, with its own relay.rules
 * when that was put back too. */
static int record_rollback(struct rulehist *h, int n, int put, char *src)
{
	struct rulehist_src rs = { src, NULL, 0 };
	char action[64], p[PATH_MAX], *text;
	int v;

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

int rulehist_rollback(struct rulehist *h, int n)
{
	struct rulehist_entry e, last;
	char rules[PATH_MAX], users[PATH_MAX], hash[RULEHIST_HASHLEN + 1];
	char src[PATH_MAX] = "";
	int put, prev;

	if (!rulehist_find(h, n, &e)) {
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
	/* the files in place, not the audit, say what is in force */
	if ((prev = rulehist_keep_in_place(h)) < 0)
		return -1;
	if (prev > 0 && rulehist_latest(h, &last) && !strcmp(last.hash, e.hash))
		return last.n;
	if ((put = put_in_place(h, n, prev, src, sizeof src)) < 0)
		return -1;
	return record_rollback(h, n, put, src);
}
