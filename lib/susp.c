/* susp.c: reading and editing the suspension override file. */
#include "susp.h"
#include "log.h"
#include "dirfile.h"
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int susp_init(struct susp *s, const char *path)
{
	memset(s, 0, sizeof *s);
	s->path = strdup(path);
	if (!s->path)
		return -1;
	susp_refresh(s);
	return 0;
}

void susp_free(struct susp *s)
{
	free(s->path);
	free(s->data);
	memset(s, 0, sizeof *s);
}

/* relay-policy reads abuse/suspended as root at start, and abuse/ is
 * relay-queue's: a link or a FIFO there is refused (errno EPERM, why). */
static char *slurp(const char *path, struct stat *st, char *why, size_t wn)
{
	int fd = regfile_open(path, st, why, wn);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (st->st_size > SUSP_MAX ||
	    !(buf = malloc((size_t)st->st_size + 1))) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st->st_size);
	close(fd);
	if (n != st->st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void seen(struct susp *s, const struct stat *st)
{
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->mtime = st->st_mtim;
}

void susp_refresh(struct susp *s)
{
	struct stat st;
	char *d, why[128];

	if (lstat(s->path, &st) < 0) {
		free(s->data);
		s->data = NULL;
		s->ino = 0;
		s->refused = 0;
		return;
	}
	if ((s->data || s->refused) && st.st_ino == s->ino &&
	    st.st_dev == s->dev && st.st_mtim.tv_sec == s->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == s->mtime.tv_nsec)
		return;
	/* keep the old list rather than forget suspensions */
	if (!(d = slurp(s->path, &st, why, sizeof why))) {
		if (errno == EPERM) { /* said once, until it changes */
			log_warn("%s: %s", s->path, why);
			s->refused = 1;
			seen(s, &st);
		}
		return;
	}
	free(s->data);
	s->data = d;
	s->refused = 0;
	seen(s, &st);
}

/* Find the line "kind name" in text (with any, a name that starts with
 * name and is longer); returns its start or NULL. */
static const char *find_line(const char *text, const char *kind,
			     const char *name, int any)
{
	size_t kl = strlen(kind), nl = strlen(name);

	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((any ? len > kl + 1 + nl : len == kl + 1 + nl) &&
		    !strncmp(p, kind, kl) &&
		    p[kl] == ' ' && !strncasecmp(p + kl + 1, name, nl))
			return p;
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

int susp_has(const struct susp *s, const char *kind, const char *name)
{
	size_t nl = strlen(name);
	char pre[1024];

	if (nl >= 2 && nl < sizeof pre && !strcmp(name + nl - 2, "/*")) {
		memcpy(pre, name, nl - 1); /* the '/' stays: "<prefix>/" */
		pre[nl - 1] = '\0';
		return s->data && find_line(s->data, kind, pre, 1) != NULL;
	}
	return s->data && *name && find_line(s->data, kind, name, 0) != NULL;
}

int susp_write_atomic(const char *path, const char *text, size_t len,
		      mode_t mode)
{
	char tmp[DIRFILE_TMPMAX];
	const char *name;
	int fd, dfd, rc, e;

	if ((dfd = dirfile_open_parent(path, &name)) < 0)
		return -1;
	if ((fd = dirfile_tmp(dfd, name, mode, tmp)) < 0) {
		e = errno;
		close(dfd);
		return errno = e, -1;
	}
	errno = EIO; /* a short write sets none */
	rc = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len &&
	     fsync(fd) == 0 ? 0 : -1;
	e = errno;
	if (close(fd) < 0 && rc == 0)
		rc = -1, e = errno;
	/* dirfile_replace fsyncs the folder: the rename survives a crash */
	if (rc == 0 && dirfile_replace(dfd, tmp, name, 1) < 0)
		rc = -1, e = errno;
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return rc < 0 ? (errno = e, -1) : 0;
}

int susp_edit(const char *path, const char *kind, const char *name, int add)
{
	struct stat st;
	char why[128], *old = slurp(path, &st, why, sizeof why), *out;
	const char *hit;
	size_t ol, len;
	int rc;

	if (!old && errno != ENOENT)
		return -1;
	if (strchr(name, '\n') || strchr(name, ' ') || !*name)
		return errno = EINVAL, -1;
	ol = old ? strlen(old) : 0;
	hit = old ? find_line(old, kind, name, 0) : NULL;
	if ((hit != NULL) == (add != 0)) {
		free(old);
		return 1;
	}
	out = malloc(ol + strlen(kind) + strlen(name) + 4);
	if (!out) {
		free(old);
		return -1;
	}
	if (add) {
		len = (size_t)sprintf(out, "%s%s%s %s\n", old ? old : "",
				      ol && old[ol - 1] != '\n' ? "\n" : "",
				      kind, name);
	} else {
		const char *e = strchr(hit, '\n');
		size_t before = (size_t)(hit - old);
		memcpy(out, old, before);
		len = before;
		if (e) {
			memcpy(out + len, e + 1, ol - (size_t)(e + 1 - old));
			len += ol - (size_t)(e + 1 - old);
		}
	}
	rc = susp_write_atomic(path, out, len, 0644);
	free(out);
	free(old);
	return rc;
}
