/* cfg.c: table-driven "key = value" reader. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cfg_set(const struct cfg_item *it, const char *value, char *err,
	    size_t errsz)
{
	char *end;
	long v;

	switch (it->type) {
	case CFG_STR: {
		char *copy = strdup(value);
		if (!copy) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		free(*(char **)it->var);
		*(char **)it->var = copy;
		return 0;
	}
	case CFG_BOOL:
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
		    !strcmp(value, "1"))
			*(int *)it->var = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
			 !strcmp(value, "0"))
			*(int *)it->var = 0;
		else {
			snprintf(err, errsz, "%s: expected yes or no", it->name);
			return -1;
		}
		return 0;
	case CFG_INT:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end) {
			snprintf(err, errsz, "%s: not a number: %s", it->name, value);
			return -1;
		}
		if (v < it->min || v > it->max) {
			snprintf(err, errsz, "%s: %ld is outside %ld..%ld", it->name,
				 v, it->min, it->max);
			return -1;
		}
		*(long *)it->var = v;
		return 0;
	}
	return -1;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct cfg_item *cfg_find(const struct cfg_item *tab, size_t n,
				       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i].name, name))
			return &tab[i];
	return NULL;
}

/* "value   # why": a '#' that starts a word starts a comment, so the
 * text never becomes part of the value (a greeting with it, a path that
 * does not exist); a '#' inside a word stays. */
static void cfg_cut_comment(char *val)
{
	for (char *p = strchr(val, '#'); p; p = strchr(p + 1, '#'))
		if (p == val || isspace((unsigned char)p[-1])) {
			*p = '\0';
			trim(val);
			return;
		}
}

static int cfg_line(const char *path, int lineno, char *line,
		    const struct cfg_item *tab, size_t n, char *err, size_t errsz)
{
	char *eq, *key, *val, sub[512];
	const struct cfg_item *it;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errsz, "%s:%d: expected key = value", path, lineno);
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	cfg_cut_comment(val);
	it = cfg_find(tab, n, key);
	if (!it) {
		snprintf(err, errsz, "%s:%d: unknown setting '%s'", path, lineno,
			 key);
		return -1;
	}
	if (cfg_set(it, val, sub, sizeof sub) < 0) {
		snprintf(err, errsz, "%s:%d: %s", path, lineno, sub);
		return -1;
	}
	return 0;
}

int cfg_load(const char *path, const struct cfg_item *tab, size_t n,
	     int missing_ok, char *err, size_t errsz)
{
	char line[4096], sub[512];
	int lineno = 0, rc = 0;
	FILE *f;

	for (size_t i = 0; i < n; i++)
		if (cfg_set(&tab[i], tab[i].def, err, errsz) < 0)
			return -1;
	f = fopen(path, "r");
	if (!f) {
		if (missing_ok && errno == ENOENT)
			return 0;
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* past a bad line: the first error is the answer, but the lines
	 * after it still count (relayctl stop finds run_dir behind a typo) */
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			if (rc == 0)
				snprintf(err, errsz, "%s:%d: line too long", path,
					 lineno);
			rc = -1;
			break;
		}
		if (cfg_line(path, lineno, line, tab, n, rc ? sub : err,
			     rc ? sizeof sub : errsz) < 0)
			rc = -1;
	}
	fclose(f);
	return rc;
}
