// links: metrics/mon_http_auth.c
/* test_mon_http_key.c: the client key of relay-metrics' per-address
 * limits (metrics/mon_http_auth.c: password checks; mon_http_pages.c:
 * page builders).  An IPv6 client is its /64, which one host may hold
 * whole and rotate through; an IPv4 client, and the IPv4-mapped IPv6
 * form a dual-stack socket gives it, is its one address.  And the
 * pause after a wrong password holds for the whole /64. */
#include "../../metrics/mon_http.h"
#include "t.h"
#include "monotime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The socket address of an IPv4 or IPv6 address' text. */
static struct sockaddr_storage sa_of(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		printf("FAIL bad test address %s\n", text);
		t_failed_count++;
	}
	return ss;
}

/* 1 when a and b get one key */
static int same(const void *a, const void *b)
{
	unsigned char ka[16], kb[16];

	mon_http_addr_key(a, ka);
	mon_http_addr_key(b, kb);
	return memcmp(ka, kb, 16) == 0;
}

static void test_keys(void)
{
	struct sockaddr_storage a = sa_of("2001:db8:1:2::1"),
				b = sa_of("2001:db8:1:2:ffff:eeee:dddd:cccc"),
				c = sa_of("2001:db8:1:3::1"),
				m7 = sa_of("::ffff:192.0.2.7"),
				m8 = sa_of("::ffff:192.0.2.8"), lo = sa_of("::1"),
				i7 = sa_of("192.0.2.7"), i8 = sa_of("192.0.2.8");

	T_CHECK("IPv6: two addresses of one /64 are one client", same(&a, &b));
	T_CHECK("IPv6: the next /64 is another", !same(&a, &c));
	T_CHECK("IPv4: two addresses are two clients", !same(&i7, &i8));
	T_CHECK("IPv4-mapped IPv6: the IPv4 address' key", same(&m7, &i7));
	T_CHECK("IPv4-mapped IPv6: two addresses are two clients, not one /64",
		!same(&m7, &m8));
	T_CHECK("::1 is not an IPv4 client", !same(&lo, &i7));
}

/* A wrong password from one address of a /64, then a request from
 * another one of it at once: the second is told to come back later,
 * without a check.  (Only when the two calls are within the pause of a
 * second: a box stalled longer proves nothing either way.) */
static void test_pause_per_64(void)
{
	struct mon_creds cr = { .n = 0 };
	struct sockaddr_storage a = sa_of("2001:db8:5:6::1"),
				b = sa_of("2001:db8:5:6::2"),
				c = sa_of("2001:db8:5:7::1");
	enum mon_auth first, second, other;
	long long t0, t1;

	T_CHECK("mon_auth_init", mon_auth_init() == 0);
	first = mon_auth_check(&cr, "nobody", "wrong", (struct sockaddr *)&a);
	t0 = monotime_ms();
	second = mon_auth_check(&cr, "nobody", "wrong", (struct sockaddr *)&b);
	t1 = monotime_ms();
	T_CHECK("a wrong password is refused", first == MON_AUTH_NO);
	if (t1 - t0 < 900)
		T_CHECK("another address of its /64 at once: come back later",
			second == MON_AUTH_LATER);
	other = mon_auth_check(&cr, "nobody", "wrong", (struct sockaddr *)&c);
	T_CHECK("the next /64 is checked", other == MON_AUTH_NO);
}

int main(void)
{
	test_keys();
	test_pause_per_64();
	return t_done();
}
