/* dns.c: DNS queries with libresolv (lib/dns.h).  cf.resolver replaces
 * /etc/resolv.conf's servers with one IPv4 address and port. */
#include "dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

/* res_ninit with cf.resolver applied; -1 when it is malformed. */
static int dns_init(struct __res_state *st)
{
	char host[64];
	const char *colon;
	long port = 53;

	memset(st, 0, sizeof *st);
	if (res_ninit(st) < 0)
		return -1;
	st->retrans = 2;
	st->retry = 2;
	if (!cf.resolver || !*cf.resolver)
		return 0;
	colon = strrchr(cf.resolver, ':');
	if (colon) {
		port = strtol(colon + 1, NULL, 10);
		snprintf(host, sizeof host, "%.*s", (int)(colon - cf.resolver),
			 cf.resolver);
	} else {
		snprintf(host, sizeof host, "%s", cf.resolver);
	}
	memset(&st->nsaddr_list[0], 0, sizeof st->nsaddr_list[0]);
	st->nsaddr_list[0].sin_family = AF_INET;
	st->nsaddr_list[0].sin_port = htons((unsigned short)port);
	if (port < 1 || port > 65535 ||
	    inet_pton(AF_INET, host, &st->nsaddr_list[0].sin_addr) != 1) {
		res_nclose(st);
		return -1;
	}
	st->nscount = 1;
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
	struct __res_state st;
	unsigned char ans[8192];
	ns_msg msg;
	ns_rr rr;
	int len, found = 0;

	if (dns_init(&st) < 0)
		return DNS_TEMP;
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
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_TEMP;
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
			continue;
		if (fn(&msg, &rr, arg) == 0)
			found++;
	}
	return found ? DNS_OK : DNS_NODATA;
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
