/* dns.c: DNS queries with libresolv (lib/dns.h).  cf.resolver replaces
 * /etc/resolv.conf's servers with one IPv4 or IPv6 address and port. */
#include "dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

/* cf.resolver as an address and port: "a.b.c.d", "a.b.c.d:port", an
 * IPv6 address alone ("::1") or bracketed with a port ("[::1]:53").
 * 0, or -1 when malformed. */
int dns_resolver_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	char host[64];
	const char *end, *port = NULL;
	long p = 53;

	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		if (!(end = strchr(s, ']')) || (end[1] && end[1] != ':'))
			return -1;
		snprintf(host, sizeof host, "%.*s", (int)(end - s - 1), s + 1);
		port = end[1] ? end + 2 : NULL;
	} else if ((end = strchr(s, ':')) && !strchr(end + 1, ':')) {
		snprintf(host, sizeof host, "%.*s", (int)(end - s), s);
		port = end + 1;
	} else {
		snprintf(host, sizeof host, "%s", s);
	}
	if (port) {
		char *pe;
		p = strtol(port, &pe, 10);
		if (pe == port || *pe || p < 1 || p > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((unsigned short)p);
		return 0;
	}
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1)
		return -1;
	v6->sin6_family = AF_INET6;
	v6->sin6_port = htons((unsigned short)p);
	return 0;
}

/* res_ninit with cf.resolver as the only server; -1 when it is malformed.
 * libresolv keeps an IPv6 server in _u._ext.nsaddrs (malloc'd, freed by
 * res_nclose) and marks its nsaddr_list slot with family 0, as res_init
 * does for one in resolv.conf. */
static int dns_init(struct __res_state *st)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *v6;

	memset(st, 0, sizeof *st);
	if (res_ninit(st) < 0)
		return -1;
	st->retrans = DNS_RETRANS;
	st->retry = DNS_RETRY;
	if (!cf.resolver || !*cf.resolver)
		return 0;
	if (dns_resolver_parse(cf.resolver, &ss) < 0) {
		res_nclose(st);
		return -1;
	}
	for (int i = 0; i < MAXNS; i++) { /* resolv.conf's IPv6 servers */
		free(st->_u._ext.nsaddrs[i]);
		st->_u._ext.nsaddrs[i] = NULL;
	}
	memset(&st->nsaddr_list[0], 0, sizeof st->nsaddr_list[0]);
	st->nscount = 1;
	if (ss.ss_family == AF_INET) {
		memcpy(&st->nsaddr_list[0], &ss, sizeof st->nsaddr_list[0]);
		return 0;
	}
	if (!(v6 = malloc(sizeof *v6))) {
		res_nclose(st);
		return -1;
	}
	memcpy(v6, &ss, sizeof *v6);
	st->_u._ext.nsaddrs[0] = v6;
	st->nsaddr_list[0].sin_family = 0;
	return 0;
}

static enum dns_status dns_herr(int h)
{
	switch (h) {
	case HOST_NOT_FOUND:
		return DNS_NXDOMAIN;
	case NO_DATA:
		return DNS_NODATA;
	default:
		return DNS_TEMP;
	}
}

enum dns_status dns_query(const char *name, int type, dns_rr_fn fn,
			  void *arg)
{
	return dns_query_sec(name, type, fn, arg, NULL);
}

/* With dnssec = trust_ad the query carries the AD bit (RFC 6840 5.7,
 * glibc's trust-ad) and the answer's AD bit is kept: the resolver says
 * it validated the answer.  Believed only when asked for. */
int dns_trust_ad(void)
{
	return cf.dnssec && strcmp(cf.dnssec, "trust_ad") == 0;
}

enum dns_status dns_query_sec(const char *name, int type, dns_rr_fn fn,
			      void *arg, int *secure)
{
	struct __res_state st;
	unsigned char ans[8192];
	ns_msg msg;
	ns_rr rr;
	int len, found = 0, seen = 0;

	if (secure)
		*secure = 0;
	if (dns_init(&st) < 0)
		return DNS_TEMP;
	if (secure && dns_trust_ad())
		st.options |= RES_TRUSTAD;
	len = res_nquery(&st, name, ns_c_in, type, ans, sizeof ans);
	if (len < 0) {
		enum dns_status s = dns_herr(st.res_h_errno);
		res_nclose(&st);
		return s;
	}
	res_nclose(&st);
	if (ns_initparse(ans, len > (int)sizeof ans ? (int)sizeof ans : len,
			 &msg) < 0)
		return DNS_TEMP;
	if (secure && dns_trust_ad())
		*secure = ns_msg_getflag(msg, ns_f_ad) != 0;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_TEMP;
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
			continue;
		seen++;
		if (fn(&msg, &rr, arg) == 0)
			found++;
	}
	/* RFC 5321 5.1: MX records none of which is usable are an error,
	 * never "no MX" (that would send the mail to the domain's A) */
	return found ? DNS_OK : seen ? DNS_BADDATA : DNS_NODATA;
}

struct dns_txt_acc {
	char (*txt)[DNS_TXT_MAX];
	size_t max, n;
};

/* The rdata is a run of <length byte><bytes> character-strings. */
static int dns_txt_rr(ns_msg *msg, ns_rr *rr, void *arg)
{
	struct dns_txt_acc *a = arg;
	const unsigned char *p = ns_rr_rdata(*rr);
	const unsigned char *end = p + ns_rr_rdlen(*rr);
	size_t len = 0;

	(void)msg;
	if (a->n >= a->max)
		return -1;
	while (p < end) {
		size_t k = *p++;
		if (k > (size_t)(end - p) || len + k >= DNS_TXT_MAX)
			return -1;
		memcpy(a->txt[a->n] + len, p, k);
		len += k;
		p += k;
	}
	a->txt[a->n][len] = '\0';
	a->n++;
	return 0;
}

enum dns_status dns_txt(const char *name, char (*txt)[DNS_TXT_MAX],
			size_t max, size_t *n)
{
	struct dns_txt_acc a = { txt, max, 0 };
	enum dns_status s = dns_query(name, ns_t_txt, dns_txt_rr, &a);

	*n = a.n;
	return s;
}
