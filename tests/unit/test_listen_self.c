/* test_listen_self.c: listen_addr_is_self (lib/listen_addr.c), the test
 * relay-remote makes before it connects to an MX: would the connection
 * reach one of this relay's own listeners? */
#include "t.h"
#include "listen_addr.h"
#include "settings.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* "a.b.c.d" or an IPv6 address, and a port, as connect() gets them */
static int self(const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
	} else {
		return -1;
	}
	return listen_addr_is_self(&ss);
}

static const struct {
	const char *ip;
	int port, want;
	const char *why;
} cases[] = {
	{ "127.0.0.2", 2525, 1, "a fixed listener's address and port" },
	{ "127.0.0.1", 2525, 0, "another address on a fixed listener's port" },
	{ "127.0.0.2", 25, 0, "a fixed listener's address, another port" },
	{ "127.0.0.3", 465, 1, "a listen_tls address" },
	{ "127.0.0.9", 2526, 1, "any loopback address under 0.0.0.0" },
	{ "0.0.0.0", 2526, 1, "0.0.0.0 under 0.0.0.0 (connect: loopback)" },
	{ "::ffff:127.0.0.1", 2526, 1, "IPv4-mapped loopback under 0.0.0.0" },
	{ "192.0.2.1", 2526, 0, "a foreign address under 0.0.0.0" },
	{ "::1", 2527, 1, "::1 under [::]" },
	{ "::", 2527, 1, ":: under [::] (connect: loopback)" },
	{ "::1", 2526, 0, "IPv6 on a port only IPv4 listens on" },
	{ "2001:db8::1", 2527, 0, "a foreign IPv6 address under [::]" },
};

/* An address of one of this host's interfaces, not loopback: under a
 * wildcard listener it is this relay too (skipped when there is none). */
static void test_interface(void)
{
	struct ifaddrs *ifs, *i;
	char ip[64] = "";

	if (getifaddrs(&ifs) < 0)
		return;
	for (i = ifs; i && !ip[0]; i = i->ifa_next) {
		const struct sockaddr_in *a = (const void *)i->ifa_addr;
		if (a && a->sin_family == AF_INET &&
		    (ntohl(a->sin_addr.s_addr) >> 24) != 127)
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
	}
	freeifaddrs(ifs);
	if (!ip[0]) {
		printf("SKIP an interface's address: none but loopback\n");
		return;
	}
	T_CHECK("an interface's address under 0.0.0.0", self(ip, 2526) == 1);
	T_CHECK("an interface's address on a fixed listener's port",
		self(ip, 2525) == 0);
}

int main(void)
{
	static char listen[] = "127.0.0.2:2525 0.0.0.0:2526 [::]:2527";
	static char listen_tls[] = "127.0.0.3:465";

	cf.listen = listen;
	cf.listen_tls = listen_tls;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[160];
		snprintf(name, sizeof name, "self: %s (%s port %d)", cases[i].why,
			 cases[i].ip, cases[i].port);
		T_CHECK(name, self(cases[i].ip, cases[i].port) == cases[i].want);
	}
	test_interface();
	return t_done();
}
