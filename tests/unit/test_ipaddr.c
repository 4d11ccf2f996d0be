// links:
/* test_ipaddr.c: addresses and CIDR ranges: parse/format tables, then a
 * table of (range, address, match?) at the edges of each prefix. */
#include <string.h>

#include "ipaddr.h"
#include "t.h"

static const struct {
	const char *in, *fmt; /* fmt NULL: must not parse */
	int v4;
} addrs[] = {
	{ "192.0.2.1", "192.0.2.1", 1 },
	{ "0.0.0.0", "0.0.0.0", 1 },
	{ "255.255.255.255", "255.255.255.255", 1 },
	{ "::ffff:192.0.2.1", "192.0.2.1", 1 }, /* mapped is IPv4 */
	{ "::FFFF:c000:201", "192.0.2.1", 1 },
	{ "2001:db8::1", "2001:db8::1", 0 },
	{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1", 0 },
	{ "::1", "::1", 0 },
	{ "::", "::", 0 },
	{ "fe80::1:2", "fe80::1:2", 0 },
	{ "256.0.0.1", NULL, 0 },
	{ "1.2.3", NULL, 0 },
	{ "1.2.3.4.5", NULL, 0 },
	{ "01.2.3.4", NULL, 0 },
	{ "1.2.3.4 ", NULL, 0 },
	{ " 1.2.3.4", NULL, 0 },
	{ "0x7f.0.0.1", NULL, 0 },
	{ "", NULL, 0 },
	{ "2001:db8::1::2", NULL, 0 },
	{ "2001:db8:::1", NULL, 0 },
	{ "12345::1", NULL, 0 },
	{ "fe80::1%eth0", NULL, 0 },
	{ "[::1]", NULL, 0 },
	{ "localhost", NULL, 0 },
};

static void test_addrs(void)
{
	char name[120], buf[64];
	for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++) {
		struct ipaddr ip;
		int rc = ipaddr_parse(addrs[i].in, &ip);
		snprintf(name, sizeof name, "address \"%s\" %s", addrs[i].in,
			 addrs[i].fmt ? addrs[i].fmt : "refused");
		if (!addrs[i].fmt) {
			T_CHECK(name, rc == -1);
			continue;
		}
		ipaddr_format(&ip, buf, sizeof buf);
		T_CHECK(name, rc == 0 && !strcmp(buf, addrs[i].fmt) &&
				      ipaddr_is_v4(&ip) == addrs[i].v4);
	}
}

static const struct {
	const char *in, *fmt; /* fmt NULL: must not parse */
	int size_log2;
} cidrs[] = {
	{ "192.0.2.0/24", "192.0.2.0/24", 8 },
	{ "192.0.2.1", "192.0.2.1/32", 0 },
	{ "192.0.2.1/32", "192.0.2.1/32", 0 },
	{ "0.0.0.0/0", "0.0.0.0/0", 32 },
	{ "10.0.0.0/8", "10.0.0.0/8", 24 },
	{ "192.0.2.128/25", "192.0.2.128/25", 7 },
	{ "192.0.2.0/08", NULL, 0 }, /* host bits set for /8 */
	{ "10.0.0.0/08", "10.0.0.0/8", 24 },
	{ "2001:db8::/32", "2001:db8::/32", 96 },
	{ "2001:db8::1/128", "2001:db8::1/128", 0 },
	{ "::/0", "::/0", 128 },
	{ "::1", "::1/128", 0 },
	{ "192.0.2.1/24", NULL, 0 },   /* host bits */
	{ "2001:db8::1/64", NULL, 0 }, /* host bits */
	{ "192.0.2.0/33", NULL, 0 },
	{ "2001:db8::/129", NULL, 0 },
	{ "192.0.2.0/-1", NULL, 0 },
	{ "192.0.2.0/", NULL, 0 },
	{ "192.0.2.0/+8", NULL, 0 },
	{ "192.0.2.0/ 8", NULL, 0 },
	{ "192.0.2.0/8x", NULL, 0 },
	{ "192.0.2.0/24/24", NULL, 0 },
	{ "/24", NULL, 0 },
	{ "192.0.2.0/99999999999999999999", NULL, 0 },
	{ "a.b.c.d/8", NULL, 0 },
	{ "2001:db8::/32::", NULL, 0 },
	{ "1234567890123456789012345678901234567890123456789012345678901234/8",
	  NULL, 0 },
};

static void test_cidrs(void)
{
	char name[160], buf[80];
	for (size_t i = 0; i < sizeof cidrs / sizeof *cidrs; i++) {
		struct cidr c;
		int rc = cidr_parse(cidrs[i].in, &c);
		snprintf(name, sizeof name, "cidr \"%s\" %s", cidrs[i].in,
			 cidrs[i].fmt ? cidrs[i].fmt : "refused");
		if (!cidrs[i].fmt) {
			T_CHECK(name, rc == -1);
			continue;
		}
		cidr_format(&c, buf, sizeof buf);
		T_CHECK(name, rc == 0 && !strcmp(buf, cidrs[i].fmt) &&
				      cidr_size_log2(&c) == cidrs[i].size_log2);
	}
}

static const struct {
	const char *range, *ip;
	int match;
} matches[] = {
	{ "192.0.2.0/24", "192.0.2.0", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "192.0.1.255", 0 },
	{ "192.0.2.0/24", "::ffff:192.0.2.7", 1 },
	{ "192.0.2.128/25", "192.0.2.127", 0 },
	{ "192.0.2.128/25", "192.0.2.128", 1 },
	{ "192.0.2.128/25", "192.0.2.255", 1 },
	{ "192.0.2.1/32", "192.0.2.1", 1 },
	{ "192.0.2.1/32", "192.0.2.2", 0 },
	{ "192.0.2.1/32", "192.0.2.0", 0 },
	{ "10.0.0.0/7", "11.255.255.255", 1 },
	{ "10.0.0.0/7", "12.0.0.0", 0 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "0.0.0.0/0", "2001:db8::1", 0 }, /* IPv4 /0 is not all of IPv6 */
	{ "0.0.0.0/0", "::", 0 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "192.0.2.1", 1 },
	{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::/32", "2001:db9::", 0 },
	{ "2001:db8::/32", "2001:db7:ffff::", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::", 0 },
	{ "2001:db8::1/128", "2001:db8::1", 1 },
	{ "2001:db8::1/128", "2001:db8::2", 0 },
	{ "2001:db8::1/128", "2001:db8::", 0 },
	{ "::ffff:192.0.2.0/120", "192.0.2.200", 1 },
	{ "::ffff:192.0.2.0/120", "192.0.3.1", 0 },
	{ "::1/128", "127.0.0.1", 0 },
	{ "127.0.0.0/8", "::1", 0 },
};

static void test_matches(void)
{
	char name[160];
	for (size_t i = 0; i < sizeof matches / sizeof *matches; i++) {
		struct cidr c;
		struct ipaddr ip;
		int ok = cidr_parse(matches[i].range, &c) == 0 &&
			 ipaddr_parse(matches[i].ip, &ip) == 0;
		snprintf(name, sizeof name, "%s %s %s", matches[i].range,
			 matches[i].match ? "matches" : "does not match",
			 matches[i].ip);
		T_CHECK(name, ok && cidr_match(&c, &ip) == matches[i].match);
	}
}

/* What may not be a recipient domain's MX address unless allowed
 * (remote_private_addresses), and what may. */
static void test_private(void)
{
	static const struct {
		const char *ip;
		int priv;
	} t[] = {
		{ "127.0.0.1", 1 }, { "127.255.0.9", 1 }, { "10.1.2.3", 1 },
		{ "172.16.0.1", 1 }, { "172.31.255.255", 1 },
		{ "172.32.0.1", 0 }, { "192.168.1.1", 1 }, { "169.254.169.254", 1 },
		{ "100.64.0.1", 1 }, { "100.128.0.1", 0 }, { "0.0.0.0", 1 },
		{ "224.0.0.1", 1 }, { "255.255.255.255", 1 }, { "8.8.8.8", 0 },
		{ "192.0.2.1", 0 }, { "11.0.0.1", 0 }, { "::1", 1 }, { "::", 1 },
		{ "fd00::1", 1 }, { "fc00::1", 1 }, { "fe80::1", 1 },
		{ "ff02::1", 1 }, { "2001:db8::1", 0 }, { "2a00:1450::1", 0 },
		{ "::ffff:10.0.0.1", 1 }, { "::ffff:8.8.8.8", 0 },
		{ "64:ff9b::a00:1", 1 }, { "64:ff9b::808:808", 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ipaddr ip;
		char name[80];
		snprintf(name, sizeof name, "private: %s is %s", t[i].ip,
			 t[i].priv ? "private" : "public");
		T_CHECK(name, ipaddr_parse(t[i].ip, &ip) == 0 &&
				      ipaddr_is_private(&ip) == t[i].priv);
	}
}

/* Which ranges hold every IPv4 client (held as ::ffff:a.b.c.d). */
static void test_spans_v4mapped(void)
{
	static const struct {
		const char *range;
		int spans;
	} t[] = {
		{ "::/0", 1 }, { "::/64", 1 }, { "::/80", 1 },
		{ "::fffe:0:0/95", 1 }, { "::ffff:0:0/96", 0 },
		{ "0.0.0.0/0", 0 }, { "10.0.0.0/8", 0 }, { "::/96", 0 },
		{ "::1", 0 }, { "2001:db8::/32", 0 }, { "fe80::/10", 0 },
		{ "::ffff:10.0.0.0/104", 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct cidr c;
		char name[80];
		snprintf(name, sizeof name, "%s %s every IPv4 address",
			 t[i].range, t[i].spans ? "holds" : "does not hold");
		T_CHECK(name, cidr_parse(t[i].range, &c) == 0 &&
				      cidr_spans_v4mapped(&c) == t[i].spans);
	}
}

int main(void)
{
	char small[4];
	struct ipaddr ip;

	test_addrs();
	test_cidrs();
	test_matches();
	test_private();
	test_spans_v4mapped();
	ipaddr_parse("192.0.2.1", &ip);
	ipaddr_format(&ip, small, sizeof small);
	T_CHECK("format into a small buffer stays terminated",
		memchr(small, '\0', sizeof small) != NULL);
	return t_done();
}
