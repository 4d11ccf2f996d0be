/* rulekeys.h: the keys and value format of rules.cdb and users.cdb,
 * shared by makecdb (the writer) and relay-policy (the reader).
 * Keys are lowercase with a typed prefix and no trailing NUL; values are
 * "key=value\n" lines.  conf/RULES.md documents every key. */
#ifndef RULEKEYS_H
#define RULEKEYS_H

#include <stddef.h>

#include "ipaddr.h"

#define RK_KEYMAX 600

/* customer:<name>: at most this many delivery jobs of the customer's
 * mail at once (relay-send); absent = no limit of its own. */
#define RK_CUST_CONCURRENCY "concurrency"
#define RK_VALMAX 8192     /* largest value a reader accepts */

/* customer:<name> lines of the content scan and abuse monitoring
 * (relay-queue reads them): scan=off|score|reject, scan_score=N, the
 * admin=<mailbox> that abuse alerts go to. */
#define RK_CUST_SCAN "scan"
#define RK_CUST_SCAN_SCORE "scan_score"
#define RK_CUST_ADMIN "admin"

/* customer:<name>: its first declared domain, absent when it has none.
 * A null or foreign sender of an AUTH user whose own domain is no
 * customer's is rewritten to postmaster@ this domain (relay-policy). */
#define RK_CUST_DOMAIN "domain"

/* route:rcpt:<domain>, route:sender:<domain>, route:default: where the
 * mail goes (makecdb writes, relay-send reads).  host= "" is the MX;
 * port= "" is smtp_port; tls=may|encrypt|verify; auth=<secrets/ name>;
 * auth_tls=verify|unverified; tls_wrap=yes (absent: no) is implicit TLS,
 * the handshake before the greeting (RFC 8314 3), written only when set
 * so that the routes of older relay.rules compile to the same bytes. */
#define RK_ROUTE_HOST "host"
#define RK_ROUTE_PORT "port"
#define RK_ROUTE_TLS "tls"
#define RK_ROUTE_AUTH "auth"
#define RK_ROUTE_AUTH_TLS "auth_tls"
#define RK_ROUTE_TLS_WRAP "tls_wrap"
/* The port of a tls_wrap=yes route whose DEST names none (RFC 8314 7.3:
 * submissions, the port implicit-TLS smarthosts listen on). */
#define RK_ROUTE_WRAP_PORT 465

/* The most enabled rules one address may be listed by, all the ranges
 * that hold it together: relay-policy collects at most this many
 * matches, and makecdb refuses rules that list an address more often. */
#define RK_IP_RULES_MAX 64

/* "ip:<bits>:<32 hex digits>": one CIDR (bits in the IPv6 space).  The
 * key "ipbits" lists, in "bits=" descending, every prefix length used. */
void rk_ip(const struct cidr *c, char *buf, size_t n);

/* Value of the line "key=..." in val into out; 1 found, 0 not found,
 * -1 found but too long. */
int rk_get(const char *val, const char *key, char *out, size_t n);
/* Same, as a number (def when absent or malformed). */
long rk_num(const char *val, const char *key, long def);
/* 1 when the line "key=yes" is present. */
int rk_yes(const char *val, const char *key);
/* Next line starting with "key=" at or after *pos; returns a pointer to
 * its value (not terminated: *len bytes) and advances *pos, or NULL. */
const char *rk_next(const char **pos, const char *key, size_t *len);

#endif
