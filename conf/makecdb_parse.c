/* makecdb_parse.c: one handler per relay.rules statement, dispatched
 * through a table; options are "key=value" words checked against a table
 * per statement.  Names are lowercased; every refusal names the column. */
#include "makecdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "archive.h"
#include "hostport.h"
#include "idna.h"
#include "pwhash.h"
#include "rulekeys.h"

static const char *const yesno[] = { "no", "yes", NULL };
static const char *const senders_enum[] = { "registered", "domain", "any",
					    NULL };
static const char *const auth_enum[] = { "", "ip", "smtp", "both", NULL };
static const char *const tls_enum[] = { "may", "encrypt", "verify", NULL };
enum { ROUTE_TLS_MAY, ROUTE_TLS_ENCRYPT, ROUTE_TLS_VERIFY }; /* its indexes */
static const char *const auth_tls_enum[] = { "verify", "unverified", NULL };
const char *const mk_scan_enum[] = { "", "off", "score", "reject", NULL };

/* admin=: a mailbox (abuse alerts are mailed there); 0 or -1 reported */
static int mk_admin_ok(struct mk *m, struct mk_line *l, char *admin)
{
	if (!admin || addr_mailbox_check(admin, 0) == ADDR_OK) {
		if (admin)
			addr_lower(admin);
		return 0;
	}
	mk_error(m, l->lineno, l->tok[1].col, "admin=%s: not a mailbox", admin);
	return -1;
}

static int opt_value(const char *v, const struct mk_opt *o)
{
	char *end;
	const char *const *e = o->kind == OPT_BOOL ? yesno : o->enums;

	switch (o->kind) {
	case OPT_NUM:
		errno = 0;
		*(long *)o->var = strtol(v, &end, 10);
		if (!*v || *end || errno || *(long *)o->var < 0)
			break;
		return 0;
	case OPT_STR:
		*(char **)o->var = (char *)v;
		return 0;
	case OPT_BOOL:
	case OPT_ENUM:
		for (int i = 0; e[i]; i++)
			if (*e[i] && !strcasecmp(v, e[i])) {
				*(int *)o->var = i;
				return 0;
			}
		break;
	}
	return -1;
}

int mk_opts(struct mk *m, struct mk_line *l, int first,
	    const struct mk_opt *o, int n)
{
	int seen[MK_TOKMAX] = { 0 };

	for (int i = first; i < l->n; i++) {
		struct mk_tok *t = &l->tok[i];
		char *eq = strchr(t->s, '=');
		int k;

		for (k = 0; eq && k < n; k++)
			if (strlen(o[k].name) == (size_t)(eq - t->s) &&
			    !strncmp(o[k].name, t->s, (size_t)(eq - t->s)))
				break;
		if (!eq || k == n) {
			mk_error(m, l->lineno, t->col, "unexpected \"%s\"%s",
				 t->s, eq ? " (unknown option)" : "");
			return -1;
		}
		if (seen[k]++) {
			mk_error(m, l->lineno, t->col, "%s given twice",
				 o[k].name);
			return -1;
		}
		if (opt_value(eq + 1, &o[k]) < 0) {
			mk_error(m, l->lineno, (int)(eq - t->s) + t->col + 1,
				 "bad value \"%s\" for %s%s", eq + 1, o[k].name,
				 o[k].kind == OPT_NUM ? " (a number >= 0)" : "");
			return -1;
		}
	}
	for (int k = 0; k < n; k++)
		if (o[k].required && !seen[k]) {
			mk_error(m, l->lineno, l->tok[0].col,
				 "%s= is required here", o[k].name);
			return -1;
		}
	return 0;
}

/* Customer and rule names: [a-z0-9._-], lowercased in place. */
static int name_ok(struct mk *m, struct mk_line *l, int i, const char *what)
{
	char *s = l->tok[i].s;
	size_t n = strlen(s);

	addr_lower(s);
	if (n == 0 || n >= MK_NAMEMAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
		mk_error(m, l->lineno, l->tok[i].col,
			 "bad %s name \"%s\" (letters, digits, . _ -; at most %d)",
			 what, s, MK_NAMEMAX - 1);
		return 0;
	}
	return 1;
}

int mk_want_words(struct mk *m, struct mk_line *l, int n,
		  const char *usage)
{
	if (l->n < n || strchr(l->tok[n - 1].s, '=')) {
		mk_error(m, l->lineno, l->tok[0].col, "usage: %s", usage);
		return 0;
	}
	return 1;
}

static int find_cust(struct mk *m, struct mk_line *l, int i, const char *s)
{
	int c = mk_map_get(&m->custmap, s);
	if (c < 0)
		mk_error(m, l->lineno, l->tok[i].col,
			 "unknown customer \"%s\" (declare it first with "
			 "\"customer %s\")", s, s);
	return c;
}

/* The column of the option word "name=..." of l (1 when absent). */
static int opt_col(const struct mk_line *l, const char *name)
{
	size_t n = strlen(name);

	for (int i = 1; i < l->n; i++)
		if (!strncmp(l->tok[i].s, name, n) && l->tok[i].s[n] == '=')
			return l->tok[i].col;
	return l->tok[0].col;
}

/* archive= and archive_keep= of a customer (lib/archive.h); 0 when
 * refused (reported). */
static int archive_ok(struct mk *m, struct mk_line *l, char *target,
		      long keep)
{
	int maildir = target && !strcmp(target, ARCHIVE_MAILDIR);

	if (target && archive_target_kind(target) < 0) {
		mk_error(m, l->lineno, opt_col(l, ARCHIVE_RK_TARGET),
			 "bad archive=%s (an address, or \"%s\" for the "
			 "customer's folder)", target, ARCHIVE_MAILDIR);
		return 0;
	}
	if (maildir && l->tok[1].s[0] == '.') {
		mk_error(m, l->lineno, l->tok[1].col,
			 "customer %s: a name starting with a dot cannot "
			 "have archive=%s (it names its folder)", l->tok[1].s,
			 ARCHIVE_MAILDIR);
		return 0;
	}
	if (keep >= 0 && !maildir) {
		mk_error(m, l->lineno, opt_col(l, ARCHIVE_RK_KEEP),
			 "archive_keep= needs archive=%s (an address keeps "
			 "what its own server keeps)", ARCHIVE_MAILDIR);
		return 0;
	}
	if (keep > ARCHIVE_KEEP_MAX) {
		mk_error(m, l->lineno, opt_col(l, ARCHIVE_RK_KEEP),
			 "archive_keep=%ld is over %d days (0 keeps for ever)",
			 keep, ARCHIVE_KEEP_MAX);
		return 0;
	}
	return 1;
}

static void st_customer(struct mk *m, struct mk_line *l)
{
	long lic = 1, daily = -1, peak = -1, um = -1, ur = -1, keep = -1, conc = 0;
	long score = -1;
	int paid = 1, susp = 0, prev, scan = MK_SCAN_CONF;
	char *archive = NULL, *admin = NULL;
	const struct mk_opt o[] = {
		{ "licenses", OPT_NUM, NULL, &lic, 0 },
		{ "paid", OPT_BOOL, NULL, &paid, 0 },
		{ "suspended", OPT_BOOL, NULL, &susp, 0 },
		{ "daily", OPT_NUM, NULL, &daily, 0 },
		{ "peak", OPT_NUM, NULL, &peak, 0 },
		{ "user_messages", OPT_NUM, NULL, &um, 0 },
		{ "user_rcpts", OPT_NUM, NULL, &ur, 0 },
		{ ARCHIVE_RK_TARGET, OPT_STR, NULL, &archive, 0 },
		{ ARCHIVE_RK_KEEP, OPT_NUM, NULL, &keep, 0 },
		{ RK_CUST_CONCURRENCY, OPT_NUM, NULL, &conc, 0 },
		{ "scan", OPT_ENUM, mk_scan_enum, &scan, 0 },
		{ "scan_score", OPT_NUM, NULL, &score, 0 },
		{ "admin", OPT_STR, NULL, &admin, 0 },
	};

	if (!mk_want_words(m, l, 2, "customer NAME [licenses=N] [paid=yes|no] ...") ||
	    !name_ok(m, l, 1, "customer") || mk_opts(m, l, 2, o, 13) < 0 ||
	    mk_admin_ok(m, l, admin) < 0)
		return;
	if (archive)
		addr_lower(archive); /* as every address in the rules */
	if (!archive_ok(m, l, archive, keep))
		return;
	mk_warn_zero_limits(m, l);
	if ((prev = mk_map_get(&m->custmap, l->tok[1].s)) >= 0) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "customer \"%s\" already declared at line %d",
			 l->tok[1].s, m->cust[prev].line);
		return;
	}
	struct mk_cust *c = MK_PUSH(m, cust);
	*c = (struct mk_cust){ mk_strdup(l->tok[1].s), lic, daily, peak, um,
			       ur, paid, susp, l->lineno, 0, 0,
			       archive ? mk_strdup(archive) : NULL, keep, conc,
			       scan, score, admin ? mk_strdup(admin) : NULL, 0 };
	mk_map_put(&m->custmap, c->name, (int)m->n_cust - 1);
}

/* A domain word: lowercase, no trailing dot, a valid hostname. */
int mk_domain_ok(struct mk *m, struct mk_line *l, int i, int dot_ok)
{
	char *d = l->tok[i].s;
	size_t n = strlen(d);

	addr_lower(d);
	if (n && d[n - 1] == '.') {
		mk_error(m, l->lineno, l->tok[i].col + (int)n - 1,
			 "trailing dot in domain \"%s\" (write it without)", d);
		return 0;
	}
	if (!addr_domain_valid(dot_ok && d[0] == '.' ? d + 1 : d, 0)) {
		mk_error(m, l->lineno, l->tok[i].col, "bad domain \"%s\"", d);
		return 0;
	}
	return 1;
}

/* A customer's domain word in ASCII: relay-policy matches senders and
 * HELO names against it as written and relay-queue looks DKIM keys up
 * by the A-label, so a U-label would match one and not the other; the
 * error names the form to write. */
int mk_domain_ascii(struct mk *m, struct mk_line *l, int i)
{
	const char *d = l->tok[i].s, *p = d, *why = "";
	char a[ADDR_DOMAIN_MAX + 1];

	while (*p && (unsigned char)*p < 0x80)
		p++;
	if (!*p)
		return 1;
	if (idna_alabel(d, a, sizeof a, &why) != IDNA_OK)
		mk_error(m, l->lineno, l->tok[i].col,
			 "domain \"%s\" has no A-label (IDNA: %s)", d, why);
	else
		mk_error(m, l->lineno, l->tok[i].col, "domain \"%s\": write "
			 "its A-label %s (an internationalised domain is "
			 "declared in ASCII)", d, a);
	return 0;
}

static void st_domain(struct mk *m, struct mk_line *l)
{
	char *cust = NULL;
	int c, prev;
	const struct mk_opt o[] = { { "customer", OPT_STR, NULL, &cust, 1 } };

	if (!mk_want_words(m, l, 2, "domain DOMAIN customer=NAME") ||
	    !mk_domain_ok(m, l, 1, 0) || !mk_domain_ascii(m, l, 1) ||
	    mk_opts(m, l, 2, o, 1) < 0)
		return;
	addr_lower(cust);
	if ((c = find_cust(m, l, 2, cust)) < 0)
		return;
	if ((prev = mk_map_get(&m->dommap, l->tok[1].s)) >= 0) {
		struct mk_dom *d = &m->dom[prev];
		if (d->cust != c)
			mk_error(m, l->lineno, l->tok[1].col,
				 "domain %s already belongs to customer %s "
				 "(line %d); a domain has exactly one customer",
				 d->name, m->cust[d->cust].name, d->line);
		else
			mk_warn(m, l->lineno, l->tok[1].col,
				"domain %s claimed twice (also line %d)",
				d->name, d->line);
		return;
	}
	struct mk_dom *d = MK_PUSH(m, dom);
	*d = (struct mk_dom){ mk_strdup(l->tok[1].s), c, l->lineno };
	if (!m->cust[c].ndomains++)
		m->cust[c].first_dom = (int)(m->n_dom - 1);
	mk_map_put(&m->dommap, d->name, (int)m->n_dom - 1);
}

/* Registered addresses: plain dot-atoms only, never %, !, quotes. */
static int user_addr_ok(struct mk *m, struct mk_line *l)
{
	char *a = l->tok[1].s, *at = strrchr(a, '@');
	size_t ln = at ? (size_t)(at - a) : 0;

	addr_lower(a);
	if (!at || addr_mailbox_check(a, 0) != ADDR_OK ||
	    strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789.-_+=&'*/?^`{|}~#$") < ln ||
	    a[0] == '.' || a[ln - 1] == '.' || !addr_domain_valid(at + 1, 0)) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "bad user address \"%s\" (local@domain, no %%, !, "
			 "quotes or trailing dot)", a);
		return 0;
	}
	return 1;
}

static void st_user(struct mk *m, struct mk_line *l)
{
	char *hash = NULL, *cust = NULL;
	long um = -1, ur = -1;
	int susp = 0, prev;
	const struct mk_opt o[] = {
		{ "hash", OPT_STR, NULL, &hash, 1 },
		{ "customer", OPT_STR, NULL, &cust, 0 },
		{ "suspended", OPT_BOOL, NULL, &susp, 0 },
		{ "user_messages", OPT_NUM, NULL, &um, 0 },
		{ "user_rcpts", OPT_NUM, NULL, &ur, 0 },
	};

	if (!mk_want_words(m, l, 2, "user ADDRESS hash=HASH [customer=NAME]") ||
	    !user_addr_ok(m, l) || mk_opts(m, l, 2, o, 5) < 0)
		return;
	mk_warn_zero_limits(m, l);
	if (!pwhash_valid(hash)) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "hash for %s must be a yescrypt ($y$) or SHA-512 ($6$) "
			 "crypt hash; make one with \"makecdb --hash\"",
			 l->tok[1].s);
		return;
	}
	if ((prev = mk_map_get(&m->usermap, l->tok[1].s)) >= 0) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "user %s already declared at line %d", l->tok[1].s,
			 m->user[prev].line);
		return;
	}
	if (cust)
		addr_lower(cust);
	struct mk_user *u = MK_PUSH(m, user);
	*u = (struct mk_user){ mk_strdup(l->tok[1].s), mk_strdup(hash),
			       cust ? mk_strdup(cust) : NULL, -1, susp,
			       l->lineno, l->tok[1].col, um, ur };
	mk_map_put(&m->usermap, u->addr, (int)m->n_user - 1);
}

static void st_rule(struct mk *m, struct mk_line *l)
{
	int senders = -1, auth = 0, tls = 0, enabled = 1, c;
	char key[2 * MK_NAMEMAX + 2];
	const struct mk_opt o[] = {
		{ "senders", OPT_ENUM, senders_enum, &senders, 1 },
		{ "auth", OPT_ENUM, auth_enum, &auth, 1 },
		{ "tls", OPT_BOOL, NULL, &tls, 0 },
		{ "enabled", OPT_BOOL, NULL, &enabled, 0 },
	};

	if (!mk_want_words(m, l, 3, "rule CUSTOMER NAME senders=registered|domain|any "
				 "auth=ip|smtp|both [tls=yes|no] [enabled=yes|no]") ||
	    !name_ok(m, l, 1, "customer") || !name_ok(m, l, 2, "rule") ||
	    (c = find_cust(m, l, 1, l->tok[1].s)) < 0 || mk_opts(m, l, 3, o, 4) < 0)
		return;
	snprintf(key, sizeof key, "%s:%s", l->tok[1].s, l->tok[2].s);
	if (mk_map_get(&m->rulemap, key) >= 0) {
		mk_error(m, l->lineno, l->tok[2].col,
			 "rule %s of customer %s already declared", l->tok[2].s,
			 l->tok[1].s);
		return;
	}
	if (senders == MK_SENDERS_ANY)
		mk_warn(m, l->lineno, l->tok[3].col,
			"rule %s/%s: senders=any relays for any sender address "
			"(not recommended)", l->tok[1].s, l->tok[2].s);
	if ((auth & MK_AUTH_SMTP) && !tls)
		tls = 1; /* SMTP AUTH only inside TLS */
	struct mk_rule *r = MK_PUSH(m, rule);
	*r = (struct mk_rule){ mk_strdup(l->tok[2].s), c, senders, auth, tls,
			       enabled, l->lineno, 0 };
	m->cust[c].nrules++;
	mk_map_put(&m->rulemap, key, (int)m->n_rule - 1);
}

/* The widest ranges a rule may hold: an IPv4 /16 (65,536 addresses, a
 * large site), an IPv6 /64 (one LAN segment: SLAAC hosts pick any
 * address in it, so nothing narrower names a LAN; a wider prefix spans
 * sites, and a /48 typed for a /64 would open the relay to a whole
 * organisation).  An IPv6 range may not reach into the IPv4-mapped
 * space (::/64 holds ::ffff:0:0/96, every IPv4 address). */
#define MK_IP4_BITS_MIN 16
#define MK_IP6_BITS_MIN 64

/* 1 (after the error) when c is wider than allowed. */
static int range_too_wide(struct mk *m, struct mk_line *l,
			  const struct cidr *c)
{
	int v4 = ipaddr_is_v4(&c->net) && c->bits >= 96;

	if (v4 ? c->bits - 96 >= MK_IP4_BITS_MIN
	       : c->bits >= MK_IP6_BITS_MIN && !cidr_spans_v4mapped(c))
		return 0;
	mk_error(m, l->lineno, l->tok[3].col,
		 "range %s holds 2^%d addresses%s; at most an IPv4 /%d or an "
		 "IPv6 /%d (one LAN) is allowed", l->tok[3].s,
		 cidr_size_log2(c), v4 || c->bits < MK_IP6_BITS_MIN ? ""
		 : " including IPv4-mapped ones", MK_IP4_BITS_MIN,
		 MK_IP6_BITS_MIN);
	return 1;
}

static void st_ip(struct mk *m, struct mk_line *l)
{
	char key[2 * MK_NAMEMAX + 2];
	struct cidr c;
	int r, enabled = 1, n = l->n;

	if (n == 5 && !strcmp(l->tok[4].s, "disabled")) {
		enabled = 0;
		n = 4;
	}
	const struct mk_opt o[] = { { "enabled", OPT_BOOL, NULL, &enabled, 0 } };
	if (!mk_want_words(m, l, 4, "ip CUSTOMER RULE ADDRESS[/BITS] [disabled]"))
		return;
	addr_lower(l->tok[1].s);
	addr_lower(l->tok[2].s);
	snprintf(key, sizeof key, "%s:%s", l->tok[1].s, l->tok[2].s);
	if ((r = mk_map_get(&m->rulemap, key)) < 0) {
		mk_error(m, l->lineno, l->tok[2].col,
			 "unknown rule %s of customer %s (declare the rule first)",
			 l->tok[2].s, l->tok[1].s);
		return;
	}
	if (n == l->n && mk_opts(m, l, 4, o, 1) < 0)
		return;
	if (cidr_parse(l->tok[3].s, &c) < 0) {
		mk_error(m, l->lineno, l->tok[3].col,
			 "bad address or range \"%s\" (host bits set?)",
			 l->tok[3].s);
		return;
	}
	if (range_too_wide(m, l, &c))
		return;
	if (!enabled)
		return;
	struct mk_ip *ip = MK_PUSH(m, ip);
	*ip = (struct mk_ip){ c, r, l->lineno, l->tok[3].col };
	m->rule[r].nips++;
}

/* "mx", or a fixed host as lib/hostport.h reads it (port 25 when none). */
static int route_dest(struct mk *m, struct mk_line *l, int i, char *host,
		      size_t hn, long *port)
{
	*port = 0;
	if (!strcasecmp(l->tok[i].s, "mx")) {
		*host = '\0';
		return 0;
	}
	if (hostport_parse(l->tok[i].s, host, hn, port) < 0) {
		mk_error(m, l->lineno, l->tok[i].col,
			 "bad destination \"%s\" (mx, [host]:port or host:port)",
			 l->tok[i].s);
		return -1;
	}
	addr_lower(host);
	return 0;
}

/* auth= names a file under secrets/; auth_tls=unverified is allowed
 * only with it, and said out loud: the password then goes to whoever
 * answers with any certificate.  0, or -1 after an error. */
static int route_auth(struct mk *m, struct mk_line *l, const char *auth,
		      int auth_tls, int tls)
{
	if (strspn(auth, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(auth) ||
	    *auth == '.') {
		mk_error(m, l->lineno, l->tok[0].col,
			 "auth= names a file under secrets/ (letters, digits, . _ -)");
		return -1;
	}
	if (auth_tls && !*auth) {
		mk_error(m, l->lineno, l->tok[0].col,
			 "auth_tls= without auth=: there are no credentials to send");
		return -1;
	}
	if (auth_tls && tls != ROUTE_TLS_VERIFY)
		mk_warn(m, l->lineno, l->tok[0].col,
			"auth_tls=unverified: the credentials auth=%s go to any "
			"server that answers with any certificate (a "
			"man in the middle gets the password)", auth);
	return 0;
}

/* Credentials are for one upstream the operator names: with mx the
 * next hop is whatever host each recipient's domain publishes, and a
 * certificate that verifies for a name its owner chose proves nothing
 * about who should get the password.  -1 after an error. */
static int route_auth_host(struct mk *m, struct mk_line *l, int dest,
			   const char *host, const char *auth)
{
	if (!*auth || *host)
		return 0;
	mk_error(m, l->lineno, l->tok[dest].col,
		 "auth=%s needs a fixed host (relayhost or [host]:port): with "
		 "mx the credentials would go to every recipient domain's MX",
		 auth);
	return -1;
}

/* tls_wrap=yes is implicit TLS (RFC 8314 3): the handshake comes before
 * the greeting, so there is nothing to fall back to, and no MX speaks
 * it on port 25.  tls= then defaults to verify (*tls -1: not given), a
 * DEST without a port means RK_ROUTE_WRAP_PORT, and tls=may (plain text
 * when TLS fails) or mx is an error.  -1 after an error. */
static int route_wrap(struct mk *m, struct mk_line *l, int dest, int wrap,
		      int *tls, const char *host, long *port)
{
	if (!wrap) {
		if (*tls < 0)
			*tls = ROUTE_TLS_MAY;
		if (*host && !*port)
			*port = 25;
		return 0;
	}
	if (!*host) {
		mk_error(m, l->lineno, l->tok[dest].col,
			 "tls_wrap=yes needs a fixed host ([host]:465): MX "
			 "hosts take plain SMTP and STARTTLS on port 25");
		return -1;
	}
	if (*tls == ROUTE_TLS_MAY) {
		mk_error(m, l->lineno, opt_col(l, RK_ROUTE_TLS),
			 "tls_wrap=yes with tls=may: implicit TLS never falls "
			 "back to plain text (tls=encrypt, or tls=verify, the "
			 "default with tls_wrap)");
		return -1;
	}
	if (*tls < 0)
		*tls = ROUTE_TLS_VERIFY;
	if (!*port)
		*port = RK_ROUTE_WRAP_PORT;
	return 0;
}

/* The route's DOMAIN word (".parent" too) as the A-label relay-send
 * looks up (an internationalised recipient's domain matches the route
 * whichever form either was written in); -1 after an error. */
static int route_alabel(struct mk *m, struct mk_line *l, char *out, size_t n)
{
	const char *d = l->tok[2].s, *why;
	int dot = d[0] == '.';

	if (n < 2 || idna_alabel(d + dot, out + dot, n - 1, &why) != IDNA_OK) {
		mk_error(m, l->lineno, l->tok[2].col,
			 "domain \"%s\" has no A-label (IDNA: %s)", d, why);
		return -1;
	}
	if (dot)
		out[0] = '.';
	return 0;
}

/* The value of a route key (lib/rulekeys.h says its lines). */
static void route_value(char *val, size_t n, const char *host, long port,
			int tls, const char *auth, int auth_tls, int wrap)
{
	size_t o;

	/* MX (no host): port empty, relay-send uses smtp_port */
	if (*host)
		snprintf(val, n, RK_ROUTE_HOST "=%s\n" RK_ROUTE_PORT "=%ld\n",
			 host, port);
	else
		snprintf(val, n, RK_ROUTE_HOST "=\n" RK_ROUTE_PORT "=\n");
	o = strlen(val);
	snprintf(val + o, n - o,
		 RK_ROUTE_TLS "=%s\n" RK_ROUTE_AUTH "=%s\n" RK_ROUTE_AUTH_TLS
		 "=%s\n%s", tls_enum[tls], auth, auth_tls_enum[auth_tls],
		 wrap ? RK_ROUTE_TLS_WRAP "=yes\n" : "");
}

static void st_route(struct mk *m, struct mk_line *l)
{
	char host[256], key[300], val[600], dom_a[ADDR_DOMAIN_MAX + 2];
	char *auth = "";
	int tls = -1, auth_tls = 0, wrap = 0, dom = 1, prev;
	long port;
	const char *kind = l->n > 1 ? l->tok[1].s : "";
	const struct mk_opt o[] = {
		{ RK_ROUTE_TLS, OPT_ENUM, tls_enum, &tls, 0 },
		{ RK_ROUTE_AUTH, OPT_STR, NULL, &auth, 0 },
		{ RK_ROUTE_AUTH_TLS, OPT_ENUM, auth_tls_enum, &auth_tls, 0 },
		{ RK_ROUTE_TLS_WRAP, OPT_BOOL, NULL, &wrap, 0 },
	};

	if (!strcmp(kind, "default"))
		dom = 0;
	else if (strcmp(kind, "rcpt") && strcmp(kind, "sender")) {
		mk_error(m, l->lineno, l->n > 1 ? l->tok[1].col : 1,
			 "usage: route rcpt|sender DOMAIN DEST, or route default DEST");
		return;
	}
	if (!mk_want_words(m, l, 3 + dom, "route rcpt|sender DOMAIN DEST [tls=may|encrypt|verify] [tls_wrap=yes] [auth=NAME [auth_tls=unverified]]") ||
	    (dom && (!mk_domain_ok(m, l, 2, 1) ||
		     route_alabel(m, l, dom_a, sizeof dom_a) < 0)) ||
	    route_dest(m, l, 2 + dom, host, sizeof host, &port) < 0 ||
	    mk_opts(m, l, 3 + dom, o, 4) < 0 ||
	    route_wrap(m, l, 2 + dom, wrap, &tls, host, &port) < 0 ||
	    route_auth(m, l, auth, auth_tls, tls) < 0 ||
	    route_auth_host(m, l, 2 + dom, host, auth) < 0)
		return;
	snprintf(key, sizeof key, dom ? "route:%s:%s" : "route:default", kind,
		 dom ? dom_a : "");
	if ((prev = mk_map_get(&m->routemap, key)) >= 0) {
		mk_error(m, l->lineno, l->tok[1].col,
			 "route already given at line %d", m->route[prev].line);
		return;
	}
	route_value(val, sizeof val, host, port, tls, auth, auth_tls, wrap);
	struct mk_route *r = MK_PUSH(m, route);
	*r = (struct mk_route){ mk_strdup(key), mk_strdup(val), l->lineno };
	mk_map_put(&m->routemap, key, (int)m->n_route - 1);
}

static const struct {
	const char *name;
	void (*fn)(struct mk *, struct mk_line *);
} statements[] = {
	{ "customer", st_customer }, { "domain", st_domain },
	{ "user", st_user },         { "rule", st_rule },
	{ "ip", st_ip },             { "route", st_route },
	{ "dkim", mk_st_dkim },
};

void mk_parse_line(struct mk *m, struct mk_line *l)
{
	for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
		if (!strcmp(l->tok[0].s, statements[i].name)) {
			statements[i].fn(m, l);
			return;
		}
	mk_error(m, l->lineno, l->tok[0].col,
		 "unknown statement \"%s\" (customer, domain, user, rule, ip, "
		 "route, dkim)", l->tok[0].s);
}
