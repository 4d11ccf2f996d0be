/* rstore_url.c: the rate_store setting and the Redis AUTH file
 * (lib/rstore.h has the forms). */
#include "rstore.h"
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "HOST:PORT" or "[V6]:PORT" or "HOST" (port def) into a's slot i. */
static int host_port(const char *s, size_t n, int def, struct rstore_addr *a,
		     int i)
{
	const char *colon = NULL, *h = s;
	size_t hl = n;
	long port = def;
	char num[8], *end;

	if (n && *s == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb)
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return -1;
			colon = rb + 1;
		}
	} else if ((colon = memchr(s, ':', n))) {
		hl = (size_t)(colon - s);
	}
	if (colon) {
		size_t pl = (size_t)(s + n - colon - 1);
		if (!pl || pl >= sizeof num)
			return -1;
		memcpy(num, colon + 1, pl);
		num[pl] = '\0';
		port = strtol(num, &end, 10);
		if (*end || port < 1 || port > 65535)
			return -1;
	}
	if (!hl || hl >= RSTORE_NAME_MAX)
		return -1;
	memcpy(a->host[i], h, hl);
	a->host[i][hl] = '\0';
	a->port[i] = (int)port;
	return 0;
}

static int parse_db(const char *s, int *db)
{
	char *end;
	long v;

	if (!*s)
		return 0;
	v = strtol(s, &end, 10);
	if (*end || end == s || v < 0 || v > 65535)
		return -1;
	*db = (int)v;
	return 0;
}

static int parse_tcp(const char *rest, struct rstore_addr *a)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	a->kind = RSTORE_TCP;
	a->nhosts = 1;
	if (host_port(rest, n, 6379, a, 0) < 0)
		return -1;
	return slash ? parse_db(slash + 1, &a->db) : 0;
}

static int parse_unix(const char *rest, struct rstore_addr *a)
{
	const char *q = strchr(rest, '?');
	size_t n = q ? (size_t)(q - rest) : strlen(rest);

	a->kind = RSTORE_UNIX;
	if (*rest != '/' || n >= sizeof a->path)
		return -1;
	memcpy(a->path, rest, n);
	a->path[n] = '\0';
	if (q && strncmp(q, "?db=", 4))
		return -1;
	return q ? parse_db(q + 4, &a->db) : 0;
}

/* H1:P1,H2:P2/MASTER[/DB] */
static int parse_sentinel(const char *rest, struct rstore_addr *a)
{
	const char *slash = strchr(rest, '/'), *p = rest, *m, *dbs;
	size_t mn;

	a->kind = RSTORE_SENTINEL;
	if (!slash)
		return -1;
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *e = comma ? comma : slash;
		if (a->nhosts == RSTORE_HOSTS_MAX ||
		    host_port(p, (size_t)(e - p), 26379, a, a->nhosts) < 0)
			return -1;
		a->nhosts++;
		p = e + 1;
	}
	m = slash + 1;
	dbs = strchr(m, '/');
	mn = dbs ? (size_t)(dbs - m) : strlen(m);
	if (!a->nhosts || !mn || mn >= sizeof a->master)
		return -1;
	memcpy(a->master, m, mn);
	a->master[mn] = '\0';
	return dbs ? parse_db(dbs + 1, &a->db) : 0;
}

int rstore_parse(const char *url, struct rstore_addr *a, char *err,
		 size_t errsz)
{
	static const struct {
		const char *scheme;
		int tls;
		int (*fn)(const char *, struct rstore_addr *);
	} schemes[] = {
		{ "redis://", 0, parse_tcp },
		{ "rediss://", 1, parse_tcp },
		{ "redis+unix://", 0, parse_unix },
		{ "redis-sentinel://", 0, parse_sentinel },
		{ "rediss-sentinel://", 1, parse_sentinel },
	};

	memset(a, 0, sizeof *a);
	if (!url || !*url || !strcmp(url, "local"))
		return 0;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].scheme);
		if (strncmp(url, schemes[i].scheme, n))
			continue;
		a->tls = schemes[i].tls;
		if (schemes[i].fn(url + n, a) == 0)
			return 0;
		break;
	}
	snprintf(err, errsz, "rate_store \"%s\": not local, redis://HOST:PORT"
		 "[/DB], rediss://..., redis+unix:///PATH[?db=N] or "
		 "redis-sentinel://H:P[,H:P]/MASTER[/DB]", url);
	return -1;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
		     s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Root reads it in secrets/, a folder relay-remote owns: never through
 * a link nor from a FIFO, only a regular file of root's (or,
 * unprivileged, ours) that nobody else may read. */
static FILE *auth_open(const char *path, char *err, size_t errsz)
{
	char why[128];
	struct stat sb;
	FILE *f;
	int fd = regfile_open(path, &sb, why, sizeof why);

	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(err, errsz, "%s: %s", path, why);
		return NULL;
	}
	if ((sb.st_uid != 0 && sb.st_uid != geteuid()) || (sb.st_mode & 077)) {
		snprintf(err, errsz, "%s: refused: not a regular file of root's "
			 "with mode 0600 or 0400", path);
		close(fd);
		errno = EPERM;
		return NULL;
	}
	if (!(f = fdopen(fd, "r")))
		close(fd);
	return f;
}

int rstore_auth_load(const char *path, char *user, size_t usz, char *pass,
		     size_t psz, char *err, size_t errsz)
{
	char line[1024];
	FILE *f;
	int ln = 0, rc = 0;

	*user = *pass = '\0';
	if (!(f = auth_open(path, err, errsz)))
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof line, f)) {
		ln++;
		trim(line);
		if (!*line || *line == '#')
			continue;
		if (!strncmp(line, "user ", 5) && strlen(line + 5) < usz) {
			strcpy(user, line + 5);
		} else if (!strncmp(line, "password ", 9) &&
			   strlen(line + 9) < psz) {
			strcpy(pass, line + 9);
		} else {
			snprintf(err, errsz, "%s:%d: expected \"user NAME\" or "
				 "\"password SECRET\"", path, ln);
			rc = -1;
			break;
		}
	}
	explicit_bzero(line, sizeof line);
	fclose(f);
	if (rc == 0 && *user && !*pass) {
		snprintf(err, errsz, "%s: a user without a password", path);
		rc = -1;
	}
	return rc;
}
