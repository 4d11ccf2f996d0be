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

/* One parameter handler: value is NULL when the parameter had no '='.
 * mail or rcpt is the command's result, the other NULL. */
struct param_ctx {
	struct smtp_mail_params *mail;
	struct smtp_rcpt_params *rcpt;
	long size_max;
	char *reply;
	size_t replysz;
};

static int param_bad(struct param_ctx *c, const char *fmt, const char *what)
{
	snprintf(c->reply, c->replysz, fmt, what);
	return 501;
}

static int param_size(struct param_ctx *c, const char *v)
{
	char *end;
	long n;

	if (!v || !*v || strspn(v, "0123456789") != strlen(v) ||
	    strlen(v) > 18)
		return param_bad(c, "501 5.5.4 Bad %s= value", "SIZE");
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || n > c->size_max) {
		snprintf(c->reply, c->replysz,
			 "552 5.3.4 Message size exceeds fixed maximum message size");
		return 552;
	}
	c->mail->size = n;
	return 0;
}

static int param_body(struct param_ctx *c, const char *v)
{
	if (v && strcasecmp(v, "7BIT") == 0) {
		c->mail->body8 = 0;
		return 0;
	}
	if (v && strcasecmp(v, "8BITMIME") == 0) {
		c->mail->body8 = 1;
		return 0;
	}
	return param_bad(c, "501 5.5.4 Bad %s= value", "BODY");
}

static int param_smtputf8(struct param_ctx *c, const char *v)
{
	if (v)
		return param_bad(c, "501 5.5.4 %s takes no value", "SMTPUTF8");
	c->mail->smtputf8 = 1;
	return 0;
}

static int param_auth(struct param_ctx *c, const char *v)
{
	/* AUTH=<> or an xtext identity: accepted and ignored (RFC 4954 5:
	 * the server may ignore it); policy knows who authenticated. */
	if (!v || !*v)
		return param_bad(c, "501 5.5.4 Bad %s= value", "AUTH");
	return 0;
}

/* RFC 3461 4.3: RET=FULL|HDRS. */
static int param_ret(struct param_ctx *c, const char *v)
{
	if (!v || (c->mail->ret = (int)dsn_ret_parse(v)) == DSN_RET_NONE)
		return param_bad(c, "501 5.5.4 Bad %s= value (FULL or HDRS)",
				 "RET");
	return 0;
}

/* RFC 3461 4.4: ENVID=xtext, at most 100 characters. */
static int param_envid(struct param_ctx *c, const char *v)
{
	if (!v || !dsn_envid_ok(v))
		return param_bad(c, "501 5.5.4 Bad %s= value (xtext, at most "
				    "100 characters)", "ENVID");
	snprintf(c->mail->envid, sizeof c->mail->envid, "%s", v);
	return 0;
}

/* RFC 3461 4.1: NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY. */
static int param_notify(struct param_ctx *c, const char *v)
{
	if (!v || dsn_notify_parse(v, &c->rcpt->notify) < 0)
		return param_bad(c, "501 5.5.4 Bad %s= value (NEVER, or "
				    "SUCCESS, FAILURE, DELAY)", "NOTIFY");
	return 0;
}

/* RFC 3461 4.2: ORCPT=addr-type;xtext; RFC 6533 3.3: utf-8;UTF-8 text,
 * kept in its ASCII form (whether SMTPUTF8 allows it is the caller's
 * to say: orcpt_utf8). */
static int param_orcpt(struct param_ctx *c, const char *v)
{
	struct smtp_rcpt_params *r = c->rcpt;

	if (v && dsn_orcpt_ok(v)) {
		snprintf(r->orcpt, sizeof r->orcpt, "%s", v);
		return 0;
	}
	if (v && dsn_orcpt_utf8_to_ascii(v, r->orcpt, sizeof r->orcpt) == 0) {
		r->orcpt_utf8 = 1;
		return 0;
	}
	r->orcpt[0] = '\0';
	return param_bad(c, "501 5.5.4 Bad %s= value (addr-type;xtext, "
			    "at most 500 characters)", "ORCPT");
}

struct param_def {
	const char *name;
	int (*fn)(struct param_ctx *, const char *);
};

static const struct param_def mail_params[] = {
	{ "SIZE", param_size },
	{ "BODY", param_body },
	{ "SMTPUTF8", param_smtputf8 },
	{ "AUTH", param_auth },
	{ "RET", param_ret },
	{ "ENVID", param_envid },
};

static const struct param_def rcpt_params[] = {
	{ "NOTIFY", param_notify },
	{ "ORCPT", param_orcpt },
};

/* Handle one "KEY[=VALUE]" token of length n; *seen has a bit for each
 * parameter of tab already given. */
static int param_one(struct param_ctx *c, const struct param_def *tab,
		     size_t ntab, const char *tok, size_t n, unsigned *seen)
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
	for (size_t i = 0; i < ntab; i++) {
		if (strcasecmp(buf, tab[i].name) != 0)
			continue;
		/* each parameter once (RFC 3461 says so for its own; for the
		 * others a repeat is as ambiguous): never "the last wins" */
		if (*seen & 1u << i)
			return param_bad(c, "501 5.5.4 Duplicate %s parameter",
					 tab[i].name);
		*seen |= 1u << i;
		return tab[i].fn(c, eq);
	}
	snprintf(c->reply, c->replysz, "555 5.5.4 Unsupported parameter");
	return 555;
}

/* The parameters in s, separated by spaces, against tab: 0 or a reply. */
static int params_parse(struct param_ctx *c, const struct param_def *tab,
			size_t ntab, const char *s)
{
	unsigned seen = 0;

	while (*s) {
		size_t n = strcspn(s, " ");
		int rc = param_one(c, tab, ntab, s, n, &seen);
		if (rc)
			return rc;
		s += n;
		while (*s == ' ')
			s++;
	}
	return 0;
}

int smtp_cmd_mail_params(const char *s, long size_max,
			 struct smtp_mail_params *p, char *reply,
			 size_t replysz)
{
	struct param_ctx c = { p, NULL, size_max, reply, replysz };

	memset(p, 0, sizeof *p);
	p->size = -1;
	return params_parse(&c, mail_params,
			    sizeof mail_params / sizeof mail_params[0], s);
}

int smtp_cmd_rcpt_params(const char *s, struct smtp_rcpt_params *p,
			 char *reply, size_t replysz)
{
	struct param_ctx c = { NULL, p, 0, reply, replysz };

	memset(p, 0, sizeof *p);
	return params_parse(&c, rcpt_params,
			    sizeof rcpt_params / sizeof rcpt_params[0], s);
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
