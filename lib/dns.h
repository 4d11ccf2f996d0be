/* dns.h: DNS queries with glibc's libresolv, through cf.resolver when it
 * is set ("127.0.0.1:5353", "[::1]:5353": a test's own server on
 * loopback) or
 * /etc/resolv.conf.  relay-remote asks for MX/A/AAAA, relayctl dkim check
 * for TXT.  Only the answer section is used: a recursive server has
 * followed the CNAMEs before the records. */
#ifndef DNS_H
#define DNS_H

#include <arpa/nameser.h>
#include <stddef.h>
#include <sys/socket.h>

/* Each query: DNS_RETRY rounds over the servers (cf.resolver alone,
 * or resolv.conf's, at most 3), the first waited for DNS_RETRANS s and
 * the i-th (DNS_RETRANS << i) / servers s (glibc).  DNS_WAIT_MAX is the
 * longest one query waits when no server answers: 2 * (2 + 1 + 2) s
 * with three servers (4 s with one).  A daemon that looks up in its
 * main loop is that long without a beat (relay-master: master_watch.c). */
#define DNS_RETRANS 2
#define DNS_RETRY 2
#define DNS_WAIT_MAX 10

enum dns_status {
	DNS_OK,
	DNS_NODATA,        /* the name exists, no record of the type */
	DNS_NXDOMAIN,
	DNS_TEMP,          /* SERVFAIL, timeout, refused, a bad cf.resolver */
	DNS_BADDATA,       /* records of the type came, fn used none of
			      them (malformed): a DNS failure, not NODATA */
};

/* A resolver setting ("a.b.c.d[:port]", "::1", "[::1]:port"; port 53
 * when none) into ss; -1 when malformed. */
int dns_resolver_parse(const char *s, struct sockaddr_storage *ss);

/* Called for each answer record of the type asked; returns 0 when it used
 * the record (it is counted), -1 when it skipped it. */
typedef int (*dns_rr_fn)(ns_msg *msg, ns_rr *rr, void *arg);

/* Query name/type (ns_t_mx, ...) and call fn for each answer record of
 * that type: DNS_OK when fn used at least one, DNS_BADDATA when it
 * skipped every one. */
enum dns_status dns_query(const char *name, int type, dns_rr_fn fn,
			  void *arg);

/* The same; *secure (when not NULL) is 1 when dnssec = trust_ad and the
 * resolver set the AD bit on the answer (it validated it with DNSSEC),
 * else 0.  A NODATA or NXDOMAIN answer is never called secure here. */
enum dns_status dns_query_sec(const char *name, int type, dns_rr_fn fn,
			      void *arg, int *secure);
/* 1 when relay.conf says dnssec = trust_ad. */
int dns_trust_ad(void);

/* Each TXT record of name, its character-strings joined (RFC 6376
 * 3.6.2.2), NUL-terminated in txt[i] (at most max records of at most
 * DNS_TXT_MAX - 1 bytes; longer ones are skipped); *n is their number. */
#define DNS_TXT_MAX 4096
enum dns_status dns_txt(const char *name, char (*txt)[DNS_TXT_MAX],
			size_t max, size_t *n);

#endif
