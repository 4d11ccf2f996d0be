/* remote_reply.c: SMTP replies from the upstream server.  The server is
 * not trusted: codes are checked line by line, continuation lines must
 * repeat the code, text is cut and cleaned, and the line count is bounded
 * so that a hostile server cannot keep a worker reading forever. */
#include "remote.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static int reply_code(const char *s)
{
	if (s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* Append text to r->text, '\n' between lines, cut when full. */
static void reply_append(struct remote_reply *r, const char *s, size_t n)
{
	size_t room = sizeof r->text - 1 - r->len;

	if (r->nlines > 0 && room > 0) {
		r->text[r->len++] = '\n';
		room--;
	}
	if (n > room)
		n = room;
	log_clean(r->text + r->len, n + 1, s, n);
	r->len += n;
	r->text[r->len] = '\0';
}

int remote_reply_feed(struct remote_reply *r, const char *line, size_t len)
{
	int code;

	if (r->nlines == 0) {
		r->code = 0;
		r->len = 0;
		r->text[0] = '\0';
	}
	if (len < 3 || !(code = reply_code(line)) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-') ||
	    (r->nlines > 0 && code != r->code) ||
	    r->nlines >= REMOTE_REPLY_LINES) {
		r->code = 0;
		return -1;
	}
	r->code = code;
	reply_append(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
	r->nlines++;
	return (len > 3 && line[3] == '-') ? 1 : 0;
}

int remote_reply_read(struct io *io, struct remote_reply *r)
{
	char line[1024];
	size_t len;
	unsigned flags;
	int rc;

	r->nlines = 0;
	r->code = 0;
	r->len = 0;
	r->text[0] = '\0';
	do {
		rc = io_getline(io, line, sizeof line, &len, &flags);
		if (rc <= 0) {
			snprintf(r->text, sizeof r->text, "%s",
				 rc == 0 || io->err == IO_ERR_EOF
					 ? "connection closed"
				 : io->err == IO_ERR_TIMEOUT ? "timeout"
							     : "read error");
			r->code = 0;
			return -1;
		}
		if (flags & IO_PARTIAL) {
			snprintf(r->text, sizeof r->text, "connection closed");
			r->code = 0;
			return -1;
		}
		rc = remote_reply_feed(r, line, len);
	} while (rc == 1);
	if (rc < 0) {
		snprintf(r->text, sizeof r->text, "malformed reply");
		r->len = strlen(r->text);
		return -1;
	}
	return 0;
}

void remote_reply_line(const struct remote_reply *r, char *buf, size_t n)
{
	char tmp[sizeof r->text];

	snprintf(tmp, sizeof tmp, "%s", r->text);
	for (char *p = tmp; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (r->code)
		snprintf(buf, n, "%d %s", r->code, tmp);
	else
		snprintf(buf, n, "%s", tmp);
}

int remote_reply_too_many(const struct remote_reply *r)
{
	int a, b, c, k = 0;

	if (r->code != 452 && r->code != 552)
		return 0;
	/* 552 also means "too much mail data": only X.5.3 tells them apart */
	if (sscanf(r->text, "%1d.%3d.%3d%n", &a, &b, &c, &k) != 3 ||
	    (r->text[k] != '\0' && r->text[k] != ' ' && r->text[k] != '\n'))
		return r->code == 452;
	return a == r->code / 100 && b == 5 && c == 3;
}
