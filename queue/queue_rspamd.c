/* queue_rspamd.c: one question to rspamd over its HTTP protocol
 * (POST /checkv2, the message as the body, the envelope in headers),
 * bounded by a deadline, and the few fields of its JSON answer we use:
 * the score, the action and the names of the symbols that fired.  Run by
 * the scan threads (queue_scan.c); touches nothing shared. */
#include "queue.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define RSPAMD_REPLY_MAX (256 * 1024)
#define RSPAMD_DEPTH_MAX 32

/* ---- the JSON answer: a skipper for what we do not read ---- */

static const char *js_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at '"': past the closing quote, or NULL.  The raw bytes between
 * the quotes go to out (escapes kept as written; names have none). */
static const char *js_string(const char *p, const char *e, char *out,
			     size_t n)
{
	size_t k = 0;

	if (p >= e || *p != '"')
		return NULL;
	for (p++; p < e && *p != '"'; p++) {
		if (*p == '\\' && ++p >= e)
			return NULL;
		if (out && k + 1 < n)
			out[k++] = *p;
	}
	if (out && n)
		out[k] = '\0';
	return p < e ? p + 1 : NULL;
}

static const char *js_value(const char *p, const char *e, int depth)
{
	p = js_ws(p, e);
	if (p >= e || depth > RSPAMD_DEPTH_MAX)
		return NULL;
	if (*p == '"')
		return js_string(p, e, NULL, 0);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = js_ws(p + 1, e);
		if (p < e && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = js_string(js_ws(p, e), e, NULL, 0);
				p = p ? js_ws(p, e) : NULL;
				if (!p || p >= e || *p++ != ':')
					return NULL;
			}
			p = js_value(p, e, depth + 1);
			p = p ? js_ws(p, e) : NULL;
			if (!p || p >= e)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	while (p < e && strchr("+-.0123456789eEtruefalsn", *p))
		p++;
	return p;
}

/* "symbols": {"NAME": {...}, ...}: the names, comma-separated, each
 * cut to [A-Za-z0-9_] (they go into log lines and the abuse file). */
static const char *js_symbols(const char *p, const char *e,
			      struct queue_rspamd_verdict *v)
{
	char name[128];
	size_t len = strlen(v->symbols);

	p = js_ws(p, e);
	if (p >= e || *p++ != '{')
		return NULL;
	for (p = js_ws(p, e); p < e && *p != '}';) {
		p = js_string(p, e, name, sizeof name);
		p = p ? js_ws(p, e) : NULL;
		if (!p || p >= e || *p++ != ':' || !(p = js_value(p, e, 1)))
			return NULL;
		name[strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] = '\0';
		if (*name && len + strlen(name) + 2 < sizeof v->symbols)
			len += (size_t)sprintf(v->symbols + len, "%s%s",
					       len ? "," : "", name);
		p = js_ws(p, e);
		if (p < e && *p == ',')
			p = js_ws(p + 1, e);
	}
	return p < e ? p + 1 : NULL;
}

/* Past a run of at least one digit, or NULL. */
static const char *js_digits(const char *p, const char *e)
{
	const char *s = p;

	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p > s ? p : NULL;
}

/* A JSON number (RFC 8259 6: -?int frac? exp?) that is finite: past it
 * with its value in *d, or NULL.  strtod alone would take nan, inf and
 * hex, and a NaN score compares below every reject score: a scanner's
 * "score": nan would pass as clean. */
static const char *js_number(const char *p, const char *e, double *d)
{
	const char *s = p;
	char buf[64];

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++; /* no leading zeros: "01" ends after the 0, and fails */
	else if (!(p = js_digits(p, e)))
		return NULL;
	if (p < e && *p == '.' && !(p = js_digits(p + 1, e)))
		return NULL;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (!(p = js_digits(p, e)))
			return NULL;
	}
	if ((size_t)(p - s) >= sizeof buf)
		return NULL;
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	*d = strtod(buf, NULL);
	return isfinite(*d) ? p : NULL;
}

/* rspamd's action ("no action", "add header"...) as one word for the
 * log: blanks become '_', anything but [a-z0-9_-] goes. */
static void js_word(char *s)
{
	char *o = s;

	for (; *s; s++)
		if (*s == ' ')
			*o++ = '_';
		else if (strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *s))
			*o++ = *s;
	*o = '\0';
}

int queue_rspamd_parse(const char *json, size_t n,
		       struct queue_rspamd_verdict *v)
{
	const char *p = json, *e = json + n;
	char key[64];
	int have_score = 0;

	memset(v, 0, sizeof *v);
	p = js_ws(p, e);
	if (p >= e || *p++ != '{')
		return -1;
	for (p = js_ws(p, e); p < e && *p != '}';) {
		p = js_string(p, e, key, sizeof key);
		p = p ? js_ws(p, e) : NULL;
		if (!p || p >= e || *p++ != ':')
			return -1;
		p = js_ws(p, e);
		if (!strcmp(key, "score") || !strcmp(key, "required_score")) {
			double d;
			if (!(p = js_number(p, e, &d)))
				return -1;
			*(!strcmp(key, "score") ? &v->score : &v->required) = d;
			have_score |= !strcmp(key, "score");
		} else if (!strcmp(key, "action")) {
			p = js_string(p, e, v->action, sizeof v->action);
			js_word(v->action);
		} else if (!strcmp(key, "symbols")) {
			p = js_symbols(p, e, v);
		} else {
			p = js_value(p, e, 1);
		}
		p = p ? js_ws(p, e) : NULL;
		if (!p)
			return -1;
		if (p < e && *p == ',')
			p = js_ws(p + 1, e);
	}
	return p < e && have_score ? 0 : -1;
}

/* ---- the HTTP exchange ---- */

static long long rspamd_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for ev before the deadline; 0 or -1 (errno
 * ETIMEDOUT). */
static int rspamd_wait(int fd, short ev, long long deadline)
{
	for (;;) {
		long long left = deadline - rspamd_ms();
		struct pollfd p = { .fd = fd, .events = ev };
		int rc;
		if (left <= 0)
			return errno = ETIMEDOUT, -1;
		rc = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* "host:port", "[v6]:port" or a unix socket's path into ss. */
static int rspamd_addr(const char *addr, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_un *su = (struct sockaddr_un *)ss;
	size_t hl;

	memset(ss, 0, sizeof *ss);
	if (addr[0] == '/') {
		if (strlen(addr) >= sizeof su->sun_path)
			return -1;
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, addr);
		*len = sizeof *su;
		return 0;
	}
	if (!colon || (hl = (size_t)(colon - addr)) >= sizeof host || !hl)
		return -1;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)atoi(colon + 1));
		*len = sizeof *s6;
		return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((unsigned short)atoi(colon + 1));
	*len = sizeof *s4;
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
}

static int rspamd_connect(const char *addr, long long deadline)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err = 0;
	socklen_t el = sizeof err;

	if (rspamd_addr(addr, &ss, &len) < 0)
		return errno = EINVAL, -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS || rspamd_wait(fd, POLLOUT, deadline) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		if (err)
			errno = err;
		err = errno;
		close(fd);
		return errno = err, -1;
	}
	return fd;
}

static int rspamd_send(int fd, const char *p, size_t n, long long deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		} else if (rspamd_wait(fd, POLLOUT, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The message: bytes [off, end) of the queue file. */
static int rspamd_send_file(int sock, int file, off_t off, off_t end,
			    long long deadline)
{
	char buf[65536];

	while (off < end) {
		size_t want = end - off > (off_t)sizeof buf ? sizeof buf
							    : (size_t)(end - off);
		ssize_t r = pread(file, buf, want, off);
		if (r <= 0)
			return errno = r ? errno : EIO, -1;
		if (rspamd_send(sock, buf, (size_t)r, deadline) < 0)
			return -1;
		off += r;
	}
	return 0;
}

/* Header lines for the envelope (values have no control bytes: the
 * envelope parser refused those). */
static char *rspamd_request(const struct qfile *q, off_t len)
{
	const char *keys[] = { ADMIT_WIRE_IP, ADMIT_WIRE_HELO, ADMIT_WIRE_AUTH };
	const char *names[] = { "IP", "Helo", "User" };
	size_t cap = 512 + strlen(q->from), n;
	char *h;

	for (size_t i = 0; i < q->nrcpt && i < 100; i++)
		cap += strlen(q->rcpt[i]) + 8;
	for (int k = 0; k < 3; k++) {
		const char *v = qfile_get_info(q, keys[k]);
		cap += v ? strlen(v) + 16 : 0;
	}
	if (!(h = malloc(cap)))
		return NULL;
	n = (size_t)snprintf(h, cap, "POST /checkv2 HTTP/1.0\r\n"
			     "Content-Length: %lld\r\nQueue-Id: %s\r\n"
			     "From: %s\r\n", (long long)len, q->qid, q->from);
	for (int k = 0; k < 3; k++) {
		const char *v = qfile_get_info(q, keys[k]);
		if (v && *v)
			n += (size_t)snprintf(h + n, cap - n, "%s: %s\r\n",
					      names[k], v);
	}
	for (size_t i = 0; i < q->nrcpt && i < 100; i++)
		n += (size_t)snprintf(h + n, cap - n, "Rcpt: %s\r\n", q->rcpt[i]);
	snprintf(h + n, cap - n, "\r\n");
	return h;
}

/* The whole answer (HTTP/1.0: the server closes), NUL-terminated. */
static char *rspamd_read(int fd, size_t *n, long long deadline)
{
	char *buf = malloc(RSPAMD_REPLY_MAX + 1);
	size_t len = 0;

	while (buf && len < RSPAMD_REPLY_MAX) {
		ssize_t r = recv(fd, buf + len, RSPAMD_REPLY_MAX - len, 0);
		if (r == 0)
			break;
		if (r > 0)
			len += (size_t)r;
		else if ((errno != EAGAIN && errno != EINTR) ||
			 rspamd_wait(fd, POLLIN, deadline) < 0) {
			free(buf);
			return NULL;
		}
	}
	if (buf) {
		buf[len] = '\0';
		*n = len;
	}
	return buf;
}

static int rspamd_answer(const char *buf, size_t n,
			 struct queue_rspamd_verdict *v, char *err, size_t es)
{
	const char *body = strstr(buf, "\r\n\r\n");

	if (strncmp(buf, "HTTP/1.", 7) || n < 12 || strncmp(buf + 9, "200", 3)) {
		size_t l = strcspn(buf, "\r\n");
		char line[64];
		snprintf(line, sizeof line, "%.*s", (int)(l < 60 ? l : 60), buf);
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 32 || (unsigned char)*c > 126)
				*c = '?';
		snprintf(err, es, "rspamd answered \"%s\"", line);
		return -1;
	}
	if (!body || queue_rspamd_parse(body + 4, n - (size_t)(body + 4 - buf),
					v) < 0) {
		snprintf(err, es, "rspamd's answer does not parse");
		return -1;
	}
	return 0;
}

int queue_rspamd_check(const char *addr, long timeout_ms, int file,
		       off_t off, off_t end, const struct qfile *q,
		       struct queue_rspamd_verdict *v, char *err, size_t es)
{
	long long deadline = rspamd_ms() + timeout_ms;
	char *req = rspamd_request(q, end - off), *ans = NULL;
	size_t n = 0;
	int fd = -1, rc = -1;

	if (!req)
		snprintf(err, es, "out of memory");
	else if ((fd = rspamd_connect(addr, deadline)) < 0)
		snprintf(err, es, "connect %s: %s", addr, strerror(errno));
	else if (rspamd_send(fd, req, strlen(req), deadline) < 0 ||
		 rspamd_send_file(fd, file, off, end, deadline) < 0 ||
		 !(ans = rspamd_read(fd, &n, deadline)))
		snprintf(err, es, "%s: %s", addr, errno == ETIMEDOUT ?
			 "no answer within scan_timeout" : strerror(errno));
	else
		rc = rspamd_answer(ans, n, v, err, es);
	if (fd >= 0)
		close(fd);
	free(req);
	free(ans);
	return rc;
}
