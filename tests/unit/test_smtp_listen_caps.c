// links: smtpd/listen_caps.c
/* test_smtp_listen_caps.c: relay-listen's global and per-IP caps, and
 * IPv6 clients counted per prefix (conn_per_ip_prefix6): a table of
 * address pairs that are, or are not, one client at /64, /56 and /128. */
#include <stdio.h>

#include "t.h"
#include "ipaddr.h"
#include "../../smtpd/listen_caps.h"

static struct ipaddr ip(const char *s)
{
	struct ipaddr a;
	ipaddr_parse(s, &a);
	return a;
}

static const struct {
	const char *a, *b;
	int prefix6, same;
} nets[] = {
	{ "2001:db8:1:2::1", "2001:db8:1:2::2", 64, 1 },
	{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 64, 1 },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", 64, 0 },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", 56, 1 },
	{ "2001:db8:1:2::1", "2001:db8:1:100::1", 56, 0 },
	{ "2001:db8:1:2::1", "2001:db8:1:2::2", 128, 0 },
	{ "::1", "::1", 64, 1 },
	{ "192.0.2.1", "192.0.2.2", 64, 0 },   /* IPv4: whole address */
	{ "192.0.2.1", "::ffff:192.0.2.1", 64, 1 },
};

/* With conn_per_ip 1, a connection from a, then one from b. */
static void test_nets(void)
{
	char name[200];

	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		struct listen_caps c;
		struct ipaddr a = ip(nets[i].a), b = ip(nets[i].b);

		listen_caps_init(&c, 100, 1, nets[i].prefix6);
		listen_caps_add(&c, &a, 1);
		snprintf(name, sizeof name, "/%d: %s and %s are %s", nets[i].prefix6,
			 nets[i].a, nets[i].b, nets[i].same ? "one client" : "two");
		T_CHECK(name, listen_caps_check(&c, &b) ==
				      (nets[i].same ? LISTEN_CAPS_PER_IP
						    : LISTEN_CAPS_OK));
		listen_caps_free(&c);
	}
}

/* One /64 trying to take every slot: conn_per_ip of them, no more. */
static void test_v6_flood(void)
{
	struct listen_caps c;
	char s[64];
	size_t ok = 0;

	listen_caps_init(&c, 100, 5, 64);
	for (int i = 1; i <= 100; i++) {
		struct ipaddr a;
		snprintf(s, sizeof s, "2001:db8:0:7:%x:%x::%x", i * 7, i, i);
		a = ip(s);
		if (listen_caps_check(&c, &a) == LISTEN_CAPS_OK &&
		    listen_caps_add(&c, &a, i) == 0)
			ok++;
	}
	T_CHECK("100 addresses of one /64 get conn_per_ip (5) slots", ok == 5);
	{
		struct ipaddr other = ip("2001:db8:0:8::1");
		T_CHECK("another /64 still gets in",
			listen_caps_check(&c, &other) == LISTEN_CAPS_OK);
	}
	listen_caps_free(&c);
}

int main(void)
{
	struct listen_caps c;
	struct ipaddr a = ip("192.0.2.1"), b = ip("2001:db8::1"),
		      a6 = ip("::ffff:192.0.2.1"), d = ip("192.0.2.2");

	T_CHECK("init", listen_caps_init(&c, 5, 2, 64) == 0);
	T_CHECK("empty ok", listen_caps_check(&c, &a) == LISTEN_CAPS_OK);
	listen_caps_add(&c, &a, 101);
	T_CHECK("one from a ok", listen_caps_check(&c, &a) == LISTEN_CAPS_OK);
	listen_caps_add(&c, &a, 102);
	T_CHECK("a at per-ip cap", listen_caps_check(&c, &a) == LISTEN_CAPS_PER_IP);
	T_CHECK("mapped v4 is the same client",
		listen_caps_check(&c, &a6) == LISTEN_CAPS_PER_IP);
	T_CHECK("b unaffected", listen_caps_check(&c, &b) == LISTEN_CAPS_OK);
	T_CHECK("count a", listen_caps_count(&c, &a) == 2);
	listen_caps_add(&c, &b, 201);
	listen_caps_add(&c, &b, 202);
	listen_caps_add(&c, &d, 301);
	T_CHECK("global cap", listen_caps_check(&c, &d) == LISTEN_CAPS_GLOBAL);
	T_CHECK("add past global refused", listen_caps_add(&c, &d, 302) == -1);
	T_CHECK("release unknown", listen_caps_release(&c, 999) == 0);
	T_CHECK("release a's child", listen_caps_release(&c, 101) == 1);
	T_CHECK("release twice", listen_caps_release(&c, 101) == 0);
	T_CHECK("a ok again", listen_caps_check(&c, &a) == LISTEN_CAPS_OK);
	T_CHECK("count a after release", listen_caps_count(&c, &a) == 1);
	T_CHECK("b still capped", listen_caps_check(&c, &b) == LISTEN_CAPS_PER_IP);
	for (pid_t p = 102; p < 400; p++)
		listen_caps_release(&c, p);
	T_CHECK("all released", c.n == 0);
	listen_caps_free(&c);
	T_CHECK("per_ip 1", listen_caps_init(&c, 100, 1, 64) == 0);
	listen_caps_add(&c, &b, 1);
	T_CHECK("per_ip 1 capped", listen_caps_check(&c, &b) == LISTEN_CAPS_PER_IP);
	listen_caps_free(&c);
	test_nets();
	test_v6_flood();
	return t_done();
}
