/* sts.c: MTA-STS (RFC 8461) parsing, strict (lib/sts.h). */
#include "sts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Next "; "-separated field of a TXT record: name and value, spaces
 * around them removed.  NULL at the end. */
static const char *sts_txt_field(const char *p, char *k, size_t kn,
				 char *v, size_t vn)
{
	const char *end, *eq;
	size_t a, b;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	end = strchr(p, ';');
	if (!end)
		end = p + strlen(p);
	eq = memchr(p, '=', (size_t)(end - p));
	if (!eq)
		return k[0] = '\0', end;
	for (a = (size_t)(eq - p); a > 0 && (p[a - 1] == ' ' || p[a - 1] == '\t'); a--)
		;
	snprintf(k, kn, "%.*s", (int)a, p);
	eq++;
	while (eq < end && (*eq == ' ' || *eq == '\t'))
		eq++;
	for (b = (size_t)(end - eq); b > 0 && (eq[b - 1] == ' ' || eq[b - 1] == '\t'); b--)
		;
	snprintf(v, vn, "%.*s", (int)b, eq);
	return *end ? end + 1 : end;
}

int sts_txt_parse(const char *txt, char *id)
{
	char k[64], v[256];
	const char *p = txt;
	int first = 1, have_id = 0;

	if (strncmp(txt, "v=STSv1", 7) != 0 || (txt[7] && txt[7] != ';' &&
						 txt[7] != ' '))
		return -1; /* RFC 8461 3.1: the record starts with v=STSv1 */
	while ((p = sts_txt_field(p, k, sizeof k, v, sizeof v))) {
		if (!k[0])
			return -1;
		if (first) {
			first = 0;
			continue;
		}
		if (strcmp(k, "id") != 0)
			continue; /* extension fields are ignored */
		size_t n = strlen(v);
		if (have_id || n < 1 || n > STS_ID_MAX)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)v[i]))
				return -1;
		strcpy(id, v);
		have_id = 1;
	}
	return have_id ? 0 : -1;
}

/* A pattern: labels of letters, digits and '-', "*." only in front. */
static int sts_mx_pattern_ok(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (strncmp(s, "*.", 2) == 0)
		s += 2, n -= 2;
	if (n == 0 || n >= STS_NAME_MAX - 2)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++lab > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return lab > 0;
}

static int sts_fail(char *err, size_t errsz, const char *what, const char *v)
{
	snprintf(err, errsz, "%s%s%.64s%s", what, v ? " \"" : "", v ? v : "",
		 v ? "\"" : "");
	return -1;
}

/* A checked pattern v, lowercased, at the end of p's pool; a policy
 * that overflows it is refused (a truncated list under enforce would
 * defer the mail for every MX left out). */
static int sts_mx_add(struct sts_policy *p, const char *v, char *err,
		      size_t errsz)
{
	size_t n = strlen(v);

	if (n + 1 > sizeof p->mx - p->mx_used) {
		snprintf(err, errsz, "mx patterns over %zu bytes after %zu of "
			 "them (relaybox keeps no more)", sizeof p->mx, p->nmx);
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		p->mx[p->mx_used + i] = (char)tolower((unsigned char)v[i]);
	p->mx_used += n + 1;
	p->nmx++;
	return 0;
}

/* One "key: value" line; seen counts version (1), mode (2), max_age (4). */
static int sts_policy_line(struct sts_policy *p, const char *k, const char *v,
			   unsigned *seen, char *err, size_t errsz)
{
	static const char *modes[] = { "none", "testing", "enforce" };
	unsigned bit = strcmp(k, "version") == 0 ? 1 : strcmp(k, "mode") == 0
		     ? 2 : strcmp(k, "max_age") == 0 ? 4 : 0;

	if (bit & *seen)
		return sts_fail(err, errsz, "a second", k);
	*seen |= bit;
	if (bit == 1 && strcmp(v, "STSv1") != 0)
		return sts_fail(err, errsz, "version is not STSv1:", v);
	if (bit == 2) {
		for (int m = 0; m < 3; m++)
			if (strcmp(v, modes[m]) == 0)
				return p->mode = (enum sts_mode)m, 0;
		return sts_fail(err, errsz, "unknown mode", v);
	}
	if (bit == 4) {
		char *e;
		if (!isdigit((unsigned char)v[0]) || strlen(v) > 10)
			return sts_fail(err, errsz, "bad max_age", v);
		p->max_age = strtol(v, &e, 10);
		if (*e || p->max_age > STS_MAX_AGE_MAX)
			return sts_fail(err, errsz, "bad max_age", v);
	}
	if (strcmp(k, "mx") == 0) {
		if (!sts_mx_pattern_ok(v))
			return sts_fail(err, errsz, "bad mx pattern", v);
		return sts_mx_add(p, v, err, errsz);
	}
	return 0;
}

int sts_policy_parse(const char *text, size_t len, struct sts_policy *p,
		     char *err, size_t errsz)
{
	unsigned seen = 0;
	size_t i = 0;

	memset(p, 0, sizeof *p);
	while (i < len) {
		const char *l = text + i, *nl = memchr(l, '\n', len - i);
		size_t n = nl ? (size_t)(nl - l) : len - i;
		char line[512], *colon, *v;

		i += n + (nl != NULL);
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		if (n >= sizeof line || memchr(l, '\0', n))
			return sts_fail(err, errsz, "line too long or NUL", NULL);
		memcpy(line, l, n);
		line[n] = '\0';
		if (!(colon = strchr(line, ':')) || colon == line)
			return sts_fail(err, errsz, "not a key: value line", line);
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		if (sts_policy_line(p, line, v, &seen, err, errsz) < 0)
			return -1;
	}
	if (seen != 7)
		return sts_fail(err, errsz, "version, mode or max_age missing",
				NULL);
	if (p->mode != STS_NONE && p->nmx == 0)
		return sts_fail(err, errsz, "no mx", NULL);
	return 0;
}

const char *sts_mx_next(const struct sts_policy *p, const char *prev)
{
	const char *next = prev ? prev + strlen(prev) + 1 : p->mx;

	return next < p->mx + p->mx_used ? next : NULL;
}

int sts_mx_match(const struct sts_policy *p, const char *mx)
{
	char name[STS_NAME_MAX];
	size_t n = strlen(mx);

	if (n && mx[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof name)
		return 0;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)mx[i]);
	name[n] = '\0';
	for (const char *pat = sts_mx_next(p, NULL); pat;
	     pat = sts_mx_next(p, pat)) {
		const char *dot;
		if (strcmp(pat, name) == 0)
			return 1;
		/* "*.example.com" matches one label in front, no more */
		if (pat[0] == '*' && (dot = strchr(name, '.')) && dot > name &&
		    strcmp(dot, pat + 1) == 0)
			return 1;
	}
	return 0;
}

const char *sts_mode_name(enum sts_mode m)
{
	return m == STS_ENFORCE ? "enforce" : m == STS_TESTING ? "testing"
							       : "none";
}

int sts_cache_format(char *buf, size_t n, const char *id, time_t fetched,
		     const char *policy, size_t plen, size_t *outlen)
{
	int h = snprintf(buf, n, "relaybox-mta-sts 1\nid=%s\nfetched=%lld\n\n",
			 id, (long long)fetched);

	if (h < 0 || (size_t)h + plen > n)
		return -1;
	memcpy(buf + h, policy, plen);
	*outlen = (size_t)h + plen;
	return 0;
}

int sts_cache_parse(const char *buf, size_t len, char *id, time_t *fetched,
		    struct sts_policy *p)
{
	char err[128], head[128], idl[STS_ID_MAX + 2];
	const char *body = memmem(buf, len, "\n\n", 2);
	long long t;
	int used = 0;

	/* the header alone, NUL-terminated, for sscanf */
	if (!body || (size_t)(body - buf) + 2 > sizeof head)
		return -1;
	memcpy(head, buf, (size_t)(body - buf) + 1);
	head[body - buf + 1] = '\0';
	if (sscanf(head, "relaybox-mta-sts 1\nid=%33[A-Za-z0-9]\n"
		   "fetched=%lld\n%n", idl, &t, &used) != 2 ||
	    used != body - buf + 1 || strlen(idl) > STS_ID_MAX || t < 0)
		return -1;
	strcpy(id, idl);
	*fetched = (time_t)t;
	body += 2;
	return sts_policy_parse(body, len - (size_t)(body - buf), p, err,
				sizeof err);
}
