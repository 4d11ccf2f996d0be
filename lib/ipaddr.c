/* ipaddr.c: address and CIDR parsing and matching. */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0,
					    0, 0, 0, 0, 0xff, 0xff };

int ipaddr_parse(const char *s, struct ipaddr *ip)
{
	unsigned char v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		memcpy(ip->a, v4mapped, 12);
		memcpy(ip->a + 12, v4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, ip->a) == 1 ? 0 : -1;
}

int ipaddr_is_v4(const struct ipaddr *ip)
{
	return memcmp(ip->a, v4mapped, 12) == 0;
}

void ipaddr_format(const struct ipaddr *ip, char *buf, size_t n)
{
	if (ipaddr_is_v4(ip)) {
		if (!inet_ntop(AF_INET, ip->a + 12, buf, (socklen_t)n) && n)
			buf[0] = '\0';
	} else if (!inet_ntop(AF_INET6, ip->a, buf, (socklen_t)n) && n) {
		buf[0] = '\0';
	}
}

void ipaddr_client_net(const struct ipaddr *ip, int v6bits, struct ipaddr *net)
{
	*net = *ip;
	if (ipaddr_is_v4(ip) || v6bits >= 128)
		return;
	if (v6bits < 0)
		v6bits = 0;
	for (int i = v6bits; i < 128; i++)
		net->a[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

static int host_bits_clear(const struct ipaddr *ip, int bits)
{
	for (int i = bits; i < 128; i++)
		if (ip->a[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

int cidr_parse(const char *s, struct cidr *c)
{
	char buf[64], *slash, *end;
	long bits;
	int v4;

	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (ipaddr_parse(buf, &c->net) < 0)
		return -1;
	v4 = ipaddr_is_v4(&c->net) && !strchr(buf, ':');
	if (!slash) {
		c->bits = 128;
		return 0;
	}
	if (!slash[1] || slash[1] < '0' || slash[1] > '9')
		return -1;
	bits = strtol(slash + 1, &end, 10);
	if (*end || bits < 0 || bits > (v4 ? 32 : 128))
		return -1;
	c->bits = (int)bits + (v4 ? 96 : 0);
	return host_bits_clear(&c->net, c->bits) ? 0 : -1;
}

int cidr_match(const struct cidr *c, const struct ipaddr *ip)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->net.a, ip->a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (c->net.a[full] & mask) == (ip->a[full] & mask);
}

int cidr_spans_v4mapped(const struct cidr *c)
{
	struct ipaddr mapped = { { 0 } };

	memcpy(mapped.a, v4mapped, sizeof v4mapped); /* ::ffff:0.0.0.0 */
	return c->bits < 96 && cidr_match(c, &mapped);
}

int cidr_size_log2(const struct cidr *c)
{
	return 128 - c->bits;
}

void cidr_format(const struct cidr *c, char *buf, size_t n)
{
	char addr[64];
	int v4 = ipaddr_is_v4(&c->net) && c->bits >= 96;

	ipaddr_format(&c->net, addr, sizeof addr);
	snprintf(buf, n, "%s/%d", addr, v4 ? c->bits - 96 : c->bits);
}

/* Addresses no recipient's domain has a reason to send mail to: this
 * host, its local networks, and what is not unicast (RFC 6890's special
 * purpose registries; documentation ranges are left alone).  IPv4 also
 * covers its IPv4-mapped form (::ffff:0:0/96, how it is held). */
static const char *const private_nets[] = {
	"0.0.0.0/8",       /* "this network": 0.0.0.0 reaches this host */
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", /* RFC 1918 */
	"100.64.0.0/10",   /* shared address space (carrier NAT) */
	"127.0.0.0/8",     /* loopback */
	"169.254.0.0/16",  /* link-local (cloud metadata services) */
	"192.0.0.0/24",    /* IETF protocol assignments */
	"198.18.0.0/15",   /* benchmarking */
	"224.0.0.0/4",     /* multicast */
	"240.0.0.0/4",     /* reserved, and the broadcast address */
	"::/128", "::1/128",
	"fc00::/7",        /* unique local */
	"fe80::/10",       /* link-local */
	"fec0::/10",       /* site-local (deprecated, still routed inside) */
	"ff00::/8",        /* multicast */
};

int ipaddr_is_private(const struct ipaddr *ip)
{
	/* NAT64 (RFC 6052): the IPv4 address it stands for decides */
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	struct ipaddr v4;
	struct cidr c;

	if (memcmp(ip->a, nat64, 12) == 0) {
		memcpy(v4.a, v4mapped, 12);
		memcpy(v4.a + 12, ip->a + 12, 4);
		ip = &v4;
	}
	for (size_t i = 0; i < sizeof private_nets / sizeof private_nets[0];
	     i++)
		if (cidr_parse(private_nets[i], &c) == 0 && cidr_match(&c, ip))
			return 1;
	return 0;
}
