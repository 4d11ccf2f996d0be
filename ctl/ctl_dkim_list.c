/* ctl_dkim_list.c: the DKIM keys of an instance, for relayctl dkim show
 * and check: the dkim lines of relay.rules as makecdb's own parser reads
 * them (its complaints are makecdb's to print: here they are silent),
 * then the key files in DIR/dkim/ that no line names (made by keygen,
 * not yet switched on). */
#include "ctl_dkim.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/makecdb.h"
#include "addr.h"
#include "dkimkey.h"
#include "settings.h"

int ctl_dkim_name_ok(const char *s, int selector)
{
	return selector ? dkimkey_selector_valid(s) : addr_domain_valid(s, 0);
}

struct ctl_dkim_acc {
	const char *domain;        /* only this one, or NULL */
	struct ctl_dkim_entry *e;
	size_t n, cap;
};

static struct ctl_dkim_entry *ctl_dkim_add(struct ctl_dkim_acc *a,
					   const char *domain,
					   const char *selector)
{
	struct ctl_dkim_entry *e;

	if (a->domain && strcasecmp(a->domain, domain) != 0)
		return NULL;
	for (size_t i = 0; i < a->n; i++)
		if (!strcasecmp(a->e[i].domain, domain) &&
		    !strcmp(a->e[i].selector, selector))
			return NULL; /* a key file the rules already name */
	e = mk_grow((void **)&a->e, &a->n, &a->cap, sizeof *a->e);
	snprintf(e->domain, sizeof e->domain, "%s", domain);
	snprintf(e->selector, sizeof e->selector, "%s", selector);
	for (char *p = e->domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	dkimkey_default_path(e->path, sizeof e->path, cf.dir, e->domain,
			     e->selector);
	e->enabled = 1;
	return e;
}

static int ctl_dkim_rules(struct ctl_dkim_acc *a)
{
	char path[PATH_MAX];
	struct mk m;

	snprintf(path, sizeof path, "%s/relay.rules", cf.dir);
	if (access(path, R_OK) < 0)
		return errno == ENOENT ? 0 : -1;
	mk_init(&m, path);
	m.quiet = 1;
	m.dir = cf.dir;
	m.dkim_owner = -1;
	mk_parse_file(&m, path);
	for (size_t i = 0; i < m.n_dkim; i++) {
		const struct mk_dkim *k = &m.dkim[i];
		struct ctl_dkim_entry *e = ctl_dkim_add(a, k->domain,
							 k->selector);
		if (!e)
			continue;
		e->in_rules = 1;
		e->line = k->line;
		e->enabled = k->enabled;
		snprintf(e->alg, sizeof e->alg, "%s", dkimkey_alg_name(k->alg));
		snprintf(e->path, sizeof e->path, "%s", k->key);
	}
	mk_free(&m);
	return 0;
}

/* DIR/dkim/DOMAIN.SELECTOR.key: the selector is the last label. */
static void ctl_dkim_files(struct ctl_dkim_acc *a)
{
	char path[PATH_MAX], name[300];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof path, "%s/%s", cf.dir, DKIMKEY_DIR);
	if (!(dir = opendir(path)))
		return;
	while ((d = readdir(dir))) {
		size_t n = strlen(d->d_name);
		char *dot;
		if (n < 5 || n >= sizeof name ||
		    strcmp(d->d_name + n - 4, ".key") != 0)
			continue;
		snprintf(name, sizeof name, "%.*s", (int)(n - 4), d->d_name);
		if (!(dot = strrchr(name, '.')))
			continue;
		*dot = '\0';
		if (ctl_dkim_name_ok(name, 0) && ctl_dkim_name_ok(dot + 1, 1))
			ctl_dkim_add(a, name, dot + 1);
	}
	closedir(dir);
}

static int ctl_dkim_cmp(const void *x, const void *y)
{
	const struct ctl_dkim_entry *a = x, *b = y;
	int c = strcmp(a->domain, b->domain);

	if (c)
		return c;
	if ((a->line == 0) != (b->line == 0)) /* rules first */
		return a->line == 0 ? 1 : -1;
	if (a->line != b->line) /* in the rules' order: the signing order */
		return a->line - b->line;
	return strcmp(a->selector, b->selector);
}

int ctl_dkim_list(const char *domain, struct ctl_dkim_entry **out, size_t *n)
{
	struct ctl_dkim_acc a = { domain, NULL, 0, 0 };

	if (ctl_dkim_rules(&a) < 0) {
		fprintf(stderr, "relayctl: dkim: %s/relay.rules: %s\n", cf.dir,
			strerror(errno));
		free(a.e);
		return -1;
	}
	ctl_dkim_files(&a);
	if (a.n > 1)
		qsort(a.e, a.n, sizeof *a.e, ctl_dkim_cmp);
	*out = a.e;
	*n = a.n;
	return 0;
}
