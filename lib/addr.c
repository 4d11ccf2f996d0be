/* addr.c: parsing of SMTP paths. */
#include "addr.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <string.h>

void addr_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

int addr_domain_key(const char *domain, char *out, size_t n)
{
	size_t len = strlen(domain), cut = len < n ? len : n - 1;

	memcpy(out, domain, cut);
	out[cut] = '\0';
	addr_lower(out);
	return cut == len ? 0 : -1;
}

const char *addr_domain(const char *mailbox)
{
	const char *at = strrchr(mailbox, '@');
	return at ? at + 1 : "";
}

static int is_atext(unsigned char c, int utf8)
{
	if (c >= 0x80)
		return utf8;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int literal_valid(const char *d)
{
	char buf[64];
	size_t n = strlen(d);
	unsigned char tmp[16];

	if (n < 3 || d[0] != '[' || d[n - 1] != ']' || n - 2 >= sizeof buf)
		return 0;
	memcpy(buf, d + 1, n - 2);
	buf[n - 2] = '\0';
	if (!strncasecmp(buf, "IPv6:", 5))
		return inet_pton(AF_INET6, buf + 5, tmp) == 1;
	return inet_pton(AF_INET, buf, tmp) == 1;
}

int addr_domain_valid(const char *d, int literal_ok)
{
	size_t label = 0, n = strlen(d);

	if (d[0] == '[')
		return literal_ok && literal_valid(d);
	if (n == 0 || n > ADDR_DOMAIN_MAX || !utf8_valid(d))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.' || c == '\0') {
			/* empty label (leading, double or trailing dot) */
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80))
			return 0;
		if (label == 0 && c == '-')
			return 0;
		label++;
	}
	return 1;
}

/* Local part at p: dot-string or quoted-string; returns its length, 0 when
 * invalid. */
static size_t local_part(const char *p, int utf8, enum addr_status *st)
{
	size_t i = 0;

	if (p[0] == '"') {
		for (i = 1; p[i] && p[i] != '"'; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c == '\\') { /* quoted-pair: 32..126, or UTF-8 */
				unsigned char e = (unsigned char)p[i + 1];
				if (e < 0x20 || e == 0x7f)
					return 0;
				if (e >= 0x80 && !utf8) {
					*st = ADDR_8BIT;
					return 0;
				}
				i++;
			} else if (c < 0x20 || c == 0x7f) {
				return 0;
			} else if (c >= 0x80 && !utf8) {
				*st = ADDR_8BIT;
				return 0;
			}
		}
		return p[i] == '"' ? i + 1 : 0;
	}
	for (;;) {
		size_t atom = 0;
		while (is_atext((unsigned char)p[i], utf8)) {
			i++;
			atom++;
		}
		if ((unsigned char)p[i] >= 0x80 && !utf8) {
			*st = ADDR_8BIT;
			return 0;
		}
		if (atom == 0)
			return 0;
		if (p[i] != '.')
			return i;
		i++;
	}
}

/* 1 when the quoted local part of length n at p holds a byte that ends
 * a path, field or line in some later part (see addr.h). */
static int quoted_unsafe(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == ' ' || p[i] == '<' || p[i] == '>')
			return 1;
	return 0;
}

enum addr_status addr_mailbox_check(const char *m, int utf8)
{
	enum addr_status st = ADDR_SYNTAX;
	size_t lp;

	if (strlen(m) > ADDR_MAX)
		return ADDR_TOOLONG;
	if (m[0] == '@')
		return ADDR_ROUTE;
	if (utf8 && !utf8_valid(m))
		return ADDR_BADUTF8;
	lp = local_part(m, utf8, &st);
	if (lp == 0)
		return st;
	if (lp > ADDR_LOCAL_MAX + 2 * (m[0] == '"'))
		return ADDR_TOOLONG;
	if (m[lp] == '\0')
		return ADDR_NODOMAIN;
	if (m[lp] != '@')
		return ADDR_SYNTAX;
	if (m[0] == '"' && quoted_unsafe(m, lp))
		return ADDR_UNSAFE;
	if (!utf8) /* the local part was checked; the domain is not yet */
		for (const char *d = m + lp + 1; *d; d++)
			if ((unsigned char)*d >= 0x80)
				return ADDR_8BIT;
	if (!addr_domain_valid(m + lp + 1, 1))
		return ADDR_BADDOMAIN;
	return ADDR_OK;
}

/* 1 when the n bytes at p are a dot-string: atoms joined by single dots. */
static int dot_string(const char *p, size_t n)
{
	size_t atom = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
		} else if (is_atext((unsigned char)p[i], 1)) {
			atom++;
		} else {
			return 0;
		}
	}
	return atom > 0;
}

/* RFC 5321 4.1.2: the quotes and quoted-pairs of a local part are syntax,
 * not content ("mail\er" is mailer).  The content is written back as a
 * dot-string when it is one, else quoted with a backslash only before
 * '"' and '\'.  Never longer than the quoted form it replaces. */
static void quoted_canonical(char *m, size_t lp)
{
	char content[ADDR_MAX + 1], canon[ADDR_MAX + 3];
	size_t cn = 0, k = 0;

	for (size_t i = 1; i + 1 < lp; i++) {
		if (m[i] == '\\')
			i++;
		content[cn++] = m[i];
	}
	if (dot_string(content, cn)) {
		memcpy(canon, content, cn);
		k = cn;
	} else {
		canon[k++] = '"';
		for (size_t i = 0; i < cn; i++) {
			if (content[i] == '"' || content[i] == '\\')
				canon[k++] = '\\';
			canon[k++] = content[i];
		}
		canon[k++] = '"';
	}
	memcpy(m, canon, k);
	memmove(m + k, m + lp, strlen(m + lp) + 1);
}

void addr_canonical(char *mbox)
{
	enum addr_status st;
	size_t lp;

	if (mbox[0] == '"' && (lp = local_part(mbox, 1, &st)) > 0)
		quoted_canonical(mbox, lp);
	addr_lower((char *)addr_domain(mbox));
}

/* Parse mailbox "local@domain" of length n at p into out. */
static enum addr_status mailbox(const char *p, size_t n, int utf8, char *out,
				size_t outsz)
{
	enum addr_status st;

	if (n > ADDR_MAX || n + 1 > outsz)
		return ADDR_TOOLONG;
	/* check the terminated copy: a quoted local part must not run past
	 * the n bytes (an unbracketed "a b"@c ends at the space) */
	memcpy(out, p, n);
	out[n] = '\0';
	if ((st = addr_mailbox_check(out, utf8)) != ADDR_OK)
		return st;
	addr_canonical(out);
	return ADDR_OK;
}

enum addr_status addr_parse_path(const char *s, int allow_null, int utf8,
				 char *out, size_t outsz, const char **rest)
{
	const char *start, *end;
	enum addr_status st;
	int quoted = 0, bracketed;

	while (*s == ' ')
		s++;
	bracketed = (*s == '<');
	if (bracketed) {
		start = ++s;
		for (end = s; *end && (quoted || *end != '>'); end++) {
			if (*end == '\\' && quoted && end[1])
				end++;
			else if (*end == '"')
				quoted = !quoted;
		}
		if (*end != '>')
			return ADDR_SYNTAX;
		*rest = end + 1;
	} else {
		/* no brackets: the mailbox runs to the first space */
		start = s;
		for (end = s; *end && *end != ' '; end++)
			;
		*rest = end;
	}
	if (**rest && **rest != ' ')
		return ADDR_SYNTAX;
	while (**rest == ' ')
		(*rest)++;
	if (end == start) {
		if (!allow_null || !bracketed)
			return ADDR_NULL;
		if (outsz)
			out[0] = '\0';
		return ADDR_OK;
	}
	if (*start == '@')
		return ADDR_ROUTE;
	st = mailbox(start, (size_t)(end - start), utf8, out, outsz);
	return st;
}

const char *addr_status_text(enum addr_status st)
{
	switch (st) {
	case ADDR_OK: return "address ok";
	case ADDR_SYNTAX: return "Syntax error in mailbox address";
	case ADDR_TOOLONG: return "Address too long";
	case ADDR_ROUTE: return "Source routes are not accepted";
	case ADDR_NODOMAIN: return "Address must have a domain";
	case ADDR_BADDOMAIN: return "Invalid domain in address";
	case ADDR_8BIT: return "Non-ASCII address requires SMTPUTF8";
	case ADDR_NULL: return "Null address not allowed here";
	case ADDR_UNSAFE:
		return "Quoted local part with a space, < or > not accepted";
	case ADDR_BADUTF8: return "Address is not valid UTF-8";
	}
	return "bad address";
}
