/* rulekeys.c: key construction and value parsing for the rules CDBs. */
#include "rulekeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rk_ip(const struct cidr *c, char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char h[33];

	for (int i = 0; i < 16; i++) {
		h[2 * i] = hex[c->net.a[i] >> 4];
		h[2 * i + 1] = hex[c->net.a[i] & 15];
	}
	h[32] = '\0';
	snprintf(buf, n, "ip:%d:%s", c->bits, h);
}

const char *rk_next(const char **pos, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	const char *p = *pos;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			*len = l - kl - 1;
			*pos = e ? e + 1 : p + l;
			return p + kl + 1;
		}
		p = e ? e + 1 : NULL;
	}
	*pos = p ? p : "";
	return NULL;
}

int rk_get(const char *val, const char *key, char *out, size_t n)
{
	size_t len;
	const char *v = rk_next(&val, key, &len);

	if (!v)
		return 0;
	if (len + 1 > n)
		return -1;
	memmove(out, v, len); /* out may be val itself */
	out[len] = '\0';
	return 1;
}

long rk_num(const char *val, const char *key, long def)
{
	char buf[32], *end;
	long v;

	if (rk_get(val, key, buf, sizeof buf) != 1)
		return def;
	v = strtol(buf, &end, 10);
	return *buf && !*end ? v : def;
}

int rk_yes(const char *val, const char *key)
{
	char buf[8];
	return rk_get(val, key, buf, sizeof buf) == 1 && !strcmp(buf, "yes");
}
