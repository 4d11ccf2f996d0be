/* makecdb_check.c: checks that need the whole file: users' customers,
 * customers and rules that can never match, and IP ranges of two
 * customers that overlap (found in O(n log n) by sorting, since CIDR
 * ranges are either nested or disjoint). */
#include "makecdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "legacy.h"
#include "rulekeys.h"
#include "settings.h"

/* The limits of customer and user lines where 0 is no limit, as in
 * relay.conf (lib/rate_limits.c), and licenses, where 0 counts as 1:
 * someone writing daily=0 to stop a customer gets the opposite, so say
 * so at every such 0, with the way to stop it. */
void mk_warn_zero_limits(struct mk *m, const struct mk_line *l)
{
	static const char *const names[] = { "daily", "peak", "user_messages",
					     "user_rcpts", "licenses" };
	int user = !strcmp(l->tok[0].s, "user");

	for (int i = 2; i < l->n; i++) {
		const char *t = l->tok[i].s, *eq = strchr(t, '=');
		size_t k, n = eq ? (size_t)(eq - t) : 0;
		for (k = 0; eq && k < sizeof names / sizeof names[0]; k++)
			if (strlen(names[k]) == n && !strncmp(t, names[k], n))
				break;
		if (!eq || k == sizeof names / sizeof names[0] ||
		    strspn(eq + 1, "0") != strlen(eq + 1))
			continue;
		if (k == 4)
			mk_warn(m, l->lineno, l->tok[i].col, "licenses=0 counts "
				"as 1 license for customer %s (its limits scale "
				"with it); to stop mail, suspend instead "
				"(suspended=yes or relayctl suspend)", l->tok[1].s);
		else
			mk_warn(m, l->lineno, l->tok[i].col, "%s means no limit "
				"for %s %s; to stop mail, suspend instead "
				"(suspended=yes or relayctl suspend)", t,
				user ? "user" : k >= 2 ? "the users of customer"
				: "customer", l->tok[1].s);
	}
}

/* A user whose domain is no customer's logs in for its customer=, but
 * as a sender its address is foreign to that customer: say what then
 * happens to it (relay-policy, doc/BEHAVIOUR.md §2.4). */
static void warn_undeclared(struct mk *m, const struct mk_user *u)
{
	const struct mk_cust *c = &m->cust[u->cust];

	if (c->ndomains)
		mk_warn(m, u->line, u->col,
			"user %s: domain %s is not declared; the user can log "
			"in (SMTP AUTH) for customer %s, but as a sender its "
			"address is foreign: rewritten to postmaster@%s under "
			"senders=any, refused otherwise", u->addr,
			addr_domain(u->addr), c->name,
			m->dom[c->first_dom].name);
	else
		mk_warn(m, u->line, u->col,
			"user %s: domain %s is not declared; the user can log "
			"in (SMTP AUTH) for customer %s, which has no domain: "
			"its null and foreign senders, its own address "
			"included, are refused", u->addr,
			addr_domain(u->addr), c->name);
}

static void check_users(struct mk *m)
{
	for (size_t i = 0; i < m->n_user; i++) {
		struct mk_user *u = &m->user[i];
		int d = mk_map_get(&m->dommap, addr_domain(u->addr));
		int dc = d >= 0 ? m->dom[d].cust : -1;
		if (u->custname) {
			u->cust = mk_map_get(&m->custmap, u->custname);
			if (u->cust < 0) {
				mk_error(m, u->line, u->col,
					 "user %s: unknown customer \"%s\"",
					 u->addr, u->custname);
				continue;
			}
		} else if ((u->cust = dc) < 0) {
			mk_error(m, u->line, u->col,
				 "user %s: its domain belongs to no customer; "
				 "add customer=NAME or a domain line", u->addr);
			continue;
		}
		if (dc >= 0 && dc != u->cust)
			mk_error(m, u->line, u->col,
				 "user %s is given to customer %s but its domain "
				 "belongs to customer %s", u->addr,
				 m->cust[u->cust].name, m->cust[dc].name);
		else if (dc < 0)
			warn_undeclared(m, u);
	}
}

static void check_rules(struct mk *m)
{
	for (size_t i = 0; i < m->n_cust; i++) {
		if (!m->cust[i].ndomains)
			mk_warn(m, m->cust[i].line, 1,
				"customer %s has no domain", m->cust[i].name);
		if (!m->cust[i].nrules)
			mk_warn(m, m->cust[i].line, 1,
				"customer %s has no rule: nothing is relayed for it",
				m->cust[i].name);
	}
	for (size_t i = 0; i < m->n_rule; i++) {
		struct mk_rule *r = &m->rule[i];
		if (r->enabled && (r->auth & MK_AUTH_IP) && !r->nips)
			mk_warn(m, r->line, 1,
				"rule %s/%s has auth=%s but no enabled address: "
				"it never matches", m->cust[r->cust].name,
				r->name, r->auth == MK_AUTH_IP ? "ip" : "both");
	}
}

static int ip_cmp(const void *a, const void *b)
{
	const struct mk_ip *x = a, *y = b;
	int c = memcmp(x->c.net.a, y->c.net.a, 16);

	if (c || x->c.bits != y->c.bits)
		return c ? c : x->c.bits - y->c.bits; /* wider first */
	return x->line - y->line; /* equal ranges: in line order */
}

static int contains(const struct cidr *outer, const struct cidr *inner)
{
	return outer->bits <= inner->bits && cidr_match(outer, &inner->net);
}

/* Warn when a range of another customer holds ip (stack[0..sp): the
 * ranges holding it, widest first). */
static void warn_overlap(struct mk *m, struct mk_ip *const *stack, size_t sp,
			 const struct mk_ip *ip)
{
	int c2 = m->rule[ip->rule].cust;

	for (size_t k = sp; k-- > 0;) {
		int c1 = m->rule[stack[k]->rule].cust;
		if (c1 == c2)
			continue;
		if (stack[k]->c.bits == ip->c.bits)
			mk_warn(m, ip->line, ip->col,
				"address range also listed by customer %s "
				"(line %d): both may relay from it, each for the "
				"clients identified as its own (AUTH, HELO/EHLO "
				"or sender)", m->cust[c1].name, stack[k]->line);
		else
			mk_warn(m, ip->line, ip->col,
				"address range overlaps customer %s's (line %d): "
				"the longest prefix decides which customer an "
				"address is registered to", m->cust[c1].name,
				stack[k]->line);
		return;
	}
}

/* An address listed by more enabled rules than relay-policy matches
 * (RK_IP_RULES_MAX) would be refused by the rules past the limit:
 * an error on the entry one too many.  nheld: the enabled entries of
 * the ranges holding ip, ip's own included. */
static void check_rules_per_address(struct mk *m, const struct mk_ip *ip,
				    size_t nheld)
{
	char range[80];
	int single = ip->c.bits == 128;

	if (nheld != RK_IP_RULES_MAX + 1)
		return;
	if (single)
		ipaddr_format(&ip->c.net, range, sizeof range);
	else
		cidr_format(&ip->c, range, sizeof range);
	mk_error(m, ip->line, ip->col,
		 "%s %s is listed by more than %d enabled rules (counting the "
		 "ranges that hold it); relay-policy matches at most %d per "
		 "address", single ? "address" : "every address of", range,
		 RK_IP_RULES_MAX, RK_IP_RULES_MAX);
}

/* After sorting, a range's enclosing ranges (and the equal ones before
 * it) are on the stack; nen of them belong to enabled rules. */
static void check_overlaps(struct mk *m)
{
	struct mk_ip *v, **stack;
	size_t n = m->n_ip, sp = 0, nen = 0;

	if (!n)
		return;
	v = malloc(n * sizeof *v);
	stack = malloc(n * sizeof *stack);
	if (!v || !stack) {
		free(v);
		free(stack);
		return;
	}
	memcpy(v, m->ip, n * sizeof *v);
	qsort(v, n, sizeof *v, ip_cmp);
	for (size_t i = 0; i < n; i++) {
		while (sp && !contains(&stack[sp - 1]->c, &v[i].c))
			nen -= (size_t)m->rule[stack[--sp]->rule].enabled;
		warn_overlap(m, stack, sp, &v[i]);
		if (m->rule[v[i].rule].enabled)
			check_rules_per_address(m, &v[i], ++nen);
		stack[sp++] = &v[i];
	}
	free(v);
	free(stack);
}

/* relay.conf's legacy devices: a bad legacy_clients or legacy_tls_min is
 * an error (the daemons would match nobody, or serve them no TLS), and
 * legacy_plain = yes waives every
 * rule's tls=yes for them: each such rule gets a warning. */
static void check_legacy(struct mk *m)
{
	struct cidr nets[LEGACY_CIDRS_MAX];
	char err[200];
	int n = legacy_parse(cf.legacy_clients, nets, LEGACY_CIDRS_MAX, err,
			     sizeof err);

	if (n < 0) {
		fprintf(stderr, "makecdb: relay.conf: error: legacy_clients: "
			"%s\n", err);
		m->errors++;
		return;
	}
	if (n > 0 && !legacy_tls_version(cf.legacy_tls_min)) {
		fprintf(stderr, "makecdb: relay.conf: error: legacy_tls_min "
			"\"%s\" is not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3\n",
			cf.legacy_tls_min);
		m->errors++;
	}
	for (size_t i = 0; n > 0 && cf.legacy_plain && i < m->n_rule; i++) {
		struct mk_rule *r = &m->rule[i];
		if (r->enabled && r->tls == 1 && (r->auth & MK_AUTH_IP))
			mk_warn(m, r->line, 1,
				"rule %s/%s requires TLS, but legacy_plain = yes "
				"(relay.conf) lets the legacy_clients relay "
				"through it without TLS", m->cust[r->cust].name,
				r->name);
	}
}

void mk_check(struct mk *m)
{
	check_users(m);
	check_rules(m);
	check_overlaps(m);
	check_legacy(m);
}
