/* test_dns_resolver.c: the resolver setting (lib/dns.h
 * dns_resolver_parse): IPv4 and IPv6, with and without a port, as a
 * table; malformed ones refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "t.h"

static const struct {
	const char *in;
	int ok, family, port;
	const char *addr;
} cases[] = {
	{ "127.0.0.1", 1, AF_INET, 53, "127.0.0.1" },
	{ "127.0.0.1:5353", 1, AF_INET, 5353, "127.0.0.1" },
	{ "::1", 1, AF_INET6, 53, "::1" },
	{ "[::1]", 1, AF_INET6, 53, "::1" },
	{ "[::1]:5353", 1, AF_INET6, 5353, "::1" },
	{ "2001:db8::53", 1, AF_INET6, 53, "2001:db8::53" },
	{ "[2001:db8::53]:53", 1, AF_INET6, 53, "2001:db8::53" },
	{ "[127.0.0.1]:53", 1, AF_INET, 53, "127.0.0.1" },
	{ "127.0.0.1:0", 0, 0, 0, NULL },
	{ "127.0.0.1:65536", 0, 0, 0, NULL },
	{ "127.0.0.1:53x", 0, 0, 0, NULL },
	{ "127.0.0.1:", 0, 0, 0, NULL },
	{ "[::1]53", 0, 0, 0, NULL },
	{ "[::1", 0, 0, 0, NULL },
	{ "::1:", 0, 0, 0, NULL },
	{ "localhost:53", 0, 0, 0, NULL },
	{ "300.1.1.1", 0, 0, 0, NULL },
};

int main(void)
{
	char name[200], got[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss;
		int rc = dns_resolver_parse(cases[i].in, &ss);
		const struct sockaddr_in *v4 = (const void *)&ss;
		const struct sockaddr_in6 *v6 = (const void *)&ss;
		int ok = (rc == 0) == cases[i].ok;

		if (ok && rc == 0) {
			int port = ss.ss_family == AF_INET ? ntohs(v4->sin_port)
							   : ntohs(v6->sin6_port);
			inet_ntop(ss.ss_family,
				  ss.ss_family == AF_INET ? (const void *)&v4->sin_addr
							  : (const void *)&v6->sin6_addr,
				  got, sizeof got);
			ok = ss.ss_family == cases[i].family &&
			     port == cases[i].port && !strcmp(got, cases[i].addr);
		}
		snprintf(name, sizeof name, "resolver \"%s\": %s", cases[i].in,
			 cases[i].ok ? "parsed" : "refused");
		T_CHECK(name, ok);
	}
	return t_done();
}
