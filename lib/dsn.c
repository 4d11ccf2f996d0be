/* dsn.c: DSN parameters (dsn.h): xtext, NOTIFY, RET, ENVID, ORCPT. */
#include "dsn.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int xt_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* RFC 3461 4: hexchar is uppercase */
}

int dsn_xtext_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			int hi, lo;
			if (i + 2 >= len)
				return 0;
			hi = xt_hex(s[i + 1]);
			lo = xt_hex(s[i + 2]);
			if (hi < 0 || lo < 0 || hi * 16 + lo < 0x20 ||
			    hi * 16 + lo > 0x7e)
				return 0;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return 0;
		}
	}
	return 1;
}

char *dsn_xtext_decode(const char *s, char *out, size_t n)
{
	size_t k = 0;

	while (*s && k + 1 < n) {
		if (s[0] == '+' && xt_hex(s[1]) >= 0 && xt_hex(s[2]) >= 0) {
			out[k++] = (char)(xt_hex(s[1]) * 16 + xt_hex(s[2]));
			s += 3;
		} else {
			out[k++] = *s++;
		}
	}
	out[k] = '\0';
	return out;
}

char *dsn_xtext_encode(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > ' ' && c <= '~' && c != '+' && c != '=') {
			if (k + 2 > n)
				break;
			out[k++] = (char)c;
		} else {
			if (k + 4 > n)
				break;
			k += (size_t)snprintf(out + k, 4, "+%02X", c);
		}
	}
	if (n)
		out[k] = '\0';
	return out;
}

static const struct {
	const char *name;
	unsigned bit;
} dsn_notify_names[] = {
	{ "SUCCESS", DSN_NOTIFY_SUCCESS },
	{ "FAILURE", DSN_NOTIFY_FAILURE },
	{ "DELAY", DSN_NOTIFY_DELAY },
	{ "NEVER", DSN_NOTIFY_NEVER },
};
#define DSN_NNAMES (sizeof dsn_notify_names / sizeof dsn_notify_names[0])

/* The bit of the len bytes at s, 0 when no name. */
static unsigned notify_bit(const char *s, size_t len)
{
	for (size_t i = 0; i < DSN_NNAMES; i++)
		if (strlen(dsn_notify_names[i].name) == len &&
		    strncasecmp(s, dsn_notify_names[i].name, len) == 0)
			return dsn_notify_names[i].bit;
	return 0;
}

int dsn_notify_parse(const char *v, unsigned *notify)
{
	unsigned set = 0;

	for (;;) {
		size_t len = strcspn(v, ",");
		unsigned bit = notify_bit(v, len);
		if (!bit || (set & bit))
			return -1;
		set |= bit;
		if (!v[len])
			break;
		v += len + 1;
	}
	/* NEVER "MUST NOT be combined with any other value" (4.1) */
	if ((set & DSN_NOTIFY_NEVER) && set != DSN_NOTIFY_NEVER)
		return -1;
	*notify = set;
	return 0;
}

const char *dsn_notify_format(unsigned notify, char *buf)
{
	size_t k = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < DSN_NNAMES; i++)
		if (notify & dsn_notify_names[i].bit)
			k += (size_t)snprintf(buf + k, DSN_NOTIFY_TEXT - k, "%s%s",
					      k ? "," : "",
					      dsn_notify_names[i].name);
	if (!k)
		strcpy(buf, "-");
	return buf;
}

int dsn_notify_wants(unsigned notify, unsigned kind)
{
	if (!notify) /* RFC 3461 4.1: the default is FAILURE[,DELAY] */
		return kind == DSN_NOTIFY_FAILURE || kind == DSN_NOTIFY_DELAY;
	return (notify & kind) != 0;
}

enum dsn_ret dsn_ret_parse(const char *v)
{
	if (strcasecmp(v, "FULL") == 0)
		return DSN_RET_FULL;
	if (strcasecmp(v, "HDRS") == 0)
		return DSN_RET_HDRS;
	return DSN_RET_NONE;
}

const char *dsn_ret_name(enum dsn_ret r)
{
	return r == DSN_RET_FULL ? "FULL" : r == DSN_RET_HDRS ? "HDRS" : "";
}

int dsn_envid_ok(const char *v)
{
	size_t n = strlen(v);
	return n > 0 && n <= DSN_ENVID_MAX && dsn_xtext_ok(v, n);
}

/* RFC 5322 atext, less "=" (it cannot stand in an SMTP parameter's
 * value: RFC 5321 4.1.2 esmtp-value). */
static int atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/?^_`{|}~", c));
}

int dsn_orcpt_ok(const char *v)
{
	size_t n = strlen(v), t = 0;

	if (n > DSN_ORCPT_MAX)
		return 0;
	while (atext(v[t]))
		t++;
	if (t == 0 || v[t] != ';' || !v[t + 1])
		return 0;
	return dsn_xtext_ok(v + t + 1, n - t - 1);
}

int dsn_orcpt_utf8_to_ascii(const char *v, char *out, size_t n)
{
	size_t len = strlen(v), o = 6, k;

	if (strncasecmp(v, "utf-8;", 6) != 0 || !utf8_valid(v) || n < 7)
		return -1;
	memcpy(out, v, 6);
	for (size_t i = 6; i < len; i += k) {
		int w;
		k = utf8_char_len(v + i, len - i);
		if (k == 1)
			w = snprintf(out + o, n - o, "%c", v[i]);
		else
			w = snprintf(out + o, n - o, "\\x{%lX}",
				     utf8_code_point(v + i, k));
		if (w < 0 || (size_t)w >= n - o)
			return -1;
		o += (size_t)w;
	}
	return dsn_orcpt_ok(out) ? 0 : -1;
}

const char *dsn_rcpt_format(const struct dsn_rcpt *r, char *buf)
{
	char nt[DSN_NOTIFY_TEXT];
	snprintf(buf, DSN_RCPT_TEXT, "%s %s", dsn_notify_format(r->notify, nt),
		 r->orcpt ? r->orcpt : "-");
	return buf;
}

int dsn_rcpt_parse(char *s, struct dsn_rcpt *r)
{
	char *sp = strchr(s, ' ');

	if (!sp || strchr(sp + 1, ' '))
		return -1;
	*sp = '\0';
	r->notify = 0;
	r->orcpt = NULL;
	if (strcmp(s, "-") != 0 && (dsn_notify_parse(s, &r->notify) < 0 ||
				    !r->notify))
		return -1;
	if (strcmp(sp + 1, "-") != 0) {
		if (!dsn_orcpt_ok(sp + 1))
			return -1;
		r->orcpt = sp + 1;
	}
	return 0;
}
