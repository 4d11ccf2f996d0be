/* policy_match.c: finding the customer of a session and the rules whose
 * address lists contain the client.  Addresses are matched longest prefix
 * first: rules.cdb holds one key per range ("ip:<bits>:<net>") and the
 * list of prefix lengths in use ("ipbits"), so a lookup costs at most one
 * CDB probe per distinct prefix length, whatever the number of rules. */
#include "policy_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rulekeys.h"

static void mask(struct cidr *c, const struct ipaddr *ip, int bits)
{
	c->net = *ip;
	c->bits = bits;
	for (int i = 0; i < 16; i++) {
		int keep = bits - 8 * i;
		if (keep >= 8)
			continue;
		c->net.a[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

int policy_ip_matches(const struct policy_lookup *lk, const struct ipaddr *ip,
		      struct policy_ipmatch *out, int max)
{
	char bits[1024], key[RK_KEYMAX], val[RK_VALMAX], *p, *end;
	int n = 0;

	if (lk->get(lk->ctx, POLICY_RULES, "ipbits", bits, sizeof bits) < 0 ||
	    rk_get(bits, "bits", bits, sizeof bits) != 1)
		return 0;
	for (p = bits; *p && n < max; p = end) {
		struct cidr c;
		long b = strtol(p, &end, 10);
		if (end == p || b < 0 || b > 128)
			break;
		mask(&c, ip, (int)b);
		rk_ip(&c, key, sizeof key);
		if (lk->get(lk->ctx, POLICY_RULES, key, val, sizeof val) < 0)
			continue;
		const char *pos = val, *r;
		size_t len;
		while (n < max && (r = rk_next(&pos, "rule", &len))) {
			if (len >= sizeof out[n].rule)
				continue;
			memcpy(out[n].rule, r, len);
			out[n].rule[len] = '\0';
			out[n].bits = (int)b;
			n++;
		}
	}
	return n;
}

/* customer of domain d into cust; 1 found. */
static int domain_customer(const struct policy_lookup *lk, const char *d,
			   char *cust, size_t n)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	if (!*d || strlen(d) > 255)
		return 0;
	snprintf(key, sizeof key, "domain:%s", d);
	addr_lower(key);
	return lk->get(lk->ctx, POLICY_RULES, key, val, sizeof val) >= 0 &&
	       rk_get(val, "customer", cust, n) == 1 && *cust;
}

int policy_domain_customer(const struct policy_lookup *lk, const char *d,
			   char *cust, size_t n)
{
	return domain_customer(lk, d, cust, n);
}

/* The customer's first declared domain into d ("" when it has none):
 * rewrites of a user whose own domain is not the customer's go there,
 * never to a domain the customer does not own. */
static void customer_domain(const struct policy_lookup *lk, const char *cust,
			    char *d, size_t n)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	d[0] = '\0';
	snprintf(key, sizeof key, "customer:%s", cust);
	if (lk->get(lk->ctx, POLICY_RULES, key, val, sizeof val) < 0 ||
	    rk_get(val, RK_CUST_DOMAIN, d, n) != 1)
		d[0] = '\0';
}

void policy_identify(const struct policy_lookup *lk,
		     const struct policy_session *s, const char *from,
		     struct policy_ident *id)
{
	char key[RK_KEYMAX], val[RK_VALMAX], helo[sizeof s->helo];

	memset(id, 0, sizeof *id);
	if (*s->user) {
		snprintf(id->domain, sizeof id->domain, "%s",
			 addr_domain(s->user));
		id->by = POLICY_BY_AUTH;
		if (domain_customer(lk, id->domain, id->cust, sizeof id->cust))
			return;
		/* a user whose domain is not declared: its own customer= */
		snprintf(key, sizeof key, "user:%s", s->user);
		addr_lower(key);
		if (lk->get(lk->ctx, POLICY_USERS, key, val, sizeof val) >= 0 &&
		    rk_get(val, "customer", id->cust, sizeof id->cust) == 1 &&
		    *id->cust) {
			customer_domain(lk, id->cust, id->domain,
					sizeof id->domain);
			return;
		}
		id->by = POLICY_BY_NONE;
		return;
	}
	/* "example.com." is the absolute form of the same name */
	snprintf(helo, sizeof helo, "%s", s->helo);
	if (*helo && helo[strlen(helo) - 1] == '.')
		helo[strlen(helo) - 1] = '\0';
	if (domain_customer(lk, helo, id->cust, sizeof id->cust)) {
		snprintf(id->domain, sizeof id->domain, "%s", helo);
		addr_lower(id->domain);
		id->by = POLICY_BY_HELO;
		return;
	}
	if (*from && domain_customer(lk, addr_domain(from), id->cust,
				     sizeof id->cust)) {
		snprintf(id->domain, sizeof id->domain, "%s", addr_domain(from));
		addr_lower(id->domain);
		id->by = POLICY_BY_SENDER;
	}
}
