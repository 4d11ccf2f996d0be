/* queue_env.c: the envelope on fd 1, "I<k>=<v>\0"... "F<sender>\0"
 * "T<rcpt>\0" (each maybe followed by "N<its DSN parameters>\0")...
 * "\0".  Anything else is refused as a permanent failure:
 * the envelope comes from relay-smtpd, but a broken or hostile one must
 * never produce a queue file that relay-send misreads. */
#include "queue.h"
#include "addr.h"
#include "dsn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room for at least one more byte, the whole at most QUEUE_ENV_MAX. */
static int env_grow(char **buf, size_t *len, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 4096;
	char *nb;

	if (*len < *cap)
		return 0;
	if (*cap >= (size_t)QUEUE_ENV_MAX) {
		errno = EFBIG;
		return -1;
	}
	nb = realloc(*buf, ncap);
	if (!nb) {
		errno = ENOMEM;
		return -1;
	}
	*buf = nb;
	*cap = ncap;
	return 0;
}

int queue_env_append(char **buf, size_t *len, size_t *cap, const char *p,
		     size_t n)
{
	while (n > 0) {
		size_t k;
		if (env_grow(buf, len, cap) < 0)
			return -1;
		k = *cap - *len < n ? *cap - *len : n;
		memcpy(*buf + *len, p, k);
		*len += k;
		p += k;
		n -= k;
	}
	return 0;
}

int queue_env_feed(int fd, char **buf, size_t *len, size_t *cap)
{
	for (size_t got = 0; got < QUEUE_READ_STEP;) {
		ssize_t n;
		if (env_grow(buf, len, cap) < 0)
			return -1;
		n = read(fd, *buf + *len, *cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			return 1;
		*len += (size_t)n;
		got += (size_t)n;
	}
	return 0;
}

int queue_env_read(int fd, char **buf, size_t *len)
{
	size_t cap = 0;
	char *b = NULL;
	int rc;

	*len = 0;
	while ((rc = queue_env_feed(fd, &b, len, &cap)) == 0) {
		/* a non-blocking fd: wait for more rather than spin */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
	}
	if (rc == 1 && b) {
		*buf = b;
		return 0;
	}
	rc = errno;
	free(b);
	errno = rc == 0 ? EIO : rc;
	return -1;
}

static int env_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int env_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* The message's DSN parameters are kept only when valid (lib/dsn.h). */
static int env_dsn_info_ok(const char *key, const char *v)
{
	if (strcmp(key, DSN_KEY_RET) == 0)
		return dsn_ret_parse(v) != DSN_RET_NONE;
	if (strcmp(key, DSN_KEY_ENVID) == 0)
		return dsn_envid_ok(v);
	return strcmp(key, DSN_KEY_RCPT) != 0; /* a queue file line */
}

/* "N<NOTIFY> <ORCPT>": the DSN parameters of the recipient just read. */
static int env_rcpt_dsn(char *v, struct qfile *q, char prev)
{
	struct dsn_rcpt r;

	if (prev != 'T' || dsn_rcpt_parse(v, &r) < 0)
		return -1;
	if (!r.notify && !r.orcpt)
		return 0;
	return qfile_set_dsn(q, q->nrcpt - 1, &r);
}

static const char *const env_reserved[] = { "qid", "time", "from", "rcpt",
						QFILE_SEAL_KEY };

/* "key=value": key [a-z0-9_], not one of the header's own keys. */
static int env_info(char *f, struct qfile *q, char *err, size_t errsz)
{
	char *eq = strchr(f, '=');
	if (!eq || eq == f || eq - f > 32)
		return env_err(err, errsz, "bad info field");
	*eq = '\0';
	for (char *k = f; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
		      *k == '_'))
			return env_err(err, errsz, "bad info key");
	for (size_t i = 0; i < sizeof env_reserved / sizeof *env_reserved; i++)
		if (strcmp(f, env_reserved[i]) == 0)
			return env_err(err, errsz, "reserved info key");
	if (!qfile_value_ok(eq + 1, 1024) || q->ninfo == QFILE_INFO_MAX ||
	    !env_dsn_info_ok(f, eq + 1))
		return env_err(err, errsz, "bad info value");
	q->info[q->ninfo].key = f;
	q->info[q->ninfo++].value = eq + 1;
	return 0;
}

static int env_rcpt(char *a, struct qfile *q, size_t *cap)
{
	/* a mailbox as relay-smtpd accepted it (lib/addr.h) */
	if (addr_mailbox_check(a, 1) != ADDR_OK || q->nrcpt == QUEUE_RCPT_MAX)
		return -1;
	return qfile_add_rcpt(q, a, cap);
}

/* One field f (NUL-terminated, non-empty). */
static int env_field(char *f, char prev, struct qfile *q, size_t *cap,
		     char *err, size_t errsz)
{
	switch (f[0]) {
	case DSN_ENV_RCPT:
		if (env_rcpt_dsn(f + 1, q, prev) < 0)
			return env_err(err, errsz, "bad recipient DSN field");
		return 0;
	case 'I':
		if (q->from)
			return env_err(err, errsz, "info after sender");
		return env_info(f + 1, q, err, errsz);
	case 'F':
		if (q->from)
			return env_err(err, errsz, "two senders");
		if (f[1] && addr_mailbox_check(f + 1, 1) != ADDR_OK)
			return env_err(err, errsz, "bad sender");
		q->from = f + 1;
		return 0;
	case 'T':
		if (!q->from)
			return env_err(err, errsz, "recipient before sender");
		if (env_rcpt(f + 1, q, cap) < 0)
			return env_err(err, errsz, "bad recipient");
		return 0;
	default:
		return env_err(err, errsz, "unknown envelope field");
	}
}

int queue_env_parse(char *buf, size_t len, struct qfile *q, char *err,
		    size_t errsz)
{
	size_t pos = 0, cap = 0;
	char prev = 0;

	memset(q, 0, sizeof *q);
	if (len == 0)
		return env_err(err, errsz, "no envelope");
	while (pos < len) {
		char *f = buf + pos, *nul = memchr(f, '\0', len - pos);
		if (!nul)
			return env_err(err, errsz, "unterminated field");
		if (nul == f) { /* the final empty field */
			if (pos + 1 != len)
				return env_err(err, errsz, "bytes after end");
			if (!q->from || q->nrcpt == 0)
				return env_err(err, errsz, "no recipients");
			return 0;
		}
		if (env_field(f, prev, q, &cap, err, errsz) < 0)
			return -1;
		prev = f[0];
		pos = (size_t)(nul - buf) + 1;
	}
	return env_err(err, errsz, "envelope not terminated");
}
