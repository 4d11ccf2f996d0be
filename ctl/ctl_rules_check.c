/* ctl_rules_check.c: what `relayctl rules rollback N` looks at before it
 * puts version N back.  A rollback skips makecdb, so makecdb's checks of
 * the whole set are run here on N's relay.rules: a DKIM key retired since
 * N would otherwise make relay-queue answer 451 to every message of that
 * customer.  A version without relay.rules (adopted) cannot be put back
 * whole: the next makecdb would undo it.  And users.cdb comes back with
 * N: the users and password hashes it brings back or removes are named,
 * since a password changed because it leaked comes back silently else. */
#include "ctl.h"
#include "ctl_rules.h"
#include "../conf/makecdb.h"
#include "settings.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The errors makecdb's checks find in version n's relay.rules now (the
 * key files as they are today), printed; their number. */
static int set_errors(const char *rules)
{
	char *out = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *diag = open_memstream(&out, &len);
	struct mk m;
	int errors;

	mk_init(&m, rules);
	m.dir = cf.dir;
	m.diag = diag;
	if (!diag)
		m.quiet = 1;
	if (mk_parse_file(&m, rules) == 0)
		mk_check(&m);
	errors = m.errors;
	mk_free(&m);
	if (diag)
		fclose(diag);
	for (line = out ? strtok_r(out, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, ": error: ")) {
			ctl_term_puts(stderr, line);
			fputc('\n', stderr);
		}
	free(out);
	return errors;
}

int ctl_rules_check(const struct rulehist *h, int n, int force)
{
	char rules[PATH_MAX];
	int errors;

	if (access(rulehist_file(h, n, "relay.rules", rules), F_OK) < 0) {
		fprintf(stderr, "relayctl rules: version %d has no relay.rules "
			"(a set adopted as it was found): its CDBs can be put "
			"back, relay.rules not, and the next makecdb would "
			"compile the relay.rules in place and undo the "
			"rollback.  %s\n", n, force ? "Going on (--force): "
			"relay.rules is NOT restored; edit it to match before "
			"the next makecdb." : "Refused; --force does it "
			"anyway.");
		return force ? 0 : -1;
	}
	if ((errors = set_errors(rules)) == 0)
		return 0;
	fprintf(stderr, "relayctl rules: version %d fails makecdb's checks "
		"today (%d error%s above, e.g. a DKIM key retired since): put "
		"back, it could make relay-queue defer mail (451).  %s\n", n,
		errors, errors == 1 ? "" : "s", force ? "Going on (--force)." :
		"Refused; fix the cause, or --force does it anyway.");
	return force ? 0 : -1;
}

/* The users of a users.cdb, "ADDRESS\tHASH" (hash= of its value). */
struct users {
	char **v;
	size_t n;
};

static int user_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *user_line(struct cdb *c)
{
	unsigned kl = cdb_keylen(c), dl = cdb_datalen(c);
	char *key = malloc(kl + 1), *val = malloc(dl + 1), *line = NULL;
	const char *hash, *end;

	if (key && val && cdb_read(c, key, kl, cdb_keypos(c)) == 0 &&
	    cdb_read(c, val, dl, cdb_datapos(c)) == 0) {
		key[kl] = val[dl] = '\0';
		hash = strstr(val, "hash=") == val ? val + 5 :
		       strstr(val, "\nhash=") ? strstr(val, "\nhash=") + 6 : "";
		end = hash + strcspn(hash, "\n");
		if (!strncmp(key, "user:", 5) && !strchr(key, '\t') &&
		    (line = malloc(kl + (size_t)(end - hash) + 2)))
			sprintf(line, "%s\t%.*s", key + 5, (int)(end - hash),
				hash);
	}
	free(key);
	free(val);
	return line;
}

static void users_load(const char *path, struct users *u)
{
	struct cdb c;
	unsigned pos;
	char *line, **v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	u->v = NULL;
	u->n = 0;
	if (fd < 0 || cdb_init(&c, fd) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	cdb_seqinit(&pos, &c);
	while (cdb_seqnext(&pos, &c) > 0)
		if ((line = user_line(&c)) &&
		    (v = realloc(u->v, (u->n + 1) * sizeof *v))) {
			u->v = v;
			u->v[u->n++] = line;
		} else
			free(line);
	cdb_free(&c);
	close(fd);
	qsort(u->v, u->n, sizeof *u->v, user_cmp);
}

static void users_free(struct users *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->v[i]);
	free(u->v);
}

/* Compare user names of two "ADDRESS\tHASH" lines. */
static int name_cmp(const char *a, const char *b)
{
	size_t la = strcspn(a, "\t"), lb = strcspn(b, "\t");
	int c = strncmp(a, b, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static void say_user(int n, const char *what, const char *line)
{
	char name[512];

	snprintf(name, sizeof name, "%.*s", (int)strcspn(line, "\t"), line);
	printf("rollback to %d %s ", n, what);
	ctl_term_puts(stdout, name);
	putchar('\n');
}

void ctl_rules_users(const struct rulehist *h, int n)
{
	char path[PATH_MAX];
	struct users now, then;
	size_t i = 0, j = 0;

	users_load(cf.users_cdb, &now);
	users_load(rulehist_file(h, n, "users.cdb", path), &then);
	while (i < now.n || j < then.n) {
		int c = i == now.n ? 1 : j == then.n ? -1 :
			name_cmp(now.v[i], then.v[j]);
		if (c < 0)
			say_user(n, "removes user", now.v[i++]);
		else if (c > 0)
			say_user(n, "brings back user", then.v[j++]);
		else {
			if (strcmp(now.v[i], then.v[j]))
				say_user(n, "puts back another password "
					 "hash of user", then.v[j]);
			i++, j++;
		}
	}
	users_free(&now);
	users_free(&then);
}
