/* rulehist_keep.c: recording a new version, diffs, and rollback
 * (rulehist.h). */
#include "rulehist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "settings.h"

static const char *const version_files[] = { "rules.cdb", "users.cdb",
					     "relay.rules", "source", "diff" };
#define N_VERSION_FILES (sizeof version_files / sizeof version_files[0])

/* A new file name (0600) in the folder dfd: never one that is there. */
static int new_file(int dfd, const char *name)
{
	return openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				 O_CLOEXEC, 0600);
}

/* Copy src to a new file name in the folder dfd and fsync it. */
static int copy_file(const char *src, int dfd, const char *name)
{
	char buf[65536];
	ssize_t n = 0;
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;

	if (in >= 0)
		out = new_file(dfd, name);
	if (out >= 0) {
		while ((n = read(in, buf, sizeof buf)) > 0)
			if (io_write_all(out, buf, (size_t)n) < 0)
				break;
		rc = n == 0 && fsync(out) == 0 ? 0 : -1;
	}
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return rc;
}

/* diff -u a b to fd; diff's exit status (0 same, 1 differ), -1 error. */
static int run_diff(const char *a, const char *la, const char *b,
		    const char *lb, int fd)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dup2(fd, 1) < 0)
			_exit(127);
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, a, b,
		       (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) <= 1 ? WEXITSTATUS(st) : -1;
}

static const char *rules_of(const struct rulehist *h, int n, char *buf)
{
	rulehist_file(h, n, "relay.rules", buf);
	return n > 0 && access(buf, R_OK) == 0 ? buf : "/dev/null";
}

int rulehist_kept(const struct rulehist *h, int n)
{
	char name[32];
	struct stat st;

	snprintf(name, sizeof name, "%d", n);
	return n == 0 || (h->dfd >= 0 && fstatat(h->dfd, name, &st,
						 AT_SYMLINK_NOFOLLOW) == 0 &&
			  S_ISDIR(st.st_mode));
}

/* The diff b was kept with (what it changed), for when b-1 is gone. */
static int kept_diff(const struct rulehist *h, int b, FILE *out)
{
	char name[32], buf[65536];
	size_t n;
	FILE *f = NULL;
	int rc = 0, fd;

	snprintf(name, sizeof name, "%d/diff", b);
	fd = openat(h->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !(f = fdopen(fd, "r")))
		close(fd);
	if (!f)
		return errno == ENOENT ? 0 : -1; /* an adopted set: no diff */
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		rc = 1;
		if (fwrite(buf, 1, n, out) != n)
			break;
	}
	rc = ferror(f) || ferror(out) ? -1 : rc;
	fclose(f);
	return rc;
}

int rulehist_diff(const struct rulehist *h, int a, int b, FILE *out)
{
	char pa[PATH_MAX], pb[PATH_MAX], la[32], lb[32];

	if (!rulehist_kept(h, b) || (!rulehist_kept(h, a) && a != b - 1)) {
		errno = ENOENT;
		return -1;
	}
	if (!rulehist_kept(h, a))
		return kept_diff(h, b, out);
	snprintf(la, sizeof la, "version %d", a);
	snprintf(lb, sizeof lb, "version %d", b);
	fflush(out);
	return run_diff(rules_of(h, a, pa), la, rules_of(h, b, pb), lb,
			fileno(out));
}

/* "+A -R": the lines the unified diff of version v adds and removes. */
static void count_changes(const struct rulehist *h, int v, char *out,
			  size_t n)
{
	char line[RULEHIST_LINEMAX], name[32];
	long add = 0, del = 0;
	FILE *f = NULL;
	int fd;

	snprintf(name, sizeof name, "%d/diff", v);
	fd = openat(h->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !(f = fdopen(fd, "r")))
		close(fd);

	while (f && fgets(line, sizeof line, f)) {
		if (line[0] == '+' && strncmp(line, "+++ ", 4))
			add++;
		else if (line[0] == '-' && strncmp(line, "--- ", 4))
			del++;
	}
	if (f)
		fclose(f);
	snprintf(out, n, "+%ld -%ld", add, del);
}

/* Remove the version folder name (N or N.tmp) and its files; a link or
 * a file there is removed itself, never what it names. */
static void remove_version(const struct rulehist *h, const char *name)
{
	int vfd = openat(h->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					   O_CLOEXEC);

	if (vfd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			unlinkat(h->dfd, name, 0);
		return;
	}
	for (size_t i = 0; i < N_VERSION_FILES; i++)
		unlinkat(vfd, version_files[i], 0);
	close(vfd);
	unlinkat(h->dfd, name, AT_REMOVEDIR);
}

/* A new file name in the folder dfd holding buf, fsync'd. */
static int write_file(int dfd, const char *name, const void *buf,
		      size_t len)
{
	int fd = new_file(dfd, name), rc;

	if (fd < 0)
		return -1;
	rc = io_write_all(fd, buf, len) < 0 || fsync(fd) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

/* Fill the folder vfd (dir by name) with the set in place, src and the
 * diff against version n-1. */
static int fill_version(const struct rulehist *h, int vfd, const char *dir,
			int n, const struct rulehist_src *src)
{
	char p[PATH_MAX], prev[PATH_MAX], la[32], lb[32];
	int fd, rc;

	if (copy_file(cf.rules_cdb, vfd, "rules.cdb") < 0 ||
	    copy_file(cf.users_cdb, vfd, "users.cdb") < 0)
		return -1;
	if (!src)
		return 0;
	if (write_file(vfd, "relay.rules", src->text, src->len) < 0 ||
	    write_file(vfd, "source", src->path, strlen(src->path)) < 0 ||
	    (fd = new_file(vfd, "diff")) < 0)
		return -1;
	snprintf(la, sizeof la, "version %d", n - 1);
	snprintf(lb, sizeof lb, "version %d", n);
	rulehist_path(p, "%s/relay.rules", dir);
	rc = run_diff(rules_of(h, n - 1, prev), la, p, lb, fd);
	rc = rc < 0 || fsync(fd) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

static void who_am_i(char *buf, size_t n)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");

	if (pw)
		snprintf(buf, n, "%s", pw->pw_name);
	else
		snprintf(buf, n, "uid %ld", (long)getuid());
	if (sudo && *sudo && strlen(sudo) < 64 && !strpbrk(sudo, "\t\n"))
		snprintf(buf + strlen(buf), n - strlen(buf), " (sudo %s)", sudo);
}

static int append_audit(const struct rulehist *h,
			const struct rulehist_entry *e)
{
	char line[RULEHIST_LINEMAX];
	int fd, len, rc;

	len = snprintf(line, sizeof line, "%d\t%s\t%s\t%s\t%s\t%s\n", e->n,
		       e->time, e->who, e->hash, e->changes, e->action);
	if (len < 0 || (size_t)len >= sizeof line)
		return -1;
	fd = openat(h->dfd, "audit", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
				     O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rc = io_write_all(fd, line, (size_t)len) < 0 || fsync(fd) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

static void prune(const struct rulehist *h, int newest)
{
	char name[32];
	struct stat st;

	for (int k = newest - (int)cf.rules_history_keep; k >= 1; k--) {
		snprintf(name, sizeof name, "%d", k);
		if (fstatat(h->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		remove_version(h, name);
	}
}

/* Version n as N.tmp, filled and fsync'd, then renamed to N; -1 with
 * errno (N.tmp removed). */
static int keep_version(const struct rulehist *h, int n,
			const struct rulehist_src *src)
{
	char tmp[32], name[32], dir[PATH_MAX];
	int vfd, rc, e;

	snprintf(name, sizeof name, "%d", n);
	snprintf(tmp, sizeof tmp, "%d.tmp", n);
	remove_version(h, tmp);   /* left by a crash */
	remove_version(h, name);  /* an audit line lost after its rename */
	if (mkdirat(h->dfd, tmp, 0700) < 0 ||
	    (vfd = openat(h->dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC)) < 0)
		return -1;
	rulehist_path(dir, "%s/%s", h->dir, tmp);
	rc = fill_version(h, vfd, dir, n, src) < 0 || fsync(vfd) < 0 ||
	     renameat(h->dfd, tmp, h->dfd, name) < 0 || fsync(h->dfd) < 0 ?
	     -1 : 0;
	e = errno;
	close(vfd);
	if (rc < 0)
		remove_version(h, tmp);
	errno = e;
	return rc;
}

int rulehist_record(struct rulehist *h, const struct rulehist_src *src,
		    const char *action)
{
	struct rulehist_entry e = { 0 }, last;
	time_t now = time(NULL);
	int have = rulehist_latest(h, &last);

	if (rulehist_hash(cf.rules_cdb, cf.users_cdb, e.hash) < 0) {
		fprintf(stderr, "rules history: %s: %s\n", cf.rules_cdb,
			strerror(errno));
		return -1;
	}
	if (have && !strcmp(last.hash, e.hash))
		return last.n;
	e.n = have ? last.n + 1 : 1;
	if (keep_version(h, e.n, src) < 0) {
		fprintf(stderr, "rules history: version %d: %s\n", e.n,
			strerror(errno));
		return -1;
	}
	strftime(e.time, sizeof e.time, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	who_am_i(e.who, sizeof e.who);
	if (src)
		count_changes(h, e.n, e.changes, sizeof e.changes);
	else
		snprintf(e.changes, sizeof e.changes, "-");
	snprintf(e.action, sizeof e.action, "%s", action);
	if (append_audit(h, &e) < 0) {
		fprintf(stderr, "rules history: audit: %s\n", strerror(errno));
		return -1;
	}
	prune(h, e.n);
	return e.n;
}

int rulehist_keep_in_place(struct rulehist *h)
{
	struct rulehist_entry last;
	char hash[RULEHIST_HASHLEN + 1];
	int have = rulehist_latest(h, &last), v;

	if (access(cf.rules_cdb, F_OK) < 0 || access(cf.users_cdb, F_OK) < 0)
		return 0;
	if (rulehist_hash(cf.rules_cdb, cf.users_cdb, hash) < 0) {
		fprintf(stderr, "rules history: %s: %s\n", cf.rules_cdb,
			strerror(errno));
		return -1;
	}
	if (have && !strcmp(last.hash, hash))
		return last.n;
	if (!have)
		return rulehist_record(h, NULL, "adopted: in place before the "
				       "history");
	v = rulehist_record(h, NULL, "found in place: not the latest version");
	if (v > 0)
		fprintf(stderr, "rules history: the set in place was not "
			"version %d but another; kept as version %d\n", last.n,
			v);
	return v;
}
