// links: send/send_route.c
/* test_send_route.c: route lookup order (relayhost, route:rcpt:<domain>,
 * .parent keys, route:sender:, route:default, MX) over a real CDB, and
 * relayhost parsing; the schedule's back-off table. */
#include "../../send/send.h"
#include "hostport.h"
#include "rulekeys.h"
#include "t.h"

#include <cdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const rules[][2] = {
	{ "route:rcpt:exact.example", "host=exact.relay\nport=2525\ntls=verify\n" },
	{ "route:rcpt:.parent.example", "host=parent.relay\nauth=up1\nauth_tls=unverified\n" },
	{ "route:rcpt:mx.example", "host=\ntls=encrypt\n" },
	{ "route:sender:tenant.example", "host=tenant.relay\nport=587\n" },
	{ "route:sender:.corp.example", "host=corp.relay\n" },
	{ "route:default", "host=default.relay\n" },
	{ "route:rcpt:xn--exmple-cua.test", "host=idn.relay\n" },
	{ "route:rcpt:wrap.example", "host=wrap.relay\nport=465\ntls=verify\n"
				     RK_ROUTE_TLS_WRAP "=yes\n" },
};

struct route_case {
	const char *rcpt, *sender, *relayhost;
	const char *host, *tls, *auth, *via;
	long port;
};

static const struct route_case cases[] = {
	{ "a@exact.example", "s@x.org", "", "exact.relay", "verify", "",
	  "route:rcpt:exact.example", 2525 },
	{ "a@EXACT.example", "s@x.org", "", "exact.relay", "verify", "",
	  "route:rcpt:exact.example", 2525 },
	{ "a@sub.parent.example", "s@tenant.example", "", "parent.relay",
	  "may", "up1", "route:rcpt:.parent.example", 0 },
	{ "a@deep.sub.parent.example", "s@x.org", "", "parent.relay", "may",
	  "up1", "route:rcpt:.parent.example", 0 },
	{ "a@parent.example", "s@x.org", "", "default.relay", "may", "",
	  "route:default", 0 },
	{ "a@mx.example", "s@tenant.example", "", "", "encrypt", "",
	  "route:rcpt:mx.example", 0 },
	{ "a@other.org", "s@tenant.example", "", "tenant.relay", "may", "",
	  "route:sender:tenant.example", 587 },
	{ "a@other.org", "s@dept.corp.example", "", "corp.relay", "may", "",
	  "route:sender:.corp.example", 0 },
	{ "a@other.org", "", "", "default.relay", "may", "", "route:default",
	  0 },
	/* route keys are A-labels (makecdb): a U-label domain finds its own */
	{ "a@ex\xc3\xa4mple.test", "s@x.org", "", "idn.relay", "may", "",
	  "route:rcpt:xn--exmple-cua.test", 0 },
	{ "a@EX\xc3\x84MPLE.test", "s@x.org", "", "idn.relay", "may", "",
	  "route:rcpt:xn--exmple-cua.test", 0 },
	{ "a@\xe2\x98\x83.test", "s@x.org", "", "default.relay", "may", "",
	  "route:default", 0 },
	{ "a@exact.example", "s@x.org", "[smart.host]:26", "smart.host", "may",
	  "", "relayhost", 26 },
	{ "a@exact.example", "s@x.org", "smart2.host", "smart2.host", "may", "",
	  "relayhost", 0 },
};

static void make_cdb(const char *path, int with_default)
{
	struct cdb_make cm;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cdb_make_start(&cm, fd);
	for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
		if (!with_default && strcmp(rules[i][0], "route:default") == 0)
			continue;
		cdb_make_add(&cm, rules[i][0], (unsigned)strlen(rules[i][0]),
			     rules[i][1], (unsigned)strlen(rules[i][1]));
	}
	cdb_make_finish(&cm);
	close(fd);
}

static void test_routes(void)
{
	char path[] = "/tmp/test_send_route.XXXXXX", name[300];
	struct send_route r;
	struct rcdb db;
	int fd = mkstemp(path);

	close(fd);
	make_cdb(path, 1);
	T_CHECK("rcdb opens", rcdb_init(&db, path) == 0);
	send_route_lookup(&db, "", "a@wrap.example", "s@x.org", &r);
	T_CHECK("tls_wrap=yes read", r.tls_wrap && r.port == 465 &&
				     strcmp(r.tls, "verify") == 0);
	send_route_lookup(&db, "", "a@exact.example", "s@x.org", &r);
	T_CHECK("no tls_wrap line: STARTTLS", !r.tls_wrap);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct route_case *c = &cases[i];
		send_route_lookup(&db, c->relayhost, c->rcpt, c->sender, &r);
		snprintf(name, sizeof name, "route %s from %s via %s", c->rcpt,
			 c->sender, c->relayhost[0] ? c->relayhost : "cdb");
		T_STREQ(name, r.via, c->via);
		T_CHECK(name, strcmp(r.host, c->host) == 0 &&
				      strcmp(r.tls, c->tls) == 0 &&
				      strcmp(r.auth, c->auth) == 0 &&
				      strcmp(r.auth_tls, *c->auth ? "unverified" : "") == 0 &&
				      r.port == c->port);
	}
	rcdb_close(&db);
	make_cdb(path, 0);
	rcdb_init(&db, path);
	send_route_lookup(&db, "", "a@other.org", "s@x.org", &r);
	T_CHECK("no route: MX", strcmp(r.via, "mx") == 0 && !r.host[0]);
	rcdb_close(&db);
	send_route_lookup(NULL, "", "a@other.org", "s@x.org", &r);
	T_CHECK("no rules.cdb: MX", strcmp(r.via, "mx") == 0);
	T_CHECK("no rules.cdb: no implicit TLS", !r.tls_wrap);
	unlink(path);
}

static void test_hostport(void)
{
	char host[64];
	long port;
	T_CHECK("hostport [h]:25", hostport_parse("[h.example]:25", host,
				   sizeof host, &port) == 0 &&
				   strcmp(host, "h.example") == 0 && port == 25);
	T_CHECK("hostport [ipv6]:587",
		hostport_parse("[2001:db8::1]:587", host, sizeof host,
				    &port) == 0 &&
		    strcmp(host, "2001:db8::1") == 0 && port == 587);
	T_CHECK("hostport bad port", hostport_parse("h:99999", host,
				     sizeof host, &port) < 0);
	T_CHECK("hostport unclosed [", hostport_parse("[h:25", host,
				       sizeof host, &port) < 0);
	T_CHECK("hostport empty", hostport_parse("", host, sizeof host,
				  &port) < 0);
	T_CHECK("hostport h.example: no port (0)",
		hostport_parse("h.example", host, sizeof host, &port) == 0 &&
		    strcmp(host, "h.example") == 0 && port == 0);
	strcpy(host, "before");
	T_CHECK("hostport trailing ':' refused, host untouched",
		hostport_parse("[h.example]:", host, sizeof host, &port) < 0 &&
		    strcmp(host, "before") == 0);
	T_CHECK("hostport [h]x refused", hostport_parse("[h.example]x", host,
				sizeof host, &port) < 0);
	T_CHECK("hostport a space in the name refused",
		hostport_parse("smart host.example", host, sizeof host, &port) < 0);
	T_CHECK("hostport [] refused", hostport_parse("[]:25", host,
				sizeof host, &port) < 0);
	T_CHECK("hostport name too long for host refused",
		hostport_parse("[abcdefghij.example]:25", host, 8, &port) < 0);
}

static void test_dest(void)
{
	struct send_route a = { .host = "", .port = 0, .tls = "may" }, b = a;
	char da[400], db[400];
	send_route_dest(&a, "x.org", da, sizeof da);
	send_route_dest(&b, "y.org", db, sizeof db);
	T_CHECK("MX routes of two domains are two destinations",
		strcmp(da, db) != 0);
	send_route_dest(&b, "X.Org", db, sizeof db);
	T_CHECK("a domain in another case is the same destination",
		strcmp(da, db) == 0);
	/* an address literal: its tag and hex digits in any case, one key
	 * (RFC 5321 2.4), not only up to its first ':' */
	send_route_dest(&a, "[IPv6:2001:DB8::1]", da, sizeof da);
	send_route_dest(&b, "[ipv6:2001:db8::1]", db, sizeof db);
	T_CHECK("an IPv6 literal in another case is the same destination",
		strcmp(da, db) == 0);
	T_STREQ("an IPv6 literal's key is lowercase whole", da,
		"mx:[ipv6:2001:db8::1]:0/may//");
	/* a credential is a file name under secrets/: its case is its own */
	strcpy(a.auth, "Cred");
	strcpy(b.auth, "cred");
	send_route_dest(&a, "x.org", da, sizeof da);
	send_route_dest(&b, "x.org", db, sizeof db);
	T_CHECK("credentials differing in case are two destinations",
		strcmp(da, db) != 0);
	a.auth[0] = b.auth[0] = '\0';
	strcpy(a.host, "[IPv6:2001:DB8::2]");
	strcpy(b.host, "[ipv6:2001:db8::2]");
	send_route_dest(&a, "x.org", da, sizeof da);
	send_route_dest(&b, "x.org", db, sizeof db);
	T_CHECK("a relay host in another case is the same destination",
		strcmp(da, db) == 0);
	strcpy(a.host, "relay");
	strcpy(b.host, "relay");
	send_route_dest(&a, "x.org", da, sizeof da);
	send_route_dest(&b, "y.org", db, sizeof db);
	T_CHECK("one relay host is one destination", strcmp(da, db) == 0);
	b.tls_wrap = 1;
	send_route_dest(&b, "x.org", db, sizeof db);
	T_CHECK("implicit TLS to the same host:port is another destination",
		strcmp(da, db) != 0);
}

int main(void)
{
	test_routes();
	test_hostport();
	test_dest();
	return t_done();
}
