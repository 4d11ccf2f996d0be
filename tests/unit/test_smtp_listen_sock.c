// links: smtpd/listen_sock.c
/* test_smtp_listen_sock.c: relay-listen's address syntax (lib/listen_addr.c). */
#include "t.h"
#include "listen_addr.h"
#include "../../smtpd/listen_sock.h"

#include <netinet/in.h>
#include <stdio.h>

static const struct {
	const char *spec;
	int rc, family;
	const char *ip, *port;
} cases[] = {
	{ "127.0.0.1:2525", 0, AF_INET, "127.0.0.1", "2525" },
	{ "0.0.0.0:25", 0, AF_INET, "0.0.0.0", "25" },
	{ "[::1]:2525", 0, AF_INET6, "::1", "2525" },
	{ "[::]:465", 0, AF_INET6, "::", "465" },
	{ "[2001:db8::1]:65535", 0, AF_INET6, "2001:db8::1", "65535" },
	{ "127.0.0.1:0", -1, 0, NULL, NULL },
	{ "127.0.0.1:65536", -1, 0, NULL, NULL },
	{ "127.0.0.1:", -1, 0, NULL, NULL },
	{ "127.0.0.1", -1, 0, NULL, NULL },
	{ ":25", -1, 0, NULL, NULL },
	{ "::1:25", -1, 0, NULL, NULL },           /* IPv6 needs brackets */
	{ "[::1]25", -1, 0, NULL, NULL },
	{ "[::1:25", -1, 0, NULL, NULL },
	{ "[]:25", -1, 0, NULL, NULL },
	{ "localhost:25", -1, 0, NULL, NULL },     /* numeric only */
	{ "256.0.0.1:25", -1, 0, NULL, NULL },
	{ "127.0.0.1:25x", -1, 0, NULL, NULL },
	{ "127.0.0.1:-25", -1, 0, NULL, NULL },
	{ "127.0.0.1:000025", -1, 0, NULL, NULL },
};

/* Which listeners share pool workers: the same key, the same workers. */
static const struct {
	int fixed;
	const char *ip, *key;
} reach[] = {
	{ 0, "", "*" },                 /* 0.0.0.0 and :: alike */
	{ 1, "127.0.0.1", "loopback" },
	{ 1, "::1", "loopback" },
	{ 1, "127.0.0.2", "127.0.0.2" },
	{ 1, "10.0.0.1", "10.0.0.1" },
	{ 1, "2001:db8::25", "2001:db8::25" },
};

static void test_reach(void)
{
	for (size_t i = 0; i < sizeof reach / sizeof reach[0]; i++) {
		struct listen_sock ls = { .fixed = reach[i].fixed };
		char key[64], name[80];
		snprintf(ls.localip, sizeof ls.localip, "%s", reach[i].ip);
		snprintf(name, sizeof name, "reach of \"%s\"", reach[i].ip);
		listen_sock_reach(&ls, key, sizeof key);
		T_STREQ(name, key, reach[i].key);
	}
}

int main(void)
{
	test_reach();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char name[64], ip[64], port[8];
		int rc = listen_addr_parse(cases[i].spec, &ss, &len);
		snprintf(name, sizeof name, "listen \"%s\"", cases[i].spec);
		T_CHECK(name, rc == cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			T_CHECK(name, ss.ss_family == cases[i].family);
			listen_addr_name(&ss, ip, sizeof ip, port, sizeof port);
			T_STREQ(name, ip, cases[i].ip);
			T_STREQ(name, port, cases[i].port);
		}
	}
	return t_done();
}
