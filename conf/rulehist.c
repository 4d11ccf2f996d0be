/* rulehist.c: keeping compiled rule sets as versions (rulehist.h). */
#include "rulehist.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirfile.h"
#include "settings.h"

/* Open the history folder and check it is root's alone (lib/dirfile.h:
 * not a link, root's, not group or other writable): it holds copies of
 * users.cdb, and root removes, renames and appends in it by name.
 * make: create it first when missing; else a missing one gives 0 with
 * h->dfd -1.  -1 after a message. */
static int history_dir(struct rulehist *h, int make)
{
	char why[128];

	h->lock = h->dfd = -1;
	snprintf(h->dir, sizeof h->dir, "%s", cf.rules_history);
	if (make && mkdir(h->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "rules history: %s: %s\n", h->dir,
			strerror(errno));
		return -1;
	}
	if ((h->dfd = dirfile_open_dir(h->dir)) < 0) {
		if (errno == ENOENT && !make)
			return 0;
		fprintf(stderr, "rules history: %s: %s\n", h->dir,
			errno == ELOOP || errno == ENOTDIR ? "not a folder, or "
			"a symbolic link: refused" : strerror(errno));
		return -1;
	}
	if (dirfile_trusted(h->dfd, why, sizeof why) < 0) {
		fprintf(stderr, "rules history: %s %s: refused (it must be "
			"root's alone, mode 0700: look at what is in it, then "
			"chown and chmod it)\n", h->dir, why);
		rulehist_close(h);
		return -1;
	}
	return 0;
}

int rulehist_view(struct rulehist *h)
{
	return history_dir(h, 0);
}

int rulehist_open(struct rulehist *h)
{
	if (history_dir(h, 1) < 0)
		return -1;
	h->lock = openat(h->dfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW |
					 O_CLOEXEC, 0600);
	if (h->lock < 0 || flock(h->lock, LOCK_EX) < 0) {
		fprintf(stderr, "rules history: %s/lock: %s\n", h->dir,
			strerror(errno));
		rulehist_close(h);
		return -1;
	}
	return 0;
}

void rulehist_close(struct rulehist *h)
{
	if (h->lock >= 0)
		close(h->lock);
	if (h->dfd >= 0)
		close(h->dfd);
	h->lock = h->dfd = -1;
}

char *rulehist_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATH_MAX)
		buf[0] = '\0';
	return buf;
}

char *rulehist_file(const struct rulehist *h, int n, const char *name,
		    char *buf)
{
	if (name)
		return rulehist_path(buf, "%s/%d/%s", h->dir, n, name);
	return rulehist_path(buf, "%s/%d", h->dir, n);
}

int rulehist_read(const struct rulehist *h, int v, const char *name,
		  char **text, size_t *len)
{
	char rel[64];
	struct stat st;
	ssize_t n = 0;
	size_t got = 0;
	int fd, e;

	*text = NULL;
	snprintf(rel, sizeof rel, "%d/%s", v, name);
	if ((fd = openat(h->dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size >= 0 &&
	    (*text = malloc((size_t)st.st_size + 1)))
		while (got < (size_t)st.st_size &&
		       (n = read(fd, *text + got, (size_t)st.st_size - got)) > 0)
			got += (size_t)n;
	e = !*text ? (errno ? errno : ENOMEM) : n < 0 ? errno : 0;
	close(fd);
	if (e) {
		free(*text);
		*text = NULL;
		errno = e;
		return -1;
	}
	(*text)[got] = '\0';
	*len = got;
	return 0;
}

static int hash_file(EVP_MD_CTX *md, const char *path)
{
	unsigned char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

int rulehist_hash(const char *rules, const char *users, char *hex)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = -1;

	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    hash_file(md, rules) == 0 && hash_file(md, users) == 0 &&
	    EVP_DigestFinal_ex(md, d, &len) == 1) {
		for (unsigned i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		rc = 0;
	}
	EVP_MD_CTX_free(md);
	return rc;
}

static int parse_entry(char *line, struct rulehist_entry *e)
{
	char *f[6], *save = NULL, *p = line;
	int i;

	line[strcspn(line, "\n")] = '\0';
	for (i = 0; i < 6 && (f[i] = strtok_r(p, "\t", &save)); i++)
		p = NULL;
	if (i < 6 || (e->n = atoi(f[0])) <= 0 ||
	    strlen(f[3]) != RULEHIST_HASHLEN)
		return -1;
	snprintf(e->time, sizeof e->time, "%s", f[1]);
	snprintf(e->who, sizeof e->who, "%s", f[2]);
	snprintf(e->hash, sizeof e->hash, "%s", f[3]);
	snprintf(e->changes, sizeof e->changes, "%s", f[4]);
	snprintf(e->action, sizeof e->action, "%s", f[5]);
	return 0;
}

void rulehist_each(const struct rulehist *h,
		   void (*fn)(const struct rulehist_entry *, void *), void *arg)
{
	char line[RULEHIST_LINEMAX];
	struct rulehist_entry e;
	FILE *f = NULL;
	int fd = h->dfd < 0 ? -1 : openat(h->dfd, "audit", O_RDONLY |
					  O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && !(f = fdopen(fd, "r")))
		close(fd);
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (parse_entry(line, &e) == 0)
			fn(&e, arg);
	fclose(f);
}

struct find {
	int n, found;
	struct rulehist_entry *e;
};

static void find_one(const struct rulehist_entry *e, void *arg)
{
	struct find *w = arg;

	if (w->n == 0 || e->n == w->n) {
		*w->e = *e;
		w->found = 1;
	}
}

int rulehist_find(const struct rulehist *h, int n, struct rulehist_entry *e)
{
	struct find w = { n, 0, e };

	rulehist_each(h, find_one, &w);
	return w.found;
}

int rulehist_latest(const struct rulehist *h, struct rulehist_entry *e)
{
	return rulehist_find(h, 0, e);
}
