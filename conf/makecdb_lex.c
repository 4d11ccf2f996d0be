/* makecdb_lex.c: splitting relay.rules lines into tokens with columns,
 * diagnostics with file:line:column, and the small containers makecdb
 * uses (growable vectors, a string map). */
#include "makecdb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"

void *mk_grow(void **v, size_t *n, size_t *cap, size_t size)
{
	char *p;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		p = realloc(*v, nc * size);
		if (!p)
			log_fatal(EXIT_TEMP, "out of memory");
		*v = p;
		*cap = nc;
	}
	p = (char *)*v + (*n)++ * size;
	memset(p, 0, size);
	return p;
}

char *mk_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		log_fatal(EXIT_TEMP, "out of memory");
	return d;
}

static void diag(struct mk *m, const char *kind, int line, int col,
		 const char *fmt, va_list ap)
{
	FILE *f = m->diag ? m->diag : stderr;

	if (m->quiet)
		return;
	fprintf(f, "%s:%d:%d: %s: ", m->file, line, col, kind);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

void mk_error(struct mk *m, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag(m, "error", line, col, fmt, ap);
	va_end(ap);
	m->errors++;
}

void mk_warn(struct mk *m, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag(m, "warning", line, col, fmt, ap);
	va_end(ap);
	m->warnings++;
}

static int mk_control(int c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* A comment (from its '#'): control characters refused there too, tab
 * aside, since relayctl rules diff shows relay.rules' lines. */
static int mk_comment(struct mk *m, const char *text, const char *p,
		      int lineno)
{
	for (; *p; p++)
		if (mk_control((unsigned char)*p)) {
			mk_error(m, lineno, (int)(p - text) + 1,
				 "control character in rules");
			return -1;
		}
	return 0;
}

/* Tokens are separated by blanks; '#' at the start of a token begins a
 * comment.  Control characters are refused, in comments too, so that
 * nothing odd reaches the CDB, the log or the operator's terminal. */
int mk_lex(struct mk *m, char *text, int lineno, struct mk_line *l)
{
	char *p = text;

	l->n = 0;
	l->lineno = lineno;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#')
			return mk_comment(m, text, p, lineno);
		if (!*p)
			return 0;
		if (l->n == MK_TOKMAX) {
			mk_error(m, lineno, (int)(p - text) + 1,
				 "too many words on one line (at most %d)",
				 MK_TOKMAX);
			return -1;
		}
		l->tok[l->n].s = p;
		l->tok[l->n].col = (int)(p - text) + 1;
		l->n++;
		while (*p && *p != ' ' && *p != '\t') {
			if (mk_control((unsigned char)*p)) {
				mk_error(m, lineno, (int)(p - text) + 1,
					 "control character in rules");
				return -1;
			}
			p++;
		}
		if (*p)
			*p++ = '\0';
	}
}

static size_t map_hash(const char *s)
{
	size_t h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

int mk_map_get(const struct mk_map *m, const char *key)
{
	if (!m->cap)
		return -1;
	for (size_t i = map_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->key[i])
			return -1;
		if (!strcmp(m->key[i], key))
			return m->val[i];
	}
}

static int map_resize(struct mk_map *m)
{
	struct mk_map n = { 0 };

	n.cap = m->cap ? m->cap * 2 : 64;
	n.key = calloc(n.cap, sizeof *n.key);
	n.val = calloc(n.cap, sizeof *n.val);
	if (!n.key || !n.val) {
		free(n.key);
		free(n.val);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->key[i])
			continue;
		size_t j = map_hash(m->key[i]) & (n.cap - 1);
		while (n.key[j])
			j = (j + 1) & (n.cap - 1);
		n.key[j] = m->key[i];
		n.val[j] = m->val[i];
	}
	n.n = m->n;
	free(m->key);
	free(m->val);
	*m = n;
	return 0;
}

int mk_map_put(struct mk_map *m, const char *key, int val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap && map_resize(m) < 0)
		return -1;
	for (i = map_hash(key) & (m->cap - 1); m->key[i];
	     i = (i + 1) & (m->cap - 1))
		if (!strcmp(m->key[i], key)) {
			m->val[i] = val;
			return 0;
		}
	m->key[i] = mk_strdup(key);
	m->val[i] = val;
	m->n++;
	return 0;
}

void mk_map_free(struct mk_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->key[i]);
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof *m);
}

void mk_init(struct mk *m, const char *file)
{
	memset(m, 0, sizeof *m);
	m->file = file;
	m->dkim_owner = -1;
}

void mk_free(struct mk *m)
{
	for (size_t i = 0; i < m->n_cust; i++) {
		free(m->cust[i].name);
		free(m->cust[i].archive);
		free(m->cust[i].admin);
	}
	for (size_t i = 0; i < m->n_rule; i++)
		free(m->rule[i].name);
	for (size_t i = 0; i < m->n_dom; i++)
		free(m->dom[i].name);
	for (size_t i = 0; i < m->n_user; i++) {
		free(m->user[i].addr);
		free(m->user[i].hash);
		free(m->user[i].custname);
	}
	for (size_t i = 0; i < m->n_route; i++) {
		free(m->route[i].key);
		free(m->route[i].val);
	}
	for (size_t i = 0; i < m->n_dkim; i++) {
		free(m->dkim[i].domain);
		free(m->dkim[i].selector);
		free(m->dkim[i].key);
	}
	free(m->dkim);
	mk_map_free(&m->dkimmap);
	free(m->cust);
	free(m->rule);
	free(m->dom);
	free(m->user);
	free(m->ip);
	free(m->route);
	mk_map_free(&m->custmap);
	mk_map_free(&m->rulemap);
	mk_map_free(&m->dommap);
	mk_map_free(&m->usermap);
	mk_map_free(&m->routemap);
}

int mk_parse_text(struct mk *m, const char *name, char *text)
{
	struct mk_line l;
	int lineno = 0;

	m->file = name;
	for (char *p = text; p && *p;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = '\0';
		lineno++;
		if (strlen(p) >= MK_LINEMAX)
			mk_error(m, lineno, MK_LINEMAX, "line too long (at most %d)",
				 MK_LINEMAX - 1);
		else if (mk_lex(m, p, lineno, &l) == 0 && l.n > 0)
			mk_parse_line(m, &l);
		p = e ? e + 1 : NULL;
	}
	return m->errors ? -1 : 0;
}

int mk_read_file(struct mk *m, const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re"), *mem;
	char buf[65536];
	size_t n;

	*text = NULL;
	*len = 0;
	if (!f) {
		fprintf(stderr, "makecdb: %s: %s\n", path, strerror(errno));
		m->errors++;
		return -1;
	}
	/* read it whole: rules files are text of modest size */
	mem = open_memstream(text, len);
	while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, mem);
	if (!mem || ferror(f) || fclose(mem) != 0) {
		fprintf(stderr, "makecdb: %s: read error\n", path);
		fclose(f);
		free(*text);
		*text = NULL;
		m->errors++;
		return -1;
	}
	fclose(f);
	return 0;
}

int mk_parse_buf(struct mk *m, const char *name, const char *text, size_t len)
{
	char *copy;
	int rc;

	if (memchr(text, '\0', len)) {
		mk_error(m, 1, 1, "NUL byte in rules file");
		return -1;
	}
	if (!(copy = malloc(len + 1)))
		log_fatal(EXIT_TEMP, "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	rc = mk_parse_text(m, name, copy);
	free(copy);
	return rc;
}

int mk_parse_file(struct mk *m, const char *path)
{
	char *text;
	size_t len;
	int rc;

	if (mk_read_file(m, path, &text, &len) < 0)
		return -1;
	rc = mk_parse_buf(m, path, text, len);
	free(text);
	return rc;
}
