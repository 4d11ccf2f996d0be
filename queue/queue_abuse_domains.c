/* queue_abuse_domains.c: the receiving domains an account's refusals
 * and bounces came from (lib/abuse.h).  One receiving domain can refuse
 * anyone's mail on purpose, so the receivers' side alerts only when
 * abuse_reject_domains of them agree within 24 hours: each list keeps
 * the last ABUSE_REJECT_DOMAINS domains with the hour of their last
 * refusal, in memory and in abuse/accounts. */
#include "queue.h"
#include "abuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Domain d (len bytes) refused in hour: its entry renewed, or the
 * oldest one's place taken.  1, or 0 for a name relay-send never sends. */
static int domain_add(struct abuse_domain *l, const char *d, size_t len,
		      long long hour)
{
	size_t k = 0;

	if (!len || len >= sizeof l[0].name ||
	    strspn(d, ABUSE_DOMAIN_CHARS) < len)
		return 0;
	for (size_t i = 0; i < ABUSE_REJECT_DOMAINS; i++) {
		if (!strncmp(l[i].name, d, len) && !l[i].name[len]) {
			k = i;
			break;
		}
		if (l[i].hour < l[k].hour)
			k = i;
	}
	memcpy(l[k].name, d, len);
	l[k].name[len] = '\0';
	l[k].hour = hour;
	return 1;
}

unsigned queue_abuse_domains_add(struct abuse_domain *l, const char *csv,
				 long long hour)
{
	unsigned n = 0;

	for (const char *d = csv; d && *d;) {
		size_t len = strcspn(d, ",");
		n += (unsigned)domain_add(l, d, len, hour);
		d = d[len] ? d + len + 1 : NULL;
	}
	return n;
}

unsigned queue_abuse_domains_count(const struct abuse_domain *l,
				   long long hour)
{
	unsigned n = 0;

	for (size_t i = 0; i < ABUSE_REJECT_DOMAINS; i++)
		n += l[i].name[0] && l[i].hour > hour - 24 && l[i].hour <= hour;
	return n;
}

void queue_abuse_domains_text(const struct abuse_domain *l, long long hour,
			      char *out, size_t n)
{
	size_t k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ABUSE_REJECT_DOMAINS && k < n; i++) {
		long long age = hour - l[i].hour;
		if (l[i].name[0] && age >= 0 && age < 24)
			k += (size_t)snprintf(out + k, n - k, "%s%s:%lld",
					      k ? "," : "", l[i].name, age);
	}
	if (!k)
		snprintf(out, n, "-");
}

void queue_abuse_domains_load(struct abuse_domain *l, const char *v,
			      long long hour)
{
	for (size_t i = 0; v && *v && *v != '-' && i < ABUSE_REJECT_DOMAINS;
	     i++) {
		size_t len = strcspn(v, ":,");
		char *e;
		long age;
		if (v[len] != ':' || len >= sizeof l[0].name)
			return;
		age = strtol(v + len + 1, &e, 10);
		if (age < 0 || age > 23)
			return;
		memcpy(l[i].name, v, len);
		l[i].name[len] = '\0';
		l[i].hour = hour - age;
		v = *e == ',' ? e + 1 : NULL;
	}
}
