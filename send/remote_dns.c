/* remote_dns.c: MX, A and AAAA lookups through lib/dns.c (libresolv,
 * cf.resolver or /etc/resolv.conf). */
#include "remote.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

struct dns_mx_acc {
	struct remote_mx *mx;
	size_t max, n;
};

/* The slot for a record of preference pref: the next free one, or when
 * all are taken the least preferred if pref beats it (resolvers return
 * records in any order: the most preferred must survive the cut,
 * RFC 5321 5.1); max when the record is to be dropped. */
static size_t dns_mx_slot(const struct dns_mx_acc *a, int pref)
{
	size_t worst = 0;

	if (a->n < a->max)
		return a->n;
	for (size_t i = 1; i < a->n; i++)
		if (a->mx[i].pref > a->mx[worst].pref)
			worst = i;
	return a->n > 0 && pref < a->mx[worst].pref ? worst : a->max;
}

static int dns_mx_rr(ns_msg *msg, ns_rr *rr, void *arg)
{
	struct dns_mx_acc *a = arg;
	const unsigned char *rd = ns_rr_rdata(*rr);
	char name[NS_MAXDNAME];
	size_t i;

	if (ns_rr_rdlen(*rr) < 3)
		return -1;
	if (dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rd + 2, name,
		      sizeof name) < 0 ||
	    strlen(name) >= sizeof a->mx[0].name)
		return -1;
	if ((i = dns_mx_slot(a, (rd[0] << 8) | rd[1])) >= a->max)
		return 0; /* readable, only less preferred than those kept */
	a->mx[i].pref = (rd[0] << 8) | rd[1];
	/* the root "." (null MX) comes back as "" or "." */
	strcpy(a->mx[i].name, strcmp(name, ".") == 0 ? "" : name);
	if (i == a->n)
		a->n++;
	return 0;
}

enum dns_status remote_dns_mx(const char *domain, struct remote_mx *mx,
				     size_t max, size_t *n)
{
	return remote_dns_mx_sec(domain, mx, max, n, NULL);
}

enum dns_status remote_dns_mx_sec(const char *domain, struct remote_mx *mx,
				  size_t max, size_t *n, int *secure)
{
	struct dns_mx_acc a = { mx, max, 0 };
	enum dns_status s = dns_query_sec(domain, ns_t_mx, dns_mx_rr, &a,
					  secure);
	*n = a.n;
	return s;
}

struct dns_ip_acc {
	struct remote_ip *ip;
	size_t max, n;
};

static int dns_ip_rr(ns_msg *msg, ns_rr *rr, void *arg)
{
	struct dns_ip_acc *a = arg;
	int v6 = ns_rr_type(*rr) == ns_t_aaaa;
	size_t want = v6 ? 16 : 4;

	(void)msg;
	if (ns_rr_rdlen(*rr) != want || a->n >= a->max)
		return -1;
	a->ip[a->n].family = v6 ? AF_INET6 : AF_INET;
	memset(a->ip[a->n].a, 0, sizeof a->ip[a->n].a);
	memcpy(a->ip[a->n].a, ns_rr_rdata(*rr), want);
	a->n++;
	return 0;
}

/* "1.2.3.4", "[1.2.3.4]", "::1", "[IPv6:::1]" as an address, or -1. */
static int dns_literal(const char *host, struct remote_ip *ip)
{
	char buf[80];
	size_t n = strlen(host);
	const char *s = host;

	if (n >= sizeof buf)
		return -1;
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		snprintf(buf, sizeof buf, "%.*s", (int)(n - 2), host + 1);
		s = strncasecmp(buf, "IPv6:", 5) == 0 ? buf + 5 : buf;
	}
	memset(ip->a, 0, sizeof ip->a);
	if (inet_pton(AF_INET, s, ip->a) == 1)
		return ip->family = AF_INET, 0;
	if (inet_pton(AF_INET6, s, ip->a) == 1)
		return ip->family = AF_INET6, 0;
	return -1;
}

enum dns_status remote_dns_addrs(const char *host, struct remote_ip *ip,
					size_t max, size_t *n)
{
	struct dns_ip_acc a = { ip, max, 0 };
	enum dns_status s4, s6;

	*n = 0;
	if (max > 0 && dns_literal(host, ip) == 0)
		return *n = 1, DNS_OK;
	s4 = dns_query(host, ns_t_a, dns_ip_rr, &a);
	s6 = dns_query(host, ns_t_aaaa, dns_ip_rr, &a);
	*n = a.n;
	if (a.n > 0)
		return DNS_OK;
	if (s4 == DNS_TEMP || s6 == DNS_TEMP)
		return DNS_TEMP;
	if (s4 == DNS_BADDATA || s6 == DNS_BADDATA)
		return DNS_BADDATA;
	if (s4 == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	return DNS_NODATA;
}

int remote_dns_is_literal(const char *host)
{
	struct remote_ip ip;
	return dns_literal(host, &ip) == 0;
}

void remote_ip_format(const struct remote_ip *ip, char *buf, size_t n)
{
	if (!inet_ntop(ip->family, ip->a, buf, (socklen_t)n))
		snprintf(buf, n, "?");
}
