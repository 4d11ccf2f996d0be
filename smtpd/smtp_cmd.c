/* smtp_cmd.c: command line parsing (verb, argument, MAIL parameters).
 * Nothing here does I/O, so every hostile shape can be tested directly. */
#include "smtp_cmd.h"
#include "io.h"
#include "dsn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum smtp_cmd_line smtp_cmd_check(const char *line, size_t len,
				  unsigned flags)
{
	if (flags & IO_TOOLONG)
		return SMTP_LINE_TOOLONG;
	/* a line cut by EOF has no CRLF either: never act on it */
	if (flags & (IO_BARE_LF | IO_BARE_CR | IO_PARTIAL))
		return SMTP_LINE_BARE;
	if (memchr(line, '\0', len))
		return SMTP_LINE_NUL;
	return SMTP_LINE_OK;
}

int smtp_cmd_split(char *line, char *verb, char **arg)
{
	size_t i = 0, n;
	char *end;

	while (line[i] && line[i] != ' ') {
		char c = line[i];
		if (i >= SMTP_VERB_MAX || !((c >= 'a' && c <= 'z') ||
					    (c >= 'A' && c <= 'Z')))
			return -1;
		verb[i] = (char)(c >= 'a' ? c - 32 : c);
		i++;
	}
	if (i == 0)
		return -1;
	verb[i] = '\0';
	while (line[i] == ' ')
		i++;
	*arg = line + i;
	n = strlen(*arg);
	end = *arg + n;
	while (end > *arg && end[-1] == ' ')
		*--end = '\0';
	return 0;
}

const char *smtp_cmd_after(const char *arg, const char *keyword)
{
	size_t n = strlen(keyword);
	return strncasecmp(arg, keyword, n) == 0 ? arg + n : NULL;
}

int smtp_cmd_has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* One parameter handler: value is NULL when the parameter had no '='. */
struct param_ctx {
	struct smtp_mail_params *p;
	long size_max;
	char *reply;
	size_t replysz;
};

static int param_size(struct param_ctx *c, const char *v)
{
	char *end;
	long n;

	if (!v || !*v || strspn(v, "0123456789") != strlen(v) ||
	    strlen(v) > 18) {
		snprintf(c->reply, c->replysz, "501 5.5.4 Bad SIZE= value");
		return 501;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || n > c->size_max) {
		snprintf(c->reply, c->replysz,
			 "552 5.3.4 Message size exceeds fixed maximum message size");
		return 552;
	}
	c->p->size = n;
	return 0;
}

static int param_body(struct param_ctx *c, const char *v)
{
	if (v && strcasecmp(v, "7BIT") == 0) {
		c->p->body8 = 0;
		return 0;
	}
	if (v && strcasecmp(v, "8BITMIME") == 0) {
		c->p->body8 = 1;
		return 0;
	}
	snprintf(c->reply, c->replysz, "501 5.5.4 Bad BODY= value");
	return 501;
}

static int param_smtputf8(struct param_ctx *c, const char *v)
{
	if (v) {
		snprintf(c->reply, c->replysz, "501 5.5.4 SMTPUTF8 takes no value");
		return 501;
	}
	c->p->smtputf8 = 1;
	return 0;
}

static int param_auth(struct param_ctx *c, const char *v)
{
	/* AUTH=<> or an xtext identity: accepted and ignored (RFC 4954 5:
	 * the server may ignore it); policy knows who authenticated. */
	if (!v || !*v) {
		snprintf(c->reply, c->replysz, "501 5.5.4 Bad AUTH= value");
		return 501;
	}
	return 0;
}

static int param_bad(struct param_ctx *c, const char *fmt, const char *what)
{
	snprintf(c->reply, c->replysz, fmt, what);
	return 501;
}

/* RFC 3461 4.3: RET=FULL|HDRS, once. */
static int param_ret(struct param_ctx *c, const char *v)
{
	if (c->p->ret)
		return param_bad(c, "501 5.5.4 Duplicate %s parameter", "RET");
	if (!v || (c->p->ret = (int)dsn_ret_parse(v)) == DSN_RET_NONE)
		return param_bad(c, "501 5.5.4 Bad %s= value (FULL or HDRS)",
				 "RET");
	return 0;
}

/* RFC 3461 4.4: ENVID=xtext, at most 100 characters, once. */
static int param_envid(struct param_ctx *c, const char *v)
{
	if (c->p->envid[0])
		return param_bad(c, "501 5.5.4 Duplicate %s parameter", "ENVID");
	if (!v || !dsn_envid_ok(v))
		return param_bad(c, "501 5.5.4 Bad %s= value (xtext, at most "
				    "100 characters)", "ENVID");
	snprintf(c->p->envid, sizeof c->p->envid, "%s", v);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct param_ctx *, const char *);
} mail_params[] = {
	{ "SIZE", param_size },
	{ "BODY", param_body },
	{ "SMTPUTF8", param_smtputf8 },
	{ "AUTH", param_auth },
	{ "RET", param_ret },
	{ "ENVID", param_envid },
};

/* Handle one "KEY[=VALUE]" token of length n. */
static int mail_param(struct param_ctx *c, const char *tok, size_t n)
{
	char buf[SMTP_PARAM_MAX];
	char *eq;

	if (n >= sizeof buf) {
		snprintf(c->reply, c->replysz, "501 5.5.4 Parameter too long");
		return 501;
	}
	memcpy(buf, tok, n);
	buf[n] = '\0';
	eq = strchr(buf, '=');
	if (eq)
		*eq++ = '\0';
	for (size_t i = 0; i < sizeof mail_params / sizeof mail_params[0]; i++)
		if (strcasecmp(buf, mail_params[i].name) == 0)
			return mail_params[i].fn(c, eq);
	snprintf(c->reply, c->replysz, "555 5.5.4 Unsupported parameter");
	return 555;
}

int smtp_cmd_mail_params(const char *s, long size_max,
			 struct smtp_mail_params *p, char *reply,
			 size_t replysz)
{
	struct param_ctx c = { p, size_max, reply, replysz };

	memset(p, 0, sizeof *p);
	p->size = -1;
	while (*s) {
		size_t n = strcspn(s, " ");
		int rc = mail_param(&c, s, n);
		if (rc)
			return rc;
		s += n;
		while (*s == ' ')
			s++;
	}
	return 0;
}

/* One RCPT parameter (RFC 3461 4.1, 4.2): NOTIFY= or ORCPT=, each once. */
static int rcpt_param(struct smtp_rcpt_params *p, char *key, const char *v,
		      char *reply, size_t replysz)
{
	const char *bad = NULL;

	if (strcasecmp(key, "NOTIFY") == 0) {
		if (p->notify)
			bad = "Duplicate NOTIFY parameter";
		else if (!v || dsn_notify_parse(v, &p->notify) < 0)
			bad = "Bad NOTIFY= value (NEVER, or SUCCESS, FAILURE, "
			      "DELAY)";
	} else if (strcasecmp(key, "ORCPT") == 0) {
		if (p->orcpt[0])
			bad = "Duplicate ORCPT parameter";
		else if (!v || !dsn_orcpt_ok(v))
			bad = "Bad ORCPT= value (addr-type;xtext, at most 500 "
			      "characters)";
		else
			snprintf(p->orcpt, sizeof p->orcpt, "%s", v);
	} else {
		snprintf(reply, replysz, "555 5.5.4 Unsupported parameter");
		return 555;
	}
	if (!bad)
		return 0;
	snprintf(reply, replysz, "501 5.5.4 %s", bad);
	return 501;
}

int smtp_cmd_rcpt_params(const char *s, struct smtp_rcpt_params *p,
			 char *reply, size_t replysz)
{
	memset(p, 0, sizeof *p);
	while (*s) {
		size_t n = strcspn(s, " ");
		char buf[SMTP_PARAM_MAX], *eq;
		int rc;
		if (n >= sizeof buf) {
			snprintf(reply, replysz, "501 5.5.4 Parameter too long");
			return 501;
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		if ((eq = strchr(buf, '=')))
			*eq++ = '\0';
		if ((rc = rcpt_param(p, buf, eq, reply, replysz)))
			return rc;
		s += n;
		while (*s == ' ')
			s++;
	}
	return 0;
}

int smtp_cmd_bdat_mangled(const char *line)
{
	char c;

	if (strncasecmp(line, "BDAT", 4) != 0)
		return 0;
	c = line[4];
	return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

int smtp_cmd_bdat(const char *arg, unsigned long long *size, int *last)
{
	size_t digits = strspn(arg, "0123456789");
	const char *p = arg + digits;

	/* 18 digits fit in 64 bits: a longer count is refused, not wrapped */
	if (digits == 0 || digits > 18)
		return -1;
	*size = strtoull(arg, NULL, 10);
	*last = 0;
	if (!*p)
		return 0;
	if (*p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	if (strcasecmp(p, "LAST") != 0)
		return -1;
	*last = 1;
	return 0;
}
