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

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Copy src to a new file dst (0600) and fsync it. */
static int copy_file(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n = 0;
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;

	if (in >= 0)
		out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

int rulehist_diff(const struct rulehist *h, int a, int b, FILE *out)
{
	char pa[PATH_MAX], pb[PATH_MAX], la[32], lb[32];

	snprintf(la, sizeof la, "version %d", a);
	snprintf(lb, sizeof lb, "version %d", b);
	fflush(out);
	return run_diff(rules_of(h, a, pa), la, rules_of(h, b, pb), lb,
			fileno(out));
}

/* "+A -R": the lines a unified diff adds and removes. */
static void count_changes(const char *diff, char *out, size_t n)
{
	char line[RULEHIST_LINEMAX];
	long add = 0, del = 0;
	FILE *f = fopen(diff, "re");

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

static void remove_version(const char *dir)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < N_VERSION_FILES; i++) {
		rulehist_path(p, "%s/%s", dir, version_files[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Fill dir with the set in place, src and the diff against version n-1. */
static int fill_version(const struct rulehist *h, const char *dir, int n,
			const char *src)
{
	char p[PATH_MAX], prev[PATH_MAX], la[32], lb[32];
	int fd, rc;

	rulehist_path(p, "%s/rules.cdb", dir);
	if (copy_file(cf.rules_cdb, p) < 0)
		return -1;
	rulehist_path(p, "%s/users.cdb", dir);
	if (copy_file(cf.users_cdb, p) < 0)
		return -1;
	if (!src)
		return 0;
	rulehist_path(p, "%s/relay.rules", dir);
	if (copy_file(src, p) < 0)
		return -1;
	rulehist_path(p, "%s/source", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	rc = io_write_all(fd, src, strlen(src));
	close(fd);
	rulehist_path(p, "%s/diff", dir);
	if (rc < 0 || (fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0600)) < 0)
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
	char path[PATH_MAX], line[RULEHIST_LINEMAX];
	int fd, len, rc;

	rulehist_path(path, "%s/audit", h->dir);
	len = snprintf(line, sizeof line, "%d\t%s\t%s\t%s\t%s\t%s\n", e->n,
		       e->time, e->who, e->hash, e->changes, e->action);
	if (len < 0 || (size_t)len >= sizeof line)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rc = io_write_all(fd, line, (size_t)len) < 0 || fsync(fd) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

static void prune(const struct rulehist *h, int newest)
{
	char dir[PATH_MAX];

	for (int k = newest - (int)cf.rules_history_keep; k >= 1; k--) {
		if (access(rulehist_file(h, k, NULL, dir), F_OK) < 0)
			break;
		remove_version(dir);
	}
}

int rulehist_record(struct rulehist *h, const char *src, const char *action)
{
	struct rulehist_entry e = { 0 }, last;
	char tmp[PATH_MAX], dir[PATH_MAX], diff[PATH_MAX];
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
	rulehist_file(h, e.n, NULL, dir);
	rulehist_path(tmp, "%s.tmp", dir);
	remove_version(tmp);  /* left by a crash */
	remove_version(dir);  /* an audit line lost after its rename */
	if (mkdir(tmp, 0700) < 0 || fill_version(h, tmp, e.n, src) < 0 ||
	    fsync_path(tmp) < 0 || rename(tmp, dir) < 0 ||
	    fsync_path(h->dir) < 0) {
		fprintf(stderr, "rules history: version %d: %s\n", e.n,
			strerror(errno));
		remove_version(tmp);
		return -1;
	}
	strftime(e.time, sizeof e.time, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	who_am_i(e.who, sizeof e.who);
	if (src)
		count_changes(rulehist_file(h, e.n, "diff", diff), e.changes,
			      sizeof e.changes);
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
