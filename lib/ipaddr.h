/* ipaddr.h: IPv4/IPv6 addresses and CIDR ranges.  IPv4 is held as an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) so one comparison serves both;
 * an IPv4 prefix /n is held as /(96+n). */
#ifndef IPADDR_H
#define IPADDR_H

#include <stddef.h>

struct ipaddr {
	unsigned char a[16];
};

struct cidr {
	struct ipaddr net;  /* host bits cleared */
	int bits;           /* 0..128 in the IPv6 space */
};

/* "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; 0 or -1. */
int ipaddr_parse(const char *s, struct ipaddr *ip);
int ipaddr_is_v4(const struct ipaddr *ip);
/* Text form: dotted quad for IPv4, RFC 5952 for IPv6. */
void ipaddr_format(const struct ipaddr *ip, char *buf, size_t n);

/* 1 when ip is loopback, private (RFC 1918, unique local), link-local,
 * shared (100.64/10), unspecified, multicast or reserved: an address of
 * this host or of the network it sits in, not one on the Internet. */
int ipaddr_is_private(const struct ipaddr *ip);

/* The network of ip that counts as one client: an IPv6 address cut to
 * its first v6bits bits (one /64 is one LAN, and one host may hold all
 * of it), an IPv4 address whole. */
void ipaddr_client_net(const struct ipaddr *ip, int v6bits, struct ipaddr *net);

/* "192.0.2.0/24", "2001:db8::/48", or a single address; -1 when malformed
 * or when host bits are set beyond the prefix. */
int cidr_parse(const char *s, struct cidr *c);
int cidr_match(const struct cidr *c, const struct ipaddr *ip);
/* 1 when c, an IPv6 range wider than a /96, holds the IPv4-mapped space
 * (::ffff:0:0/96): IPv4 clients are held in that form, so "::/64" would
 * match every IPv4 address; a range written as IPv4 never does. */
int cidr_spans_v4mapped(const struct cidr *c);
/* Number of addresses as log2 (32 for a /96 in IPv6 terms = IPv4 /0). */
int cidr_size_log2(const struct cidr *c);
void cidr_format(const struct cidr *c, char *buf, size_t n);

#endif
