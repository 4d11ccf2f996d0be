/* makecdb_dkim.c: the "dkim" statement (a signing key of a customer's
 * domain) and its rules.cdb keys.  Each key file is checked here, when
 * the operator compiles the rules, so that relay-queue never finds out at
 * the first message that a key is missing, of the wrong kind or readable
 * by another uid.  lib/dkimkey.h is the contract with the signer. */
#include "makecdb.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dkimkey.h"
#include "rulekeys.h"
#include "settings.h"

static const char *const alg_enum[] = { "rsa", "ed25519", NULL };

/* A selector is a DNS name: LDH labels separated by dots. */
static int selector_ok(struct mk *m, struct mk_line *l)
{
	char *s = l->tok[2].s;
	int ok;

	addr_lower(s);
	ok = dkimkey_selector_valid(s);
	if (!ok)
		mk_error(m, l->lineno, l->tok[2].col,
			 "bad selector \"%s\" (letters, digits, - and dots; at "
			 "most %d)", s, DKIMKEY_SELECTOR_MAX);
	return ok;
}

/* key= as given (relative to the instance directory), or the default. */
static char *key_path(struct mk *m, const char *key, const char *domain,
		      const char *selector)
{
	char buf[PATH_MAX];
	const char *dir = m->dir ? m->dir : ".";

	if (!key)
		dkimkey_default_path(buf, sizeof buf, dir, domain, selector);
	else if (key[0] == '/')
		snprintf(buf, sizeof buf, "%s", key);
	else
		snprintf(buf, sizeof buf, "%s/%s", dir, key);
	return mk_strdup(buf);
}

static int tok_col(struct mk_line *l, const char *prefix)
{
	for (int i = 3; i < l->n; i++)
		if (!strncmp(l->tok[i].s, prefix, strlen(prefix)))
			return l->tok[i].col + (int)strlen(prefix);
	return l->tok[0].col;
}

/* The key file: there, of its kind, readable by the signer alone. */
static void check_key(struct mk *m, struct mk_line *l, struct mk_dkim *k)
{
	char err[256];
	int bits, col = tok_col(l, "key=");
	uid_t owner;

	if (m->dkim_owner >= 0)
		owner = (uid_t)m->dkim_owner;
	else if (dkimkey_owner(cf.user_queue, &owner) < 0) {
		mk_error(m, l->lineno, l->tok[0].col, "no user %s to own DKIM "
			 "keys (run conf/mkusers.sh)", cf.user_queue);
		return;
	}
	if (dkimkey_check(k->key, k->alg, owner, &bits, err, sizeof err) < 0 ||
	    (m->dkim_owner < 0 && /* the signer's own uid, not a test's */
	     dkimkey_reachable(k->key, cf.user_queue, cf.group_queue, err,
			       sizeof err) < 0))
		mk_error(m, l->lineno, col, "key %s: %s", k->key, err);
	else if (cf.queue_lifetime > 0 && k->expire > 0 &&
		 k->expire < cf.queue_lifetime)
		mk_warn(m, l->lineno, tok_col(l, "expire="),
			"expire=%ld is shorter than queue_lifetime (%ld): a "
			"message delivered late arrives with an expired "
			"signature", k->expire, cf.queue_lifetime);
}

static int domain_sigs(struct mk *m, int dom)
{
	int n = 0;
	for (size_t i = 0; i < m->n_dkim; i++)
		n += m->dkim[i].dom == dom && m->dkim[i].enabled;
	return n;
}

void mk_st_dkim(struct mk *m, struct mk_line *l)
{
	char *key = NULL, id[600];
	int alg = DKIMKEY_RSA, sub = 0, enabled = 1, d, prev;
	long expire = 0;
	const struct mk_opt o[] = {
		{ "alg", OPT_ENUM, alg_enum, &alg, 0 },
		{ "key", OPT_STR, NULL, &key, 0 },
		{ "subdomains", OPT_BOOL, NULL, &sub, 0 },
		{ "expire", OPT_NUM, NULL, &expire, 0 },
		{ "enabled", OPT_BOOL, NULL, &enabled, 0 },
	};

	if (!mk_want_words(m, l, 3, "dkim DOMAIN SELECTOR [alg=rsa|ed25519] "
				    "[key=PATH] [subdomains=yes|no] "
				    "[expire=SECONDS] [enabled=yes|no]") ||
	    !mk_domain_ok(m, l, 1, 0) || !mk_domain_ascii(m, l, 1) ||
	    !selector_ok(m, l) ||
	    mk_opts(m, l, 3, o, 5) < 0)
		return;
	if ((d = mk_map_get(&m->dommap, l->tok[1].s)) < 0) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "%s is not a domain of any customer (declare it first "
			 "with \"domain %s customer=NAME\")", l->tok[1].s,
			 l->tok[1].s);
		return;
	}
	if (enabled && domain_sigs(m, d) >= DKIMKEY_SIGS_MAX) {
		mk_error(m, l->lineno, l->tok[1].col, "%s has %d enabled "
			 "dkim lines already (at most %d signatures a message)",
			 l->tok[1].s, DKIMKEY_SIGS_MAX, DKIMKEY_SIGS_MAX);
		return;
	}
	snprintf(id, sizeof id, "%s %s", l->tok[1].s, l->tok[2].s);
	if ((prev = mk_map_get(&m->dkimmap, id)) >= 0) {
		mk_error(m, l->lineno, l->tok[2].col,
			 "selector %s of %s already declared at line %d",
			 l->tok[2].s, l->tok[1].s, m->dkim[prev].line);
		return;
	}
	char *path = key_path(m, key, l->tok[1].s, l->tok[2].s);
	if (strlen(path) >= DKIMKEY_PATH_MAX) {
		mk_error(m, l->lineno, tok_col(l, "key="), "key path %s is "
			 "longer than %d bytes", path, DKIMKEY_PATH_MAX - 1);
		free(path);
		return;
	}
	struct mk_dkim *k = MK_PUSH(m, dkim);
	*k = (struct mk_dkim){ mk_strdup(l->tok[1].s), mk_strdup(l->tok[2].s),
			       path, alg, sub, enabled, l->lineno, d, expire };
	mk_map_put(&m->dkimmap, id, (int)m->n_dkim - 1);
	if (enabled) /* a disabled line may name a key not made yet */
		check_key(m, l, k);
}

/* The value of dkim:<domain> (exact) or dkim:.<domain> (subdomains=yes
 * lines only): RSA signatures first, then Ed25519, each in line order,
 * so that a verifier that knows only RSA meets the one it can check. */
static int dkim_value(struct mk *m, const struct mk_dkim *first, int subs,
		      char *val, size_t n)
{
	size_t len;
	int count = 0;

	len = (size_t)snprintf(val, n, "customer=%s\ndomain=%s\n",
			       m->cust[m->dom[first->dom].cust].name,
			       first->domain);
	for (int alg = DKIMKEY_RSA; alg <= DKIMKEY_ED25519; alg++)
		for (size_t i = 0; i < m->n_dkim; i++) {
			const struct mk_dkim *k = &m->dkim[i];
			struct dkimkey_sig s = { alg, "", k->expire, "" };
			int w;
			if (k->alg != alg || !k->enabled || (subs && !k->subdomains) ||
			    strcmp(k->domain, first->domain) ||
			    count == DKIMKEY_SIGS_MAX)
				continue;
			snprintf(s.selector, sizeof s.selector, "%s", k->selector);
			snprintf(s.path, sizeof s.path, "%s", k->key);
			if (len >= n ||
			    (w = dkimkey_sig_format(val + len, n - len, &s)) < 0)
				return -1;
			len += (size_t)w;
			count++;
		}
	return count;
}

void mk_write_dkim(struct mk *m, void (*put)(void *, const char *,
					       const char *), void *out)
{
	char key[600], val[RK_VALMAX];

	for (size_t i = 0; i < m->n_dkim; i++) {
		const struct mk_dkim *k = &m->dkim[i];
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(m->dkim[j].domain, k->domain);
		if (seen) /* the domain's value is written at its first line */
			continue;
		for (int subs = 0; subs <= 1; subs++) {
			if (dkim_value(m, k, subs, val, sizeof val) <= 0)
				continue;
			snprintf(key, sizeof key, "%s%s%s", DKIMKEY_CDB_PREFIX,
				 subs ? "." : "", k->domain);
			put(out, key, val);
		}
	}
}
