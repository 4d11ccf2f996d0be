// links: smtpd/listen_caps.c
/* test_smtp_listen_caps.c: relay-listen's global and per-IP caps. */
#include "t.h"
#include "ipaddr.h"
#include "../../smtpd/listen_caps.h"

static struct ipaddr ip(const char *s)
{
	struct ipaddr a;
	ipaddr_parse(s, &a);
	return a;
}

int main(void)
{
	struct listen_caps c;
	struct ipaddr a = ip("192.0.2.1"), b = ip("2001:db8::1"),
		      a6 = ip("::ffff:192.0.2.1"), d = ip("192.0.2.2");

	T_CHECK("init", listen_caps_init(&c, 5, 2) == 0);
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
	T_CHECK("per_ip 1", listen_caps_init(&c, 100, 1) == 0);
	listen_caps_add(&c, &b, 1);
	T_CHECK("per_ip 1 capped", listen_caps_check(&c, &b) == LISTEN_CAPS_PER_IP);
	listen_caps_free(&c);
	return t_done();
}
