/* kv.c: key=value lines inside netstrings. */
#include "kv.h"
#include "ns.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kv_init(struct kv *k)
{
	k->buf = NULL;
	k->len = k->cap = 0;
	k->failed = 0;
}

void kv_free(struct kv *k)
{
	free(k->buf);
	kv_init(k);
}

void kv_reset(struct kv *k)
{
	k->len = 0;
	k->failed = 0;
}

static int kv_reserve(struct kv *k, size_t more)
{
	size_t need = k->len + more;
	char *nb;

	if (need > NS_MAX) {
		k->failed = 1;
		return -1;
	}
	if (need <= k->cap)
		return 0;
	nb = realloc(k->buf, need * 2 > NS_MAX ? NS_MAX : need * 2);
	if (!nb) {
		k->failed = 1;
		return -1;
	}
	k->buf = nb;
	k->cap = need * 2 > NS_MAX ? NS_MAX : need * 2;
	return 0;
}

void kv_addn(struct kv *k, const char *key, const char *value, size_t n)
{
	size_t kl = strlen(key);

	if (kv_reserve(k, kl + n + 2) < 0)
		return;
	memcpy(k->buf + k->len, key, kl);
	k->len += kl;
	k->buf[k->len++] = '=';
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		k->buf[k->len++] = (c == '\n' || c == '\0') ? ' ' : c;
	}
	k->buf[k->len++] = '\n';
}

void kv_add(struct kv *k, const char *key, const char *value)
{
	kv_addn(k, key, value ? value : "", value ? strlen(value) : 0);
}

void kv_addf(struct kv *k, const char *key, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		k->failed = 1;
		return;
	}
	kv_addn(k, key, tmp, (size_t)n);
}

int kv_send_fds(struct kv *k, int sock, const int *fds, int nfds)
{
	if (k->failed)
		return -1;
	return ns_write_fds(sock, k->buf ? k->buf : "", k->len, fds, nfds);
}

int kv_send(struct kv *k, int fd)
{
	return kv_send_fds(k, fd, NULL, 0);
}

static int kv_key_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return 0;
	return 1;
}

int kv_parse(struct kv_msg *m, char *payload, size_t len)
{
	char *p = payload, *end = payload + len;

	m->n = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eq;

		if (!nl)
			return -1; /* every line ends with '\n' */
		*nl = '\0';
		eq = memchr(p, '=', (size_t)(nl - p));
		if (!eq || !kv_key_ok(p, (size_t)(eq - p)) ||
		    memchr(p, '\0', (size_t)(nl - p)) || m->n == KV_MAXPAIRS)
			return -1;
		*eq = '\0';
		m->pair[m->n].key = p;
		m->pair[m->n].value = eq + 1;
		m->n++;
		p = nl + 1;
	}
	return 0;
}

const char *kv_get(const struct kv_msg *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->pair[i].key, key) == 0)
			return m->pair[i].value;
	return NULL;
}

const char *kv_get_or(const struct kv_msg *m, const char *key, const char *def)
{
	const char *v = kv_get(m, key);
	return v ? v : def;
}

size_t kv_get_all(const struct kv_msg *m, const char *key, const char **out,
		  size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n && n < max; i++)
		if (strcmp(m->pair[i].key, key) == 0)
			out[n++] = m->pair[i].value;
	return n;
}
