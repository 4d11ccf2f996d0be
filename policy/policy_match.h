/* policy_match.h: customer identification and address-list matching. */
#ifndef POLICY_MATCH_H
#define POLICY_MATCH_H

#include "policy_decide.h"

struct policy_ipmatch {
	char rule[2 * POLICY_NAMEMAX + 8]; /* "<customer>:<rule index>" */
	int bits;
};

/* Every enabled rule whose address list contains ip, longest prefix
 * first; returns how many (at most max). */
int policy_ip_matches(const struct policy_lookup *lk, const struct ipaddr *ip,
		      struct policy_ipmatch *out, int max);

struct policy_ident {
	enum policy_by by;
	char cust[POLICY_NAMEMAX];
	char domain[256];    /* postmaster@ this for rewrites: the domain
			      * that identified it, or for an AUTH user
			      * whose domain is not declared the
			      * customer's first ("" when none) */
};

/* doc/BEHAVIOUR.md §2.2: by AUTH identity, else HELO/EHLO, else sender domain. */
void policy_identify(const struct policy_lookup *lk,
		     const struct policy_session *s, const char *from,
		     struct policy_ident *id);

/* The customer owning domain d; 1 when found. */
int policy_domain_customer(const struct policy_lookup *lk, const char *d,
			   char *cust, size_t n);

#endif
